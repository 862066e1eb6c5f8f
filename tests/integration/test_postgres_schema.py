"""The Alembic migrations build exactly the schema the models describe (PostgreSQL)."""
import pytest

from tests.schema_check import schema_drift

pytestmark = pytest.mark.integration


def test_migrations_match_models_on_postgresql(pg_url):
    assert schema_drift(pg_url) == []
