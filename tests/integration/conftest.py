"""Fixtures on the real services bin/test starts: PostgreSQL, Redis, Label Studio, and our own
web app (gunicorn) and RQ worker as separate processes.

Outside bin/test these tests skip with the reason; under bin/test (QIANLING_REQUIRE_INTEGRATION=1)
a missing service fails them instead, so CI can never pass by skipping.
"""
from __future__ import annotations

import os
import secrets

import pytest
import redis

from ops import procs, services

WEB_PORT = 5081


def service_setting(name: str) -> str:
    value = os.environ.get(f"QIANLING_IT_{name}")
    if not value:
        message = f"QIANLING_IT_{name} is not set: run the integration tests through bin/test"
        if os.environ.get("QIANLING_REQUIRE_INTEGRATION") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return value


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test PostgreSQL database, migrated to head once."""
    from schema import upgrade

    url = service_setting("DATABASE_URL")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def ls_settings() -> tuple[str, str]:
    return service_setting("LS_URL"), service_setting("LS_TOKEN")


@pytest.fixture(scope="session")
def gateway(ls_settings):
    from labelstudio.gateway import Gateway

    with Gateway(*ls_settings) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def platform_env(pg_url, ls_settings, tmp_path_factory) -> dict[str, str]:
    redis_url = service_setting("REDIS_URL")
    redis.Redis.from_url(redis_url).flushdb()
    return services.app_env({
        "QIANLING_SECRET_KEY": secrets.token_hex(16), "DATABASE_URL": pg_url, "REDIS_URL": redis_url,
        "LABEL_STUDIO_URL": ls_settings[0], "LABEL_STUDIO_TOKEN": ls_settings[1],
        "QIANLING_DATA_DIR": str(tmp_path_factory.mktemp("platform-data"))})


@pytest.fixture(scope="session")
def live_platform(platform_env):
    """Our web app under gunicorn and one RQ worker, as deployed; stopped afterwards."""
    try:
        url = services.start_web("test-web", WEB_PORT, platform_env, workers=2)
        services.start_worker("test-worker", platform_env)
        yield url
    finally:
        procs.stop("test-web")
        procs.stop("test-worker")


@pytest.fixture(scope="session")
def pg_app(platform_env):
    """An app object on the same database, for arranging data and checking results."""
    from app import create_app

    from extensions import db

    app = create_app({"SECRET_KEY": platform_env["QIANLING_SECRET_KEY"],
                       "DATABASE_URL": platform_env["DATABASE_URL"], "REDIS_URL": platform_env["REDIS_URL"],
                       "LABEL_STUDIO_URL": platform_env["LABEL_STUDIO_URL"],
                       "LABEL_STUDIO_TOKEN": platform_env["LABEL_STUDIO_TOKEN"],
                       "DATA_DIR": platform_env["QIANLING_DATA_DIR"]})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def people(pg_app) -> dict[str, tuple[str, str]]:
    """Demo-style accounts on the PostgreSQL database: name -> (username, password)."""
    from accounts.service import create_user
    from extensions import db

    password, tag = "it-" + secrets.token_hex(6), secrets.token_hex(3)
    roles = {"manager": "manager", "annotator1": "annotator", "annotator2": "annotator",
             "annotator3": "annotator", "buyer": "buyer", "buyer2": "buyer"}
    with pg_app.app_context():
        for name, role in roles.items():
            create_user(db.session, f"{name}-{tag}", f"{name}-{tag}@it.test", password, role)
        db.session.commit()
    return {name: (f"{name}-{tag}", password) for name in roles}
