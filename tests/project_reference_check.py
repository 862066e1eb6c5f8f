"""Shared check: task.project_id keeps a foreign key's rules on whichever database the session
is on (SQLite: the declared key; PostgreSQL: the triggers of migration 0002)."""
from __future__ import annotations

import secrets
import sqlite3

import psycopg
import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from extensions import utcnow
from projects.bulk import insert_tasks, timestamp
from projects.models import Project
from tasks.models import Task

RAW_INTEGRITY_ERRORS = (psycopg.IntegrityError, sqlite3.IntegrityError)


def new_projects(session: Session, count: int) -> list[int]:
    """`count` new jobs of a new manager, committed; their ids."""
    from accounts.service import create_user
    from projects.service import create_project

    name = f"ref{secrets.token_hex(4)}"
    user = create_user(session, name, f"{name}@test.local", "a-long-password", "manager")
    projects = [create_project(session, user, {"title": f"{name} {n}", "label_config":
                '<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
                '<Choice value="a"/></Choices></View>'}) for n in range(count)]
    session.commit()
    return [project.id for project in projects]


def task_rows(session: Session, project_ids: list[int]) -> list[tuple]:
    """One task row per id in `project_ids`, as `insert_tasks` takes them."""
    now = timestamp(session, utcnow())
    return [(project_id, None, None, f'{{"text":"{n}"}}', secrets.token_bytes(16), False, None, n, 0, 0, True, now)
            for n, project_id in enumerate(project_ids)]


def check_project_reference(session: Session) -> None:
    """Inserting (in bulk or one by one) or moving a task to a job that does not exist fails;
    deleting a job deletes its tasks, only its; a job's id cannot change under its tasks."""
    kept, deleted = new_projects(session, 2)
    missing = deleted + 1000
    with pytest.raises(RAW_INTEGRITY_ERRORS):  # one bad row among good ones, in one statement
        insert_tasks(session, task_rows(session, [kept, missing, kept]))
    session.rollback()
    with pytest.raises(IntegrityError):
        session.execute(insert(Task).values(project_id=missing, data={"text": "x"},
                                            content_hash=secrets.token_bytes(16)))
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Task).where(Task.project_id.in_([kept, missing]))) == 0

    insert_tasks(session, task_rows(session, [kept, kept, deleted, deleted, deleted]))
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(update(Task).where(Task.project_id == kept).values(project_id=missing))
    session.rollback()
    with pytest.raises(IntegrityError):
        session.execute(update(Project).where(Project.id == kept).values(id=missing))
    session.rollback()

    session.execute(delete(Project).where(Project.id == deleted))
    session.commit()
    counts = dict(session.execute(select(Task.project_id, func.count()).where(
        Task.project_id.in_([kept, deleted])).group_by(Task.project_id)).all())
    assert counts == {kept: 2}
