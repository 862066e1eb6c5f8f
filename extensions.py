"""Shared handles: the database (engine, sessions, declarative base) and the Redis connection.

A leaf module: it imports nothing of ours, so every package can import it. Nothing connects at
import time; `init_app` only records how to connect, and connections open on first use.
"""
from __future__ import annotations

import enum
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

import redis
from flask import Flask, current_app, g
from sqlalchemy import Enum, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names let Alembic alter SQLite tables and name PostgreSQL constraints alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def string_enum(enum_cls: type[enum.Enum]) -> Enum:
    """A column type storing an Enum's values as short strings (no native DB enum to migrate)."""
    return Enum(enum_cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


def upsert_insert(session: Session, table):
    """An INSERT on `table` that can take ON CONFLICT clauses, for the session's database."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class _DbState:
    engine: Engine
    sessions: sessionmaker[Session]
    pid: int


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL + NORMAL is durable across application crashes (a power cut may lose the last commits);
    # a 16 MiB page cache per connection: a 64 MiB one filled up during a 1M-row import, so the
    # import's memory grew with the file (48 -> 51 MiB growth from 100k to 1M rows at 16 MiB).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.close()


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # Chinese stays readable


# A pooled connection idle longer than this is pinged before use (see `_ping_if_idle`).
PING_AFTER_IDLE_SECONDS = 2.0


def _note_checkin(_dbapi_connection, record) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """Ping a connection that sat idle in the pool, so a server restart or a dropped connection
    costs no request; a connection back from a request moments ago is used as it is (a ping on
    every checkout was one more round trip on every request). A connection that dies while busy
    fails its request, and SQLAlchemy then replaces every connection of the pool."""
    if time.monotonic() - record.info.get("checked_in_at", 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as err:  # noqa: BLE001 - any failure means this connection is unusable
        raise DisconnectionError(f"pooled connection failed its ping: {err}") from err


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout; PostgreSQL
    connections are pinged when taken from the pool after being idle."""
    if url.startswith("sqlite"):
        engine = create_engine(url, json_serializer=_json, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, json_serializer=_json, pool_size=10, max_overflow=20)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


class Database:
    """The app's engine and sessions: one session per app context, or explicit ones for jobs."""

    def init_app(self, app: Flask) -> None:
        app.extensions["qianling.db"] = None  # built lazily: no connection at start-up
        # Closed after each request as well: a test client's requests can share one app context.
        app.teardown_request(self._close_request_session)
        app.teardown_appcontext(self._close_request_session)

    def _state(self) -> _DbState:
        state = current_app.extensions["qianling.db"]
        # A forked RQ work horse must not reuse its parent's pooled connections.
        if state is None or state.pid != os.getpid():
            if state is not None:
                state.engine.dispose(close=False)
            engine = make_engine(current_app.config["DATABASE_URL"])
            state = _DbState(engine, sessionmaker(engine, expire_on_commit=False), os.getpid())
            current_app.extensions["qianling.db"] = state
        return state

    @property
    def engine(self) -> Engine:
        return self._state().engine

    @property
    def session(self) -> Session:
        """The current app context's session (a request, a CLI command, a job)."""
        if "qianling_session" not in g:
            g.qianling_session = self._state().sessions()
        return g.qianling_session

    def new_session(self) -> Session:
        """A fresh session the caller closes (use as a context manager)."""
        return self._state().sessions()

    @staticmethod
    def _close_request_session(_exc: BaseException | None) -> None:
        session = g.pop("qianling_session", None)
        if session is not None:
            session.close()


db = Database()


def redis_connection() -> redis.Redis:
    """The app's Redis connection (tests may preset `app.extensions['qianling.redis']`)."""
    conn = current_app.extensions.get("qianling.redis")
    if conn is None:
        conn = redis.Redis.from_url(current_app.config["REDIS_URL"])
        current_app.extensions["qianling.redis"] = conn
    return conn


# The first key of our PostgreSQL advisory locks, per kind of work (the second is a job's id).
LOCK_SPACES = {"import": 7301, "delivery": 7302}


@contextmanager
def one_at_a_time(session: Session, kind: str, key: int) -> Iterator[None]:
    """Run the block as the only holder of lock (`kind`, `key`) across every process: a PostgreSQL
    advisory lock on a connection of its own, so it outlives the block's commits and dies with
    its process. SQLite lets one writer in at a time, and an embedded install runs one worker."""
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        yield
        return
    params = {"space": LOCK_SPACES[kind], "key": key}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
        lock.execute(text("SELECT pg_advisory_lock(:space, :key)"), params)
        try:
            yield
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:space, :key)"), params)
