"""Alembic's entry point: migrate the database named in the Alembic config with our metadata."""
from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from schema import include_object_on, metadata

config = context.config


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = engine_from_config(config.get_section(config.config_ini_section) or {},
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        # Batch mode lets later migrations alter tables on SQLite, which has no ALTER COLUMN.
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                          compare_type=True, include_object=include_object_on(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
