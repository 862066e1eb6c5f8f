"""Fast bulk insert of new tasks, inside the caller's transaction.

An import writes hundreds of thousands of rows; the ORM's per-row bookkeeping would cost more
than parsing the file. PostgreSQL gets COPY, SQLite a plain executemany, both on the session's
own connection so the rows commit or roll back with everything else.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from sqlalchemy import String, any_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tasks.models import Task

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
    """Which of `hashes` the job already has. PostgreSQL gets them as one array parameter (a
    5,000-item IN list costs more to parse and plan than to answer)."""
    if not hashes:
        return set()
    column = Task.content_hash
    if session.get_bind().dialect.name == "postgresql":
        match = column == any_(sql_array(hashes))
    else:
        match = column.in_(hashes)
    return set(session.scalars(select(column).where(Task.project_id == project_id, match)))


def sql_array(values: list[str]):
    from sqlalchemy import bindparam
    return bindparam("hashes", values, type_=ARRAY(String))
