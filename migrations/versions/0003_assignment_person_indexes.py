"""assignment: indexes that reach a person's lease, today and job without walking their history

The pull queue asks on every request for the annotator's live lease, how many tasks they took
today (their daily capacity) and, where the job has gold or caps, how many they did in it. The
only index was on `annotator_id` alone, so each of these read every row the person ever had:
after months of work (200 tasks a day) that is tens of thousands of rows per request. Three
indexes that start at the person and go on by status, by lease time and by job replace it (the
first column serves whatever the old one did).

On PostgreSQL the indexes are built CONCURRENTLY (schema.build_indexes_online): on a database
with months of assignments a plain CREATE INDEX would block every lease and submit while it ran.
A build that was interrupted leaves an invalid index behind; the next upgrade redoes it.

Revision ID: 0003_assignment_person
Revises: 0002_task_project
Create Date: 2026-12-04 16:00:00
"""
from typing import Sequence, Union

from schema import build_indexes_online

revision: str = '0003_assignment_person'
down_revision: Union[str, Sequence[str], None] = '0002_task_project'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD = 'ix_assignment_annotator_id'
INDEXES = {
    'ix_assignment_annotator_status': ['annotator_id', 'status'],
    'ix_assignment_annotator_day': ['annotator_id', 'leased_at'],
    'ix_assignment_annotator_project': ['annotator_id', 'project_id'],
}


def upgrade() -> None:
    build_indexes_online('assignment', INDEXES, [OLD])


def downgrade() -> None:
    build_indexes_online('assignment', {OLD: ['annotator_id']}, list(INDEXES))
