"""The database schema: every model's table, and `flask db ...` to migrate it with Alembic.

Importing this module registers all tables on `Base.metadata` (Alembic's autogenerate and the
tests need the complete picture). Migrations live in `migrations/versions`.
"""
from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import current_app
from flask.cli import AppGroup

import accounts.models  # noqa: F401  (registers tables)
import background.models  # noqa: F401
import exports.models  # noqa: F401
import labelstudio.models  # noqa: F401
import projects.models  # noqa: F401
import qa.models  # noqa: F401
import tasks.models  # noqa: F401
import workforce.models  # noqa: F401
from extensions import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
metadata = Base.metadata
# Foreign keys the models declare that PostgreSQL enforces with triggers instead, with the same
# rules (the migration that made them says why): Alembic's comparison must not ask for them there.
TRIGGER_KEYS = {"postgresql": frozenset({"fk_task_project_id_project"})}


def build_indexes_online(table: str, indexes: dict[str, list[str]], dropped: list[str], *,
                         where: str | None = None) -> None:
    """For migrations: create `indexes` (name -> columns, partial on `where` if given) on
    `table`, then drop `dropped`. On PostgreSQL CONCURRENTLY, outside a transaction: on a busy
    table a plain CREATE INDEX blocks every write while it runs, and this way annotators keep
    working during the upgrade. An interrupted build leaves an invalid index behind; the next
    upgrade drops it and builds it again."""
    from alembic import op
    from sqlalchemy import text

    partial = {} if where is None else {"postgresql_where": text(where), "sqlite_where": text(where)}
    if op.get_bind().dialect.name != "postgresql":
        for name, columns in indexes.items():
            op.create_index(name, table, columns, unique=False, **partial)
        for name in dropped:
            op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().execute(text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE NOT i.indisvalid AND c.relname = ANY(:names)"), {"names": list(indexes)}).scalars().all()
        for name in invalid:
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
        for name, columns in indexes.items():
            op.create_index(name, table, columns, unique=False, if_not_exists=True,
                            postgresql_concurrently=True, **partial)
        for name in dropped:
            op.drop_index(name, table_name=table, if_exists=True, postgresql_concurrently=True)


def include_object_on(dialect: str):
    """Alembic's `include_object` filter for a database of `dialect`: leaves out TRIGGER_KEYS."""
    skipped = TRIGGER_KEYS.get(dialect, frozenset())

    def include(obj, name, type_, reflected, compare_to) -> bool:
        return not (type_ == "foreign_key_constraint" and name in skipped)
    return include


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


db_cli = AppGroup("db", help="Database schema migrations.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def revision_command(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    command.revision(alembic_config(current_app.config["DATABASE_URL"]), message=message, autogenerate=True)
