"""Shared check: the migrated database has exactly the tables and columns the models declare."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

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
