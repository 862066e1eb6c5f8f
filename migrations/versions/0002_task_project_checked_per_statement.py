"""task.project_id on PostgreSQL: checked once per statement instead of by a per-row foreign key

An import inserts hundreds of thousands of tasks. PostgreSQL checks a foreign key with one
query per inserted row (a trigger running `SELECT ... FOR KEY SHARE` on the project), which
was about 40 % of the server's work in a COPY of 1M tasks (19-22 s of CPU with it, 11-14 s
with the statement-level check below; the same file, on this 2-core machine). The reference
stays enforced by the database, with the foreign key's rules:

- a task must name an existing job: one check per INSERT statement over all its rows (a
  transition table), which locks each named project FOR KEY SHARE as the foreign key did, so a
  concurrent delete of the job waits for the insert, or the insert fails;
- moving a task to a job that does not exist fails;
- deleting a job deletes its tasks (ON DELETE CASCADE), and changing a job's id while tasks
  name it fails (NO ACTION).

The errors are foreign-key violations (SQLSTATE 23503), naming the key. The model still declares
the key (SQLite keeps it: its per-row check is cheap there, and a row trigger would cost more);
`schema.TRIGGER_KEYS` tells Alembic's comparison that PostgreSQL enforces it this way.

Revision ID: 0002_task_project
Revises: 0001
Create Date: 2026-12-03 13:45:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0002_task_project'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FOREIGN_KEY = 'fk_task_project_id_project'
MESSAGE = 'task.project_id names no job (project)'

POSTGRESQL = [
    f"""CREATE FUNCTION task_project_exists() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      wanted bigint;
      locked bigint;
    BEGIN
      SELECT count(DISTINCT project_id) INTO wanted FROM new_task;
      -- lock as the foreign key did: a concurrent delete of a job waits for this transaction,
      -- and a job deleted meanwhile is not found (then this insert fails)
      SELECT count(*) INTO locked FROM (SELECT 1 FROM project
          WHERE id IN (SELECT project_id FROM new_task) FOR KEY SHARE) AS found;
      IF locked < wanted THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'foreign_key_violation',
          CONSTRAINT = '{FOREIGN_KEY}', TABLE = 'task';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER task_project_exists AFTER INSERT ON task REFERENCING NEW TABLE AS new_task
       FOR EACH STATEMENT EXECUTE FUNCTION task_project_exists()""",
    f"""CREATE FUNCTION task_project_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM 1 FROM project WHERE id = NEW.project_id FOR KEY SHARE;
      IF NOT FOUND THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'foreign_key_violation',
          CONSTRAINT = '{FOREIGN_KEY}', TABLE = 'task';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER task_project_moved AFTER UPDATE OF project_id ON task FOR EACH ROW
       WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id) EXECUTE FUNCTION task_project_moved()""",
    """CREATE FUNCTION project_tasks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM task WHERE project_id = OLD.id;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER project_tasks_deleted AFTER DELETE ON project FOR EACH ROW
       EXECUTE FUNCTION project_tasks_deleted()""",
    f"""CREATE FUNCTION project_id_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM task WHERE project_id = OLD.id) THEN
        RAISE EXCEPTION 'the job''s tasks name its id' USING ERRCODE = 'foreign_key_violation',
          CONSTRAINT = '{FOREIGN_KEY}', TABLE = 'task';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER project_id_kept AFTER UPDATE OF id ON project FOR EACH ROW
       WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION project_id_kept()""",
]

TRIGGERS = [('task_project_exists', 'task'), ('task_project_moved', 'task'),
            ('project_tasks_deleted', 'project'), ('project_id_kept', 'project')]


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_constraint(FOREIGN_KEY, 'task', type_='foreignkey')
    for statement in POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, table in TRIGGERS:
        op.execute(f'DROP TRIGGER {name} ON {table}')
        op.execute(f'DROP FUNCTION {name}()')
    op.create_foreign_key(FOREIGN_KEY, 'task', 'project', ['project_id'], ['id'], ondelete='CASCADE')
