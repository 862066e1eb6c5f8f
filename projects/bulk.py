"""Fast bulk insert of new tasks, inside the caller's transaction, and the probe for content
a job already holds.

An import writes hundreds of thousands of rows; the ORM's per-row bookkeeping would cost more
than parsing the file. PostgreSQL gets COPY, SQLite a plain executemany, both on the session's
own connection so the rows commit or roll back with everything else. The COPY data is made here
in COPY's binary format, a buffer of many rows at a time (the run of values that repeats from
row to row, e.g. job, batch, upload, timestamp, encoded once), and written whole: psycopg's
per-row `write_row` cost about twice as much Python time, in the thread that also feeds the
server.

A row whose content the job already holds raises `KnownContent` (the unique index noticed it):
the caller rolls back and probes with `known_hashes`, which costs about as much as the insert
itself, so an import only probes once it has met known content.
"""
from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import psycopg.errors
from sqlalchemy import text
from sqlalchemy.orm import Session

from projects.intake import HASH_BYTES

UNIQUE_CONTENT = "uq_task_project_id_content_hash"  # the unique (project_id, content_hash) index
COLUMNS = ("project_id", "batch_id", "upload_id", "data", "content_hash", "is_gold", "gold_answer",
           "source_line", "annotation_count", "slots_taken", "is_open", "created_at")
# The order COPY receives them in: first those whose values repeat from row to row (encoded once
# per run, see _copy_buffers), then those that change with every row.
_COPY_COLUMNS = ("project_id", "batch_id", "upload_id", "is_gold", "gold_answer", "annotation_count",
                 "slots_taken", "is_open", "created_at", "data", "content_hash", "source_line")
COPY_BUFFER = 1 << 20  # bytes of rows per write to the server
# COPY's binary format (PostgreSQL docs, "Binary Format"): a signature, then per row the number of
# fields (int16) and each field as its length (int32; -1 for NULL) and bytes; then -1 (int16).
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_FIELDS = struct.pack(">h", len(COLUMNS))
_TRUE, _FALSE = b"\x00\x00\x00\x01\x01", b"\x00\x00\x00\x01\x00"  # bool: one byte
_length = struct.Struct(">i").pack
_int4 = struct.Struct(">ii").pack  # length 4, then the integer
_int8 = struct.Struct(">iq").pack
_POSTGRES_EPOCH = datetime(2000, 1, 1)  # timestamp: int64 microseconds since


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class KnownContent(Exception):
    """A row's (project_id, content_hash) is already in the task table; the transaction is
    unusable until rolled back."""


def timestamp(session: Session, moment: datetime) -> datetime | str:
    """`moment` as `insert_tasks` takes a DateTime value on this session's database."""
    return moment if session.get_bind().dialect.name == "postgresql" else str(moment)


def insert_tasks(session: Session, values: Iterable[tuple[Any, ...]]) -> None:
    """Insert task rows: tuples in COLUMNS' order, `data` and `gold_answer` already JSON text,
    `created_at` as `timestamp` gives it. Rows are sent as `values` yields them, so the
    database works while the caller makes the next ones. Raises KnownContent for a row whose
    content the job holds (then roll back)."""
    connection = session.connection()
    dbapi = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        try:  # binary: the server has no text to parse (a third less of its time per row)
            with dbapi.cursor() as cursor, cursor.copy(
                    f"COPY task ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                for buffer in _copy_buffers(values):
                    copy.write(buffer)
        except psycopg.errors.UniqueViolation as err:
            if err.diag.constraint_name != UNIQUE_CONTENT:
                raise
            raise KnownContent() from err
    else:
        marks = ", ".join("?" for _ in COLUMNS)
        cursor = dbapi.cursor()
        try:
            cursor.executemany(f"INSERT INTO task ({', '.join(COLUMNS)}) VALUES ({marks})", values)
        except sqlite3.IntegrityError as err:
            if str(err) != "UNIQUE constraint failed: task.project_id, task.content_hash":
                raise
            raise KnownContent() from err
        finally:
            cursor.close()


def _copy_buffers(values: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """Rows in COLUMNS' order as COPY's binary format for _COPY_COLUMNS, in buffers of about
    COPY_BUFFER bytes: signature, rows, trailer."""
    runs: dict[tuple[Any, ...], bytes] = {}  # the repeating columns' values -> their fields, encoded
    parts, size = [_SIGNATURE], 0
    for project_id, batch_id, upload_id, data, digest, gold, answer, line, annotated, slots, is_open, \
            created in values:
        run = (project_id, batch_id, upload_id, gold, answer, annotated, slots, is_open, created)
        fields = runs.get(run)
        if fields is None:
            fields = runs[run] = b"".join((
                _FIELDS, _int4(4, project_id), _integer(batch_id), _integer(upload_id), _TRUE if gold else _FALSE,
                _text(answer), _int4(4, annotated), _int4(4, slots), _TRUE if is_open else _FALSE,
                _timestamp(created)))
        data = data.encode()
        parts += (fields, _length(len(data)), data, _length(len(digest)), digest, _integer(line))
        size += len(data) + len(fields) + 32
        if size >= COPY_BUFFER:
            yield b"".join(parts)
            parts, size = [], 0
            runs.clear()  # gold answers make runs of one row: keep them from piling up
    parts.append(_TRAILER)
    yield b"".join(parts)


def _integer(value: int | None) -> bytes:
    return _NULL if value is None else _int4(4, value)


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    encoded = value.encode()
    return _length(len(encoded)) + encoded


def _timestamp(moment: datetime) -> bytes:
    since = moment - _POSTGRES_EPOCH
    return _int8(8, (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds)


def known_hashes(session: Session, project_id: int, hashes: list[bytes]) -> set[bytes]:
    """Which of `hashes` (each HASH_BYTES long) the job already has, passed as ONE parameter: an
    array on PostgreSQL, one blob of them all on SQLite, cut apart by a recursive CTE (a
    10,000-item IN list costs more to build and plan than to answer).

    On PostgreSQL each hash is looked up in the unique (project_id, content_hash) index through a
    LATERAL ... LIMIT 1, which the planner cannot turn into a scan of all the job's tasks: during
    a large import the statistics lag behind the table, and `content_hash = ANY(...)` was planned
    as exactly that scan, once per chunk (quadratic in the file's size). SQLite probes the index
    once per value of the IN list."""
    if not hashes:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text(
            "SELECT h.hash FROM unnest(CAST(:hashes AS bytea[])) AS h(hash) CROSS JOIN LATERAL "
            "(SELECT 1 FROM task WHERE task.project_id = :project AND task.content_hash = h.hash LIMIT 1) AS hit"),
            {"project": project_id, "hashes": hashes})
    else:
        rows = session.execute(text(
            "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < :count) "
            "SELECT content_hash FROM task WHERE project_id = :project AND content_hash IN "
            "(SELECT substr(:hashes, i * :size + 1, :size) FROM k)"),
            {"project": project_id, "hashes": b"".join(hashes), "count": len(hashes), "size": HASH_BYTES})
    return {bytes(row[0]) for row in rows}
