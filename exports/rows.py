"""Reading a version's rows in shuffle order, as columns: through SQLAlchemy on any database, and by
COPY on PostgreSQL, where reading the rows took most of a build.

The portable path runs the query with ORDER BY the shuffle key and splits the rows into columns.
On PostgreSQL that made psycopg build a Python tuple of each row (~6.7 s of CPU per million) and
the server sort every wide row on disk before the first came out (~4 of its query's 5.7 s). The
fast path copies the unordered query out as CSV (`COPY ... TO STDOUT`, read with libpq's calls:
one whole row per read), parses blocks of rows in C with pyarrow, and puts them in shuffle order
itself (`exports.shuffle`). Task data stays JSON text until a writer asks for it (`LazyJson`); a
Parquet-only build instead reads the exported fields out of PostgreSQL as JSON values and unquotes
their strings in bulk. Both paths give the same chunks, row for row, so the same files. A 1M-item
Parquet build (bench/export_bench.py, medians of 3 in two before/after pairs): 15.6 -> 9.0 and
16.7 -> 12.3 s of the build's CPU, 3.8 -> 2.5 and 4.0 -> 3.8 s of PostgreSQL's.
"""
from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from select import select as wait_readable_any
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import pq
from pyarrow import csv
from sqlalchemy import Float, Integer, Select, Text, case, cast, func, select
from sqlalchemy.engine import Connection

from exports.formats.outputs import compact_json
from exports.shuffle import shuffled
from exports.splits import shuffle_key

CHUNK = 10_000  # rows per chunk, and so per ItemBatch
BLOCK_BYTES = 4 << 20  # CSV bytes parsed at a time
REPEATED = ("label", "result", "method")  # columns of a few distinct texts


class LazyJson(Sequence):
    """Rows' JSON texts, parsed (all of them, once) when first read: a Parquet-only build never
    does. Rows that came without their text (see `_with_fields`) read as None."""

    def __init__(self, texts: pa.ChunkedArray | pa.Array) -> None:
        self.texts, self._values, self._lock = texts, None, threading.Lock()

    def _parsed(self) -> list[Any]:
        with self._lock:  # the writers run in threads, and each may be the first to read
            if self._values is None:
                self._values = [None if text is None else json.loads(text) for text in self.texts.to_pylist()]
            return self._values

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index):
        return self._parsed()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._parsed())


@dataclass(frozen=True)
class RowChunk:
    """Consecutive rows of a version in shuffle order, as columns."""
    ids: list[int]
    data: Sequence[dict[str, Any]]
    labels: list[str | None]
    results: list[str | None]  # the consensus results as JSON text
    confidences: list[float]
    votes: list[int]
    methods: list[str]
    fields: dict[str, pa.Array] | None = None  # see ItemBatch.fields


def read_rows(connection: Connection, query: Select, data: Any, seed: int, spill: Path,
              fields: tuple[str, ...] | None = None) -> Iterator[RowChunk]:
    """The rows of `query` (its columns: id, data and result as JSON text, label, confidence,
    votes, method) in shuffle order; `data` is the task data's JSON column, `spill` a folder for
    scratch files; `fields`: data fields wanted as text beside the data (only PostgreSQL reads them)."""
    if connection.dialect.name == "postgresql":
        return _copied(connection, query, data, seed, spill, fields)
    return _fetched(connection, query.order_by(shuffle_key(query.selected_columns.id, seed), query.selected_columns.id))


_NAMES = ("id", "data", "label", "result", "confidence", "votes", "method")


def _fetched(connection: Connection, query: Select) -> Iterator[RowChunk]:
    # Plain tuples from the connection: ORM rows cost more than the rest of reading an item.
    rows = connection.execute(query, execution_options={"yield_per": CHUNK})
    get = [itemgetter(query.selected_columns.keys().index(name)) for name in _NAMES]
    for chunk in rows.partitions(CHUNK):
        # A column at a time, which costs a third of zip(*rows) over Rows.
        ids, data, labels, results, confidences, votes, methods = (list(map(column, chunk)) for column in get)
        yield RowChunk(ids, list(map(json.loads, data)), labels, results, confidences, votes, methods)


def _copied(connection: Connection, query: Select, data: Any, seed: int, spill: Path,
            fields: tuple[str, ...] | None) -> Iterator[RowChunk]:
    count = connection.scalar(select(func.count()).select_from(query.subquery()))  # sizes the buckets
    if fields:
        query = _with_fields(query, data, fields)
    with tempfile.TemporaryDirectory(prefix=".rows-", dir=spill) as folder:
        for table in shuffled(_copy(connection, query), count, seed, Path(folder), CHUNK):
            yield _chunk(table, fields)


def _with_fields(query: Select, data: Any, fields: tuple[str, ...]) -> Select:
    """`query` reading each data field as its JSON value (`data->'field'`) instead of the whole data.
    Only data holding \\u0000 (json keeps it, but PostgreSQL cannot read such a value as text)
    still comes whole, and its rows take their fields from it."""
    readable = func.strpos(cast(data, Text), "\\u0000") == 0
    columns = [case((~readable, column)).label("data") if column.name == "data" else column
               for column in query.selected_columns]
    return query.with_only_columns(*columns, *(case((readable, cast(data[name], Text))).label(f"field_{index}")
                                               for index, name in enumerate(fields)))


