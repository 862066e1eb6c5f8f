"""The Alembic migrations build exactly the schema the models describe (SQLite)."""
from tests.schema_check import schema_drift


def test_migrations_match_models_on_sqlite(migrated_sqlite):
    assert schema_drift(f"sqlite:///{migrated_sqlite}") == []


def test_flask_db_upgrade_command(app, tmp_path):
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh' / 'new.db'}"
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert schema_drift(app.config["DATABASE_URL"]) == []


def test_migrations_go_down_and_up_again(tmp_path):
    """The newest migrations undo cleanly (a deploy can be rolled back) and redo to the models."""
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from schema import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0002_task_project")
    engine = create_engine(url)
    try:
        names = {index["name"] for index in inspect(engine).get_indexes("assignment")}
    finally:
        engine.dispose()
    assert "ix_assignment_annotator_id" in names and "ix_assignment_annotator_day" not in names
    upgrade(url)
    assert schema_drift(url) == []
