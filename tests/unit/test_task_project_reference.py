"""task.project_id keeps a foreign key's rules on SQLite, enforced by triggers (migration 0002)."""
from tests.project_reference_check import check_project_reference


def test_tasks_name_an_existing_job_and_go_with_it(session):
    check_project_reference(session)
