"""task.project_id keeps a foreign key's rules on SQLite (the declared key: migration 0002 changes
only PostgreSQL, where tests/integration/test_task_project_reference_pg.py checks the same)."""
from tests.project_reference_check import check_project_reference


def test_tasks_name_an_existing_job_and_go_with_it(session):
    check_project_reference(session)
