"""task.project_id keeps a foreign key's rules on PostgreSQL, checked once per INSERT statement
by a trigger (migration 0002), with the key's locking: an insert and a delete of its job wait
for each other, and whichever commits first decides."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from extensions import make_engine
from projects.bulk import insert_tasks
from projects.models import Project
from tasks.models import Task
from tests.project_reference_check import check_project_reference, new_projects, task_rows

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(pg_url):
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def test_tasks_name_an_existing_job_and_go_with_it(engine):
    with Session(engine) as session:
        check_project_reference(session)


def _short_lock_wait(session: Session) -> None:
    session.connection().exec_driver_sql("SET LOCAL lock_timeout = '300ms'")


def test_a_job_being_filled_cannot_be_deleted_until_the_insert_ends(engine):
    with Session(engine) as importer, Session(engine) as deleter:
        [project] = new_projects(importer, 1)
        insert_tasks(importer, task_rows(importer, [project, project]))  # not committed yet
        _short_lock_wait(deleter)
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.connection().connection.driver_connection.execute(
                "DELETE FROM project WHERE id = %s", [project])
        deleter.rollback()
        importer.commit()
        deleter.execute(delete(Project).where(Project.id == project))
        deleter.commit()
        assert importer.scalar(select(func.count()).select_from(Task).where(Task.project_id == project)) == 0


def test_tasks_cannot_be_inserted_into_a_job_being_deleted(engine):
    with Session(engine) as importer, Session(engine) as deleter:
        [project] = new_projects(deleter, 1)
        deleter.execute(delete(Project).where(Project.id == project))  # not committed yet
        _short_lock_wait(importer)
        with pytest.raises(psycopg.errors.LockNotAvailable):
            insert_tasks(importer, task_rows(importer, [project]))
        importer.rollback()
        deleter.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            insert_tasks(importer, task_rows(importer, [project]))
        importer.rollback()
