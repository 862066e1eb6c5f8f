"""Fast bulk insert of new tasks, inside the caller's transaction.

An import writes hundreds of thousands of rows; the ORM's per-row bookkeeping would cost more
than parsing the file. PostgreSQL gets COPY, SQLite a plain executemany, both on the session's
own connection so the rows commit or roll back with everything else.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

COLUMNS = ("project_id", "batch_id", "upload_id", "data", "content_hash", "is_gold", "gold_answer",
           "source_line", "annotation_count", "slots_taken", "is_open", "created_at")


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def insert_tasks(session: Session, values: Sequence[tuple[Any, ...]]) -> None:
    """Insert task rows: tuples in COLUMNS' order, `data` and `gold_answer` already JSON text."""
    if not values:
        return
    connection = session.connection()
    dbapi = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with dbapi.cursor() as cursor, cursor.copy(
                f"COPY task ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
    else:
        marks = ", ".join("?" for _ in COLUMNS)
        cursor = dbapi.cursor()
        try:
            cursor.executemany(f"INSERT INTO task ({', '.join(COLUMNS)}) VALUES ({marks})", values)
        finally:
            cursor.close()


def known_hashes(session: Session, project_id: int, hashes: list[str]) -> set[str]:
    """Which of `hashes` the job already has, passed as ONE parameter: an array on PostgreSQL,
    a JSON list on SQLite (a 10,000-item IN list costs more to build and plan than to answer).

    On PostgreSQL each hash is looked up in the unique (project_id, content_hash) index through a
    LATERAL ... LIMIT 1, which the planner cannot turn into a scan of all the job's tasks: during
    a large import the statistics lag behind the table, and `content_hash = ANY(...)` was planned
    as exactly that scan, once per chunk (quadratic in the file's size)."""
    if not hashes:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text(
            "SELECT h.hash FROM unnest(CAST(:hashes AS text[])) AS h(hash) CROSS JOIN LATERAL "
            "(SELECT 1 FROM task WHERE task.project_id = :project AND task.content_hash = h.hash LIMIT 1) AS hit"),
            {"project": project_id, "hashes": hashes})
    else:
        rows = session.execute(text("SELECT content_hash FROM task WHERE project_id = :project AND content_hash IN "
                                    "(SELECT value FROM json_each(:hashes))"),
                               {"project": project_id, "hashes": json.dumps(hashes)})
    return {row[0] for row in rows}
