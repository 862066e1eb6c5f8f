"""Fast bulk insert of new tasks, inside the caller's transaction, and the probe for content
a job already holds.

An import writes hundreds of thousands of rows; the ORM's per-row bookkeeping would cost more
than parsing the file. PostgreSQL gets COPY, SQLite a plain executemany, both on the session's
own connection so the rows commit or roll back with everything else. The COPY data is made here
in COPY's binary format, a buffer of many rows at a time, and written whole: psycopg's per-row
`write_row` cost about twice as much Python time. A row is two parts: its head, the values that
repeat from row to row (job, batch, upload, timestamp...), encoded once per run of rows, and its
tail (data, content hash, line), which `copy_tail` encodes where the file is parsed, so that the
thread feeding the server only joins bytes (`insert_runs`): an import's server works while
Python parses, and it idled whenever that thread waited for the parser to let go of the GIL.

A row whose content the job already holds raises `KnownContent` (the unique index noticed it):
the caller rolls back and probes with `known_hashes`, which costs about as much as the insert
itself, so an import only probes once it has met known content.
"""
from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from projects.intake import HASH_BYTES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
# psycopg and SQLAlchemy are imported where used: the process that parses a large upload takes
# copy_tail from here (projects.chunks) and should not pay for them (~1 s of its start).

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
HEAD_COLUMNS = _COPY_COLUMNS[:9]  # a row's head: what `insert_runs` takes once per run
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
    if connection.dialect.name == "postgresql":
        insert_runs(session, _runs(values))
    else:
        dbapi = connection.connection.driver_connection
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


def copy_tails(dialect: str) -> Callable[[str, bytes, int], bytes] | None:
    """`copy_tail` where `insert_runs` takes rows on this database (PostgreSQL), else None."""
    return copy_tail if dialect == "postgresql" else None


def copy_tail(data: str, digest: bytes, line: int) -> bytes:
    """A task row's tail, the values that change with every row: `data` (JSON text), the content
    hash (HASH_BYTES long) and the source line, in COPY's binary format."""
    encoded = data.encode()
    return b"".join((_length(len(encoded)), encoded, _length(len(digest)), digest, _integer(line)))


def insert_runs(session: Session, runs: Iterable[tuple[tuple[Any, ...], Sequence[bytes]]]) -> None:
    """PostgreSQL: insert task rows given as runs, each the values of HEAD_COLUMNS that its rows
    share (`gold_answer` as JSON text, `created_at` as `timestamp` gives it) and the rows'
    tails (`copy_tail`). Sent in buffers of about COPY_BUFFER bytes as the runs come. Raises
    KnownContent for a row whose content the job holds (then roll back)."""
    from psycopg.errors import UniqueViolation

    dbapi = session.connection().connection.driver_connection
    heads: dict[tuple[Any, ...], bytes] = {}
    try:  # binary: the server has no text to parse (a third less of its time per row)
        with dbapi.cursor() as cursor, cursor.copy(
                f"COPY task ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            parts, size = [_SIGNATURE], 0
            for values, tails in runs:
                if not tails:
                    continue
                head = heads.get(values)
                if head is None:
                    if len(heads) > 4096:  # gold answers make runs of one row: keep them from piling up
                        heads.clear()
                    head = heads[values] = _head(*values)
                parts += (head, head.join(tails))  # the head before every tail
                size += len(parts[-1]) + len(head)
                if size >= COPY_BUFFER:
                    copy.write(b"".join(parts))
                    parts, size = [], 0
            parts.append(_TRAILER)
            copy.write(b"".join(parts))
    except UniqueViolation as err:
        if err.diag.constraint_name != UNIQUE_CONTENT:
            raise
        raise KnownContent() from err


def _head(project_id: int, batch_id: int | None, upload_id: int | None, gold: bool, answer: str | None,
          annotated: int, slots: int, is_open: bool, created: datetime) -> bytes:
    """A row's field count and its HEAD_COLUMNS values, in COPY's binary format."""
    return b"".join((_FIELDS, _int4(4, project_id), _integer(batch_id), _integer(upload_id), _TRUE if gold else _FALSE,
                     _text(answer), _int4(4, annotated), _int4(4, slots), _TRUE if is_open else _FALSE,
                     _timestamp(created)))


def _runs(values: Iterable[tuple[Any, ...]]) -> Iterator[tuple[tuple[Any, ...], list[bytes]]]:
    """Rows in COLUMNS' order as `insert_runs` takes them: a run per row (the general case)."""
    for project_id, batch_id, upload_id, data, digest, gold, answer, line, annotated, slots, is_open, \
            created in values:
        yield ((project_id, batch_id, upload_id, gold, answer, annotated, slots, is_open, created),
               [copy_tail(data, digest, line)])


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
    from sqlalchemy import text

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
