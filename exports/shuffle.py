"""The seeded shuffle order applied outside the database: a bucket sort of Arrow tables through spill files.

ORDER BY the shuffle key made PostgreSQL sort every wide row of a version (on disk, past work_mem)
before the first came out: ~4 of the 5.7 s its query took for 1,000,000 items. Here the rows come
in any order; each goes to the bucket of its key's high bits (`exports.splits.shuffle_keys`), kept
in that bucket's Arrow IPC file in a scratch folder; then the buckets are read back in key order,
one at a time, each sorted in memory. The result is exactly ORDER BY shuffle key, id, while memory
holds one bucket (about BUCKET_ROWS rows) and at most PENDING_ROWS rows on their way to the files,
whatever the number of rows.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from exports.splits import shuffle_keys

BUCKET_ROWS = 32_768  # rows per bucket on average (the keys of sequential ids spread evenly)
PENDING_ROWS = 65_536  # rows routed but not yet written, over all buckets
KEY_BITS = 32  # shuffle keys are below 2**32


def bucket_bits(count: int) -> int:
    """log2 of the number of buckets for about `count` rows (a power of two: a key's high bits pick one)."""
    return max(0, math.ceil(math.log2(max(count, 1) / BUCKET_ROWS)))


def shuffled(tables: Iterable[pa.Table], count: int, seed: int, folder: Path, chunk: int) -> Iterator[pa.Table]:
    """The rows of `tables` (each with an integer `id` column) ordered by (shuffle key, id), as
    tables of `chunk` rows (the last may be short); `count` is about how many rows there are (it sizes the buckets,
    not the result). Spill files go in `folder`, which must exist, and are removed as they are read."""
    buckets = _Buckets(folder, bucket_bits(count), seed)
    try:
        for table in tables:
            buckets.route(table)
        yield from buckets.sorted(chunk)
    finally:
        buckets.close()


class _Buckets:
    """Spill files, one per bucket, fed routed rows and read back one at a time in key order."""

    def __init__(self, folder: Path, bits: int, seed: int) -> None:
        self.folder, self.bits, self.seed = folder, bits, seed
        self.pending: dict[int, list[pa.Table]] = {}
        self.pending_rows = 0
        self.writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self.files: set[int] = set()  # buckets whose files are written and closed

    def route(self, table: pa.Table) -> None:
        """Put each row of `table` on its way to its bucket's file."""
        if not table.num_rows:
            return
        keys = shuffle_keys(table.column("id").to_numpy(), self.seed)
        buckets = (keys >> np.uint64(KEY_BITS - self.bits)).astype(np.int64)
        order = np.argsort(buckets, kind="stable")
        ordered, bounds = table.take(order), np.searchsorted(buckets[order], np.arange((1 << self.bits) + 1))
        for bucket in np.flatnonzero(np.diff(bounds)).tolist():
            start, stop = int(bounds[bucket]), int(bounds[bucket + 1])
            self.pending.setdefault(bucket, []).append(ordered.slice(start, stop - start))
        self.pending_rows += table.num_rows
        if self.pending_rows >= PENDING_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write every bucket's pending rows to its file, one record batch each."""
        for bucket, parts in self.pending.items():
            combined = pa.concat_tables(parts).combine_chunks()
            writer = self.writers.get(bucket)
            if writer is None:
                writer = self.writers[bucket] = pa.ipc.new_stream(str(self._path(bucket)), combined.schema)
            writer.write_table(combined)
        self.pending, self.pending_rows = {}, 0

    def sorted(self, chunk: int) -> Iterator[pa.Table]:
        """Each bucket's rows in (shuffle key, id) order, bucket after bucket, in tables of `chunk`
        rows (the last may be short): where the chunks cut does not depend on the buckets."""
        self.flush()
        self.close_writers()
        carried = None  # the rows after the last whole chunk so far
        for bucket in sorted(self.files):
            ordered = self._read_sorted(bucket)
            if carried is not None:
                ordered = pa.concat_tables([carried, ordered])
            whole = ordered.num_rows - ordered.num_rows % chunk
            for start in range(0, whole, chunk):
                yield ordered.slice(start, chunk)
            carried = ordered.slice(whole) if whole < ordered.num_rows else None
        if carried is not None:
            yield carried

    def _read_sorted(self, bucket: int) -> pa.Table:
        """A bucket's rows in (shuffle key, id) order; its file is removed."""
        path = self._path(bucket)
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
            ids = table.column("id").to_numpy()
            ordered = table.take(np.lexsort((ids, shuffle_keys(ids, self.seed))))
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
        return self.folder / f"bucket-{bucket:06d}.arrow"