def _chunk(table: pa.Table, fields: tuple[str, ...] | None) -> RowChunk:
    data = LazyJson(table.column("data"))
    found = None if not fields else {
        name: _field_texts(table.column(f"field_{index}"), data, name) for index, name in enumerate(fields)}
    id_, label, result, confidence, votes, method = (
        _values(table.column(name)) for name in ("id", "label", "result", "confidence", "votes", "method"))
    return RowChunk(id_, data, label, result, confidence, votes, method, found)


def _values(column: pa.ChunkedArray) -> list[Any]:
    """The column as Python values; a dictionary column's repeated values shared, each made once."""
    if not pa.types.is_dictionary(column.type):
        return column.to_pylist()
    found: list[Any] = []
    for chunk in column.chunks:
        words = [*chunk.dictionary.to_pylist(), None]  # a null index reads the None at the end
        found += map(words.__getitem__, chunk.indices.fill_null(len(words) - 1).to_pylist())
    return found


def _field_texts(values: pa.ChunkedArray, data: LazyJson, name: str) -> pa.Array:
    """A data field as ItemBatch.fields holds it, from its JSON values: strings without escapes
    unquoted in bulk (and left in Arrow, where Parquet wants them); other values, and the rows
    that came with their whole data, one at a time."""
    simple = pc.fill_null(pc.and_(pc.starts_with(values, '"'), pc.invert(pc.match_substring(values, "\\"))), False)
    texts = pc.if_else(simple, pc.utf8_slice_codeunits(values, 1, -1), None).combine_chunks()
    rest = pc.indices_nonzero(pc.invert(simple)).to_pylist()
    if not rest:
        return texts
    jsons, whole, found = values.take(rest).to_pylist(), data.texts.take(rest).to_pylist(), []
    for json_value, text in zip(jsons, whole, strict=True):
        value = (json.loads(json_value) if json_value is not None
                 else json.loads(text).get(name) if text is not None else None)  # else: no such field
        found.append(value if value is None or isinstance(value, str) else compact_json(value))
    return pc.replace_with_mask(texts, pc.invert(simple).combine_chunks(), pa.array(found, pa.string()))


def _copy(connection: Connection, query: Select) -> Iterator[pa.Table]:
    """The rows of `query`, unordered, as Arrow tables of about BLOCK_BYTES of CSV each."""
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    dbapi = connection.connection.driver_connection
    # The parameters merged as psycopg merges them into any COPY (a str enum as its value).
    statement = psycopg.ClientCursor(dbapi).mogrify(f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params)
    options = {"read_options": csv.ReadOptions(column_names=[column.name for column in query.selected_columns]),
               "parse_options": csv.ParseOptions(newlines_in_values=True),
               # Only an unquoted empty field is NULL (as COPY writes it): "NA" or "null" is a label.
               "convert_options": csv.ConvertOptions(
                   column_types={column.name: _arrow_type(column.name, column.type) for column in query.selected_columns},
                   null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
                   true_values=["t"], false_values=["f"])}
    for block in copy_out(dbapi, statement):
        yield csv.read_csv(pa.py_buffer(block), **options)


def copy_out(dbapi: psycopg.Connection, statement: str) -> Iterator[bytes]:
    """What a `COPY ... TO STDOUT` sends, in blocks of whole rows of about BLOCK_BYTES, read with
    libpq's calls directly: psycopg's Copy.read cost ~5 us per row (a generator and a wait each),
    more than everything else the build does with it. Stopped early, the COPY is cancelled."""
    pgconn, finished = dbapi.pgconn, False
    with dbapi.lock:
        pgconn.send_query(statement.encode(dbapi.info.encoding))
        _raise_unless(pgconn.get_result(), pq.ExecStatus.COPY_OUT, dbapi)
        try:
            block, size, read = [], 0, pgconn.get_copy_data  # a million calls: no lookups in the loop
            keep = block.append
            while True:
                nbytes, row = read(1)
                if nbytes > 0:
                    keep(row)  # one whole row
                    size += nbytes
                    if size >= BLOCK_BYTES:
                        yield b"".join(block)
                        block.clear()
                        size = 0
                elif nbytes == 0:  # nothing yet: wait for the server without holding the GIL
                    wait_readable_any([pgconn.socket], [], [])
                    pgconn.consume_input()
                else:  # -1 at the end, -2 on failure (the results say which)
                    break
            if block:
                yield b"".join(block)
            finished = True
        finally:
            if not finished:
                pgconn.get_cancel().cancel()
                while pgconn.get_copy_data(0)[0] >= 0:
                    pass
            results = list(iter(pgconn.get_result, None))
        for result in results:
            _raise_unless(result, pq.ExecStatus.COMMAND_OK, dbapi)


def _raise_unless(result: pq.abc.PGresult | None, status: pq.ExecStatus, dbapi: psycopg.Connection) -> None:
    if result is None or result.status != status:
        if result is not None and result.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding=dbapi.info.encoding)
        raise psycopg.OperationalError(f"COPY: expected {status.name}, got "
                                       f"{result.status.name if result else 'nothing'}: {dbapi.pgconn.error_message!r}")


def _arrow_type(name: str, kind: Any) -> pa.DataType:
    if name in REPEATED:  # a few distinct values: kept as codes, they cost little to put in order
        return pa.dictionary(pa.int32(), pa.string())
    if isinstance(kind, Integer):
        return pa.int64()
    if isinstance(kind, Float):
        return pa.float64()
    return pa.bool_() if kind.python_type is bool else pa.string()
