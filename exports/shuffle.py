"""The seeded shuffle order applied outside the database: a bucket sort of Arrow tables through spill files.

ORDER BY the shuffle key made PostgreSQL sort every wide row of a version (on disk, past work_mem)
before the first came out: ~4 of the 5.7 s its query took for 1,000,000 items. Here the rows come
in any order; each goes to one of 2**FANOUT_BITS buckets by its key's high bits
(`exports.splits.shuffle_keys`), kept in that bucket's Arrow IPC file in a scratch folder; then
the buckets are read back in key order, one at a time, each sorted in memory. A bucket holding
more than BUCKET_ROWS rows is bucketed again by the key's next bits before it is sorted, so no
count of the rows is needed beforehand (counting had cost PostgreSQL a second per million rows,
before the first row came). The result is exactly ORDER BY shuffle key, id, while memory holds
two buckets of at most BUCKET_ROWS rows (the next is read and sorted in a thread of its own while
the caller works on the last: the database is done by then, so a core would idle) and at most
PENDING_ROWS rows on their way to the files, whatever the number of rows.

Each row is put in bucket order by one `take` on its way to the files, and in key order by
another as its bucket is read. Every record batch written costs about
0.1 ms whatever its rows, so there are few buckets: with 256, the writes took about 0.4 s per
million rows; 64 make a quarter as many, and one level still holds 16 million rows.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from exports.splits import shuffle_keys
from readahead import read_ahead

FANOUT_BITS = 6  # 64 buckets per level: a million rows make buckets of about 16,000
BUCKET_ROWS = 262_144  # rows a bucket may hold and still be sorted in memory
PENDING_ROWS = 32_768  # rows routed but not yet written, over all buckets
KEY_BITS = 32  # shuffle keys are below 2**32


def shuffled(tables: Iterable[pa.Table], seed: int, folder: Path, chunk: int) -> Iterator[pa.Table]:
    """The rows of `tables` (each with an integer `id` column) ordered by (shuffle key, id), as
    tables of `chunk` rows (the last may be short). Spill files go in `folder`, which must exist,
    and are removed as they are read."""
    buckets = _Buckets(folder, seed, KEY_BITS)
    try:
        for table in tables:
            buckets.route(table)
        yield from _in_chunks(read_ahead(buckets.ordered(), depth=1, name="export-bucket-sort"), chunk)
    finally:
        buckets.close()


def _in_chunks(tables: Iterable[pa.Table], chunk: int) -> Iterator[pa.Table]:
    """The rows of `tables`, in order, as tables of `chunk` rows (the last may be short): where
    the chunks cut does not depend on the buckets."""
    carried = None  # the rows after the last whole chunk so far
    for ordered in tables:
        if carried is not None:
            ordered = pa.concat_tables([carried, ordered])
        whole = ordered.num_rows - ordered.num_rows % chunk
        for start in range(0, whole, chunk):
            yield ordered.slice(start, chunk)
        carried = ordered.slice(whole) if whole < ordered.num_rows else None
    if carried is not None:
        yield carried


class _Buckets:
    """Spill files, one per bucket of the key bits just above `low_bit`, fed routed rows and read
    back one at a time in key order."""

    def __init__(self, folder: Path, seed: int, high_bit: int) -> None:
        self.folder, self.seed = folder, seed
        self.bits = min(FANOUT_BITS, high_bit)
        self.low_bit = high_bit - self.bits  # keys agree above high_bit: these bits pick the bucket
        self.pending: list[pa.Table] = []  # routed tables not yet written, and their rows' buckets
        self.pending_buckets: list[np.ndarray] = []
        self.pending_rows = 0
        self.rows = np.zeros(1 << self.bits, np.int64)  # rows routed to each bucket
        self.writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self.files: set[int] = set()  # buckets whose files are written and closed

    def route(self, table: pa.Table) -> None:
        """Put each row of `table` on its way to its bucket's file."""
        if not table.num_rows:
            return
        keys = shuffle_keys(table.column("id").to_numpy(), self.seed)
        buckets = ((keys >> np.uint64(self.low_bit)) & np.uint64((1 << self.bits) - 1)).astype(np.uint16)
        self.pending.append(table)
        self.pending_buckets.append(buckets)
        self.rows += np.bincount(buckets, minlength=1 << self.bits)
        self.pending_rows += table.num_rows
        if self.pending_rows >= PENDING_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write every bucket's pending rows to its file, one record batch each: the pending rows
        put in bucket order by one `take`."""
        if not self.pending:
            return
        buckets = np.concatenate(self.pending_buckets)
        order = np.argsort(buckets, kind="stable")  # a radix sort of small integers
        # Arrow's take of several chunks joins them first: joined here, so the pending tables go
        # before the taken copy is made (memory holds two copies of the pending rows, not three).
        joined = pa.concat_tables(self.pending).combine_chunks()
        self.pending, self.pending_buckets, self.pending_rows = [], [], 0
        ordered = joined.take(order)
        del joined
        bounds = np.searchsorted(buckets[order], np.arange((1 << self.bits) + 1))
        for bucket in np.flatnonzero(np.diff(bounds)).tolist():
            start, stop = int(bounds[bucket]), int(bounds[bucket + 1])
            part = ordered.slice(start, stop - start)
            writer = self.writers.get(bucket)
            if writer is None:
                writer = self.writers[bucket] = pa.ipc.new_stream(str(self._path(bucket)), part.schema)
            writer.write_table(part)

    def ordered(self) -> Iterator[pa.Table]:
        """Every row in (shuffle key, id) order: each bucket's rows as a table (or several, from
        its own buckets when it is too big to sort at once), bucket after bucket."""
        self.flush()
        self.close_writers()
        for bucket in sorted(self.files):
            if self.rows[bucket] > BUCKET_ROWS and self.low_bit:
                yield from self._split(bucket)
            else:
                yield self._read_sorted(bucket)

    def _split(self, bucket: int) -> Iterator[pa.Table]:
        """A bucket too big to sort at once, bucketed again by the next bits of its keys."""
        folder = self.folder / f"bucket-{self.low_bit:02d}-{bucket:06d}"
        folder.mkdir()
        inner = _Buckets(folder, self.seed, self.low_bit)
        try:
            with pa.memory_map(str(self._path(bucket))) as source:
                for part in pa.ipc.open_stream(source):
                    inner.route(pa.Table.from_batches([part]))
            self._path(bucket).unlink()
            yield from inner.ordered()
        finally:
            inner.close()
            folder.rmdir()

    def _read_sorted(self, bucket: int) -> pa.Table:
        """A bucket's rows in (shuffle key, id) order; its file is removed."""
        path = self._path(bucket)
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
            ids = table.column("id").to_numpy()
            ordered = table.take(np.argsort(_sort_keys(ids, self.seed)))
            del table, ids  # the mapped file's pages go with the map: only the sorted copy stays
        path.unlink()
        return ordered

    def close_writers(self) -> None:
        while self.writers:
            bucket, writer = self.writers.popitem()
            writer.close()
            self.files.add(bucket)

    def close(self) -> None:
        """Close and remove every spill file (those read are gone already)."""
        self.close_writers()
        for bucket in self.files:
            self._path(bucket).unlink(missing_ok=True)

    def _path(self, bucket: int) -> Path:
        return self.folder / f"bucket-{self.low_bit:02d}-{bucket:06d}.arrow"


def _sort_keys(ids: np.ndarray, seed: int) -> np.ndarray:
    """One uint64 per row that orders as (shuffle key, id) does: the key in the high 32 bits, the
    id in the low ones (ids are below 2**32, as for `shuffle_keys`); one argsort instead of a lexsort."""
    return (shuffle_keys(ids, seed) << np.uint64(KEY_BITS)) | ids.astype(np.uint64)
