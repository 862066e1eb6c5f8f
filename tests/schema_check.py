"""Shared check: the migrated database has exactly the tables and columns the models declare;
and scratch databases for tests that migrate or measure one of their own."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text

from schema import include_object_on, metadata


def schema_drift(url: str) -> list:
    """Alembic's list of differences between the models and the database at `url`."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": include_object_on(conn.dialect.name)})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


@contextmanager
def scratch_database(pg_url: str, suffix: str) -> Iterator[str]:
    """An empty database of its own beside the test one (`<name>_<suffix>`, made afresh), dropped
    afterwards; yields its URL."""
    scratch = make_url(pg_url).set(database=f"{make_url(pg_url).database}_{suffix}")
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {scratch.database} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {scratch.database}"))
    try:
        yield scratch.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {scratch.database} WITH (FORCE)"))
        admin.dispose()
