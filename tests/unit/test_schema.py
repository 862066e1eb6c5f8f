"""The Alembic migrations build exactly the schema the models describe (SQLite)."""
from tests.schema_check import schema_drift


def test_migrations_match_models_on_sqlite(migrated_sqlite):
    assert schema_drift(f"sqlite:///{migrated_sqlite}") == []


def test_flask_db_upgrade_command(app, tmp_path):
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh' / 'new.db'}"
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert schema_drift(app.config["DATABASE_URL"]) == []
