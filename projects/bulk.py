"""Fast bulk insert of new tasks, inside the caller's transaction, and the probe for content
a job already holds.

An import writes hundreds of thousands of rows; the ORM's per-row bookkeeping would cost more
than parsing the file. PostgreSQL gets COPY, SQLite a plain executemany, both on the session's
own connection so the rows commit or roll back with everything else. A row whose content the
job already holds raises `KnownContent` (the unique index noticed it): the caller rolls back
and probes with `known_hashes`, which costs about as much as the insert itself, so an import
only probes once it has met known content.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg.errors
from sqlalchemy import text
from sqlalchemy.orm import Session

from projects.intake import HASH_BYTES

UNIQUE_CONTENT = "uq_task_project_id_content_hash"  # the unique (project_id, content_hash) index
COLUMNS = ("project_id", "batch_id", "upload_id", "data", "content_hash", "is_gold", "gold_answer",
           "source_line", "annotation_count", "slots_taken", "is_open", "created_at")
# How COPY's binary format encodes each column; JSON goes as text, which is its binary form too.
_COPY_TYPES = ["int4", "int4", "int4", "text", "bytea", "bool", "text", "int4", "int4", "int4", "bool",
               "timestamp"]


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
                    f"COPY task ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_COPY_TYPES)
                for value in values:
                    copy.write_row(value)
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
