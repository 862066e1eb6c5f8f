"""Reading a version's rows in shuffle order, as columns: through SQLAlchemy on any database, and by
binary COPY into Arrow on PostgreSQL, where reading the rows took most of a build.

The portable path runs the query with ORDER BY the shuffle key and splits the rows into columns.
On PostgreSQL that made psycopg build a Python tuple of each row (~6.7 s of CPU per million) and
the server sort every wide row on disk before the first came out (~4 of its query's 5.7 s). The
fast path runs the unordered query through the ADBC PostgreSQL driver, which reads a binary COPY
into Arrow in C++ (the earlier CSV COPY still cost 2-3 us of Python per row, one libpq read
each), on a second connection inside this transaction's snapshot (`pg_export_snapshot`), in a
thread of its own, and puts the rows in shuffle order itself (`exports.shuffle`). A transaction
that has written rows takes the portable path: no other connection sees them. Task data stays
JSON text until a writer asks for it (`LazyJson`); a Parquet-only build cuts the exported fields
out of it in bulk (`exports.jsonfields`: asking PostgreSQL for `data->'field'` cost its server more
than the rest of the query) and keeps the text only of rows that need json.loads. Both paths give
the same chunks, row for row, so the same files.
"""
from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Float, Integer, Select
from sqlalchemy.engine import Connection

from exports.formats.parquet import text_value
from exports.jsonfields import string_fields
from exports.shuffle import shuffled
from exports.splits import shuffle_key
from readahead import read_ahead

CHUNK = 10_000  # rows per chunk, and so per ItemBatch
# Bytes of rows per batch the driver decodes (its default, 16 MiB, made batches of ~48,000 rows;
# with two read ahead and their copies, a build's memory peaked ~90 MB higher, for no gain in speed).
COPY_BATCH_BYTES = 4 * 2**20
REPEATED = ("label", "result", "method")  # columns of a few distinct texts


class LazyValues(Sequence):
    """A column's Python values, each passed through `convert` when given, made (all of them, once)
    when first read: a Parquet-only build never does."""

    def __init__(self, column: pa.ChunkedArray | pa.Array, convert: Callable[[Any], Any] | None = None) -> None:
        self.column, self.convert, self._values, self._lock = column, convert, None, threading.Lock()

    def _made(self) -> list[Any]:
        with self._lock:  # the writers run in threads, and each may be the first to read
            if self._values is None:
                values = _values(self.column if isinstance(self.column, pa.ChunkedArray) else pa.chunked_array([self.column]))
                self._values = values if self.convert is None else list(map(self.convert, values))
            return self._values

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, index):
        return self._made()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._made())


class LazyJson(LazyValues):
    """Rows' JSON texts, parsed when first read. Rows that came without their text (their fields
    cut out, see `_with_fields`) read as None."""

    def __init__(self, texts: pa.ChunkedArray | pa.Array) -> None:
        super().__init__(texts, lambda text: None if text is None else json.loads(text))


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


def read_rows(connection: Connection, query: Select, seed: int, spill: Path,
              fields: tuple[str, ...] | None = None) -> Iterator[RowChunk]:
    """The rows of `query` (its columns: id, data and result as JSON text, label, confidence,
    votes, method) in shuffle order; `spill` a folder for scratch files; `fields`: data fields
    wanted as text beside the data (only PostgreSQL's fast path reads them)."""
    tables = read_tables(connection, query, seed, spill, fields)
    if tables is not None:
        return (_chunk(table, fields) for table in tables)
    return _fetched(connection, query.order_by(shuffle_key(query.selected_columns.id, seed), query.selected_columns.id))


def read_tables(connection: Connection, query: Select, seed: int, spill: Path,
                fields: tuple[str, ...] | None = None) -> Iterator[pa.Table] | None:
    """`read_rows`'s chunks as Arrow tables (label, result and method dictionary-encoded; with
    `fields`, a `field_<i>` column of each field's text, see `_with_fields`), by the fast
    path; None where there is none: not PostgreSQL, or this transaction wrote rows (a second
    connection, even in its snapshot, does not see them)."""
    if connection.dialect.name != "postgresql" or connection.exec_driver_sql(
            "SELECT pg_current_xact_id_if_assigned()").scalar() is not None:
        return None
    return _shuffled_tables(connection, query, seed, spill, fields)


_NAMES = ("id", "data", "label", "result", "confidence", "votes", "method")


def _fetched(connection: Connection, query: Select) -> Iterator[RowChunk]:
    # Plain tuples from the connection: ORM rows cost more than the rest of reading an item.
    rows = connection.execute(query, execution_options={"yield_per": CHUNK})
    get = [itemgetter(query.selected_columns.keys().index(name)) for name in _NAMES]
    for chunk in rows.partitions(CHUNK):
        # A column at a time, which costs a third of zip(*rows) over Rows.
        ids, data, labels, results, confidences, votes, methods = (list(map(column, chunk)) for column in get)
        yield RowChunk(ids, list(map(json.loads, data)), labels, results, confidences, votes, methods)


