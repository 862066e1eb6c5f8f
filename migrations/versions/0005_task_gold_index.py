"""task: an index of each job's gold tasks, so a QA run finds them without reading the job

Every QA run (one per batch as it completes) reads the job's gold tasks to grade its annotators
against them. Nothing indexed `is_gold`, so each run read every task of the job: 40,000 tasks
for a 100-task batch of a 40,000-task job, and over a job's life as many reads as batches times
tasks. The pull queue, handing out a gold task every n-th request, read them the same way.
Gold tasks are a few per job; a partial index holds exactly them.

Built CONCURRENTLY on PostgreSQL (schema.build_indexes_online): imports and the pull queue write
to `task` all day.

Revision ID: 0005_task_gold
Revises: 0004_media_use
Create Date: 2026-12-04 18:30:00
"""
from typing import Sequence, Union

from schema import build_indexes_online

revision: str = '0005_task_gold'
down_revision: Union[str, Sequence[str], None] = '0004_media_use'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    build_indexes_online('task', {'ix_task_gold': ['project_id', 'id']}, [], where='is_gold')


def downgrade() -> None:
    build_indexes_online('task', {}, ['ix_task_gold'])
