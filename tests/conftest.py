"""Shared fixtures: an app on a fresh SQLite database (migrated by Alembic), fake Redis with
inline jobs, and builders for users and API clients."""
from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from accounts.models import Role
from accounts.service import create_user, issue_token
from app import create_app
from extensions import db
from schema import upgrade

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (fast, and tests the migrations)."""
    path = tmp_path_factory.mktemp("schema") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def app(tmp_path, migrated_sqlite):
    db_file = tmp_path / "qianling.db"
    shutil.copy(migrated_sqlite, db_file)
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATA_DIR": tmp_path,
                      "DATABASE_URL": f"sqlite:///{db_file}", "QUEUE_ASYNC": False,
                      "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_TOKEN": "unused",
                      "LABEL_STUDIO_TIMEOUT": 2.0})
    app.extensions["qianling.redis"] = fakeredis.FakeRedis()
    with app.app_context():
        yield app
        db.engine.dispose()


@pytest.fixture
def session(app):
    return db.session


def make_user(session, role: Role | str = Role.ANNOTATOR, **overrides: Any):
    n = next(_seq)
    fields = {"username": f"user{n}", "email": f"user{n}@example.test", "password": PASSWORD,
              "role": role, "display_name": f"用户{n}"}
    fields.update(overrides)
    user = create_user(session, **fields)
    session.commit()
    return user


class Api:
    """A test client acting as one user through a bearer token."""

    def __init__(self, client, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kw):
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, **kw):
        return self.client.post(path, headers=self.headers, **kw)

    def patch(self, path: str, **kw):
        return self.client.patch(path, headers=self.headers, **kw)


@pytest.fixture
def api_as(app, session):
    """`api_as(role)` -> (user, Api) for a new user with that role."""
    def build(role: Role | str = Role.ANNOTATOR, **overrides: Any):
        user = make_user(session, role, **overrides)
        token = issue_token(session, user)
        session.commit()
        return user, Api(app.test_client(), token)
    return build


@pytest.fixture
def fake_ls(monkeypatch):
    """Route every gateway use to one in-memory FakeGateway."""
    from labelstudio.gateway import Gateway
    from tests.fakes import FakeGateway

    fake = FakeGateway()
    monkeypatch.setattr(Gateway, "from_app", classmethod(lambda cls: fake))
    return fake
