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
