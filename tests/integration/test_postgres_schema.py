"""The Alembic migrations build exactly the schema the models describe (PostgreSQL)."""
import pytest

from tests.schema_check import schema_drift, scratch_database

pytestmark = pytest.mark.integration


def test_migrations_match_models_on_postgresql(pg_url):
    assert schema_drift(pg_url) == []


PERSON_INDEXES = ("ix_assignment_annotator_status", "ix_assignment_annotator_day", "ix_assignment_annotator_project")


def test_person_indexes_go_down_and_up_and_an_interrupted_build_is_redone(pg_url):
    """Migration 0003 builds its indexes CONCURRENTLY on PostgreSQL: it undoes and redoes, and an
    index an interrupted build left invalid is dropped and built again by the next upgrade."""
    from alembic import command
    from sqlalchemy import create_engine, make_url, text

    from ops.services import psql_as_postgres
    from schema import alembic_config, upgrade

    if make_url(pg_url).host not in ("127.0.0.1", "localhost"):
        pytest.skip("marking an index invalid needs the local postgres superuser")
    with scratch_database(pg_url, "migrations") as url:
        def indexes() -> dict[str, bool]:
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    return dict(conn.execute(text(
                        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                        " WHERE i.indrelid = 'assignment'::regclass")).all())
            finally:
                engine.dispose()

        upgrade(url)
        command.downgrade(alembic_config(url), "0002_task_project")
        assert "ix_assignment_annotator_id" in indexes() and not set(PERSON_INDEXES) & set(indexes())
        upgrade(url, "0003_assignment_person")
        psql_as_postgres("UPDATE pg_index SET indisvalid = false"
                         " WHERE indexrelid = 'ix_assignment_annotator_day'::regclass", make_url(url).database)
        assert indexes()["ix_assignment_annotator_day"] is False
        command.stamp(alembic_config(url), "0002_task_project")  # as if the build had stopped there
        upgrade(url)
        found = indexes()
        assert all(found[name] for name in PERSON_INDEXES) and "ix_assignment_annotator_id" not in found
        assert schema_drift(url) == []