def _shuffled_tables(connection: Connection, query: Select, seed: int, spill: Path,
                     fields: tuple[str, ...] | None) -> Iterator[pa.Table]:
    with tempfile.TemporaryDirectory(prefix=".rows-", dir=spill) as folder:
        yield from shuffled(_copy(connection, query, fields), seed, Path(folder), CHUNK)


def _with_fields(table: pa.Table, fields: tuple[str, ...]) -> pa.Table:
    """`table` with a `field_<i>` column of each field's text where its data is a flat object
    (`exports.jsonfields`), and the data's text kept only where it is not (`field_texts` reads
    those rows with json.loads): the rows carry little more than their fields through the shuffle."""
    data = table.column("data").combine_chunks()
    values, flat = string_fields(data, fields)
    table = table.set_column(table.schema.get_field_index("data"), "data",
                             data.take(pa.array(np.arange(len(data)), mask=flat)))
    for index, value in enumerate(values):
        table = table.append_column(f"field_{index}", value)
    return table


def _chunk(table: pa.Table, fields: tuple[str, ...] | None) -> RowChunk:
    data = LazyJson(table.column("data"))
    id_, label, result, confidence, votes, method = (
        _values(table.column(name)) for name in ("id", "label", "result", "confidence", "votes", "method"))
    return RowChunk(id_, data, label, result, confidence, votes, method, field_texts(table, fields, data))


def field_texts(table: pa.Table, fields: tuple[str, ...] | None, data: LazyJson) -> dict[str, pa.Array] | None:
    """The data fields of a `read_tables` chunk as ItemBatch.fields holds them; `data` its data column."""
    return None if not fields else {
        name: _field_texts(table.column(f"field_{index}"), data, name) for index, name in enumerate(fields)}


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
    """A data field as ItemBatch.fields holds it: the text cut out of flat data (left in Arrow,
    where Parquet wants it), and in the rows that kept their data, its value read by json.loads."""
    texts = values.combine_chunks()
    whole = data.column.combine_chunks() if isinstance(data.column, pa.ChunkedArray) else data.column
    if whole.null_count == len(whole):
        return texts
    kept = whole.is_valid()
    found = [text_value(json.loads(text).get(name)) for text in whole.filter(kept).to_pylist()]
    return pc.replace_with_mask(texts, kept, pa.array(found, pa.string()))


def _copy(connection: Connection, query: Select, fields: tuple[str, ...] | None) -> Iterator[pa.Table]:
    """The rows of `query`, unordered, as Arrow tables of the types `_arrow_type` gives (with
    `fields`, see `_with_fields`), read by the ADBC PostgreSQL driver (binary COPY decoded in C++,
    no Python per row) on a connection of its own inside this transaction's snapshot. The driver
    decodes batches in one thread and another types them (and cuts their fields) while the caller
    shuffles the last (the driver, Arrow and numpy let go of the GIL): the server, the driver and
    the caller overlap. With one thread for both, the driver waited on the typing."""
    from adbc_driver_postgresql import dbapi as adbc  # imported on first use: only builds need it

    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    # The parameters merged as psycopg merges them into any statement (a str enum as its value).
    statement = psycopg.ClientCursor(connection.connection.driver_connection).mogrify(str(compiled), compiled.params)
    snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
    url = connection.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    types = {column.name: _arrow_type(column.name, column.type) for column in query.selected_columns}
    with adbc.connect(url, autocommit=True) as reader, reader.cursor() as cursor:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(COPY_BATCH_BYTES)})
        cursor.execute(statement)
        batches = read_ahead(cursor.fetch_record_batch(), depth=1, name="export-copy")
        yield from read_ahead(_typed_tables(batches, types, fields), depth=2, name="export-read-ahead")
        cursor.execute("COMMIT")


def _typed_tables(batches: Generator[pa.RecordBatch, None, None], types: dict[str, pa.DataType],
                  fields: tuple[str, ...] | None) -> Iterator[pa.Table]:
    """Each batch as a table of `types` (see `_with_fields` for `fields`); closing this closes `batches`."""
    with closing(batches):
        for batch in batches:
            table = pa.table([_typed(column, types[name]) for name, column in zip(batch.schema.names, batch.columns)],
                             names=batch.schema.names)
            yield _with_fields(table, fields) if fields else table


def _typed(column: pa.Array, kind: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(kind):
        return column.dictionary_encode()
    return column if column.type == kind else column.cast(kind)


def _arrow_type(name: str, kind: Any) -> pa.DataType:
    if name in REPEATED:  # a few distinct values: kept as codes, they cost little to put in order
        return pa.dictionary(pa.int32(), pa.string())
    if isinstance(kind, Integer):
        return pa.int64()
    if isinstance(kind, Float):
        return pa.float64()
    return pa.bool_() if kind.python_type is bool else pa.string()
