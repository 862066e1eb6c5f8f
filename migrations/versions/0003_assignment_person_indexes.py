"""assignment: indexes that reach a person's lease, today and job without walking their history

The pull queue asks on every request for the annotator's live lease, how many tasks they took
today (their daily capacity) and, where the job has gold or caps, how many they did in it. The
only index was on `annotator_id` alone, so each of these read every row the person ever had:
after months of work (200 tasks a day) that is tens of thousands of rows per request. Three
indexes that start at the person and go on by status, by lease time and by job replace it (the
first column serves whatever the old one did).

On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction: on a database with
months of assignments a plain CREATE INDEX would block every lease and submit while it ran, and
this way annotators keep working during the upgrade. A build that was interrupted leaves an
invalid index behind; the next upgrade drops it and builds it again.

Revision ID: 0003_assignment_person
Revises: 0002_task_project
Create Date: 2026-12-04 16:00:00
"""
from typing import Sequence, Union

from alembic import op
from sqlalchemy import text

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


def _build(indexes: dict[str, list[str]], dropped: list[str]) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        for name, columns in indexes.items():
            op.create_index(name, 'assignment', columns, unique=False)
        for name in dropped:
            op.drop_index(name, table_name='assignment')
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().execute(text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE NOT i.indisvalid AND c.relname = ANY(:names)"), {"names": list(indexes)}).scalars().all()
        for name in invalid:
            op.drop_index(name, table_name='assignment', postgresql_concurrently=True)
        for name, columns in indexes.items():
            op.create_index(name, 'assignment', columns, unique=False, if_not_exists=True,
                            postgresql_concurrently=True)
        for name in dropped:
            op.drop_index(name, table_name='assignment', if_exists=True, postgresql_concurrently=True)


def upgrade() -> None:
    _build(INDEXES, [OLD])


def downgrade() -> None:
    _build({OLD: ['annotator_id']}, list(INDEXES))
