"""Table upkeep on PostgreSQL: planner statistics fresh after bulk writes, and dead rows vacuumed
where the server's autovacuum is off.

PostgreSQL picks each plan from its statistics of the tables. Stale ones pick badly: right after
a job is published its tasks all still count as unpushed, and the pull queue's query was planned
to read and sort every open task of the job (5,000 buffers a request instead of 8, in
tests/integration/test_pull_queue_postgres.py). Autovacuum refreshes statistics within a minute
or so, and only where it is on; the PostgreSQL that CI and this machine run has it off. Hence:

- `refresh_statistics(session, *models)`: ANALYZE after a bulk write (an import, a publish), so
  the next request is planned on the rows just written;
- `keep_tables_fit()`, the `upkeep` job: where autovacuum is off, VACUUM (ANALYZE) each table past
  autovacuum's own default thresholds (dead rows above 20 % of the live ones plus 50; rows
  changed since the last ANALYZE above 10 % plus 50). Every submission leaves dead row versions
  of a task and an assignment behind: unvacuumed, the pull queue's indexes fill with them.
  `queue_if_due()` asks for the job at most every `EVERY_SECONDS` (the lease sweep calls it).
Where autovacuum is on, `keep_tables_fit` leaves the tables to it. SQLite needs neither.
"""
from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from background.queues import coalesced_run_started, enqueue_coalesced
from extensions import Base, db, redis_connection

logger = logging.getLogger(__name__)
EVERY_SECONDS = 60
_DUE_KEY = "qianling:upkeep-due"
_RUN_KEY = "upkeep"

# Our tables whose autovacuum is off (server-wide, or for the table) and whose dead or changed
# rows passed autovacuum's default thresholds; most dead rows first.
_DUE = text("""
    SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = current_schema()
      AND (current_setting('autovacuum') = 'off' OR 'autovacuum_enabled=false' = ANY(coalesce(c.reloptions, '{}')))
      AND (s.n_dead_tup > 50 + 0.2 * s.n_live_tup OR s.n_mod_since_analyze > 50 + 0.1 * s.n_live_tup)
    ORDER BY s.n_dead_tup DESC""")


def refresh_statistics(session: Session, *models: type[Base]) -> None:
    """ANALYZE the models' tables (PostgreSQL) and commit: call after writing many of their rows."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        session.execute(text(f"ANALYZE {model.__table__.name}"))
    session.commit()


def keep_tables_fit(engine: Engine | None = None) -> list[str]:
    """The job: VACUUM (ANALYZE) every table of ours (on the app's database, or `engine`'s) that
    autovacuum would have by now, were it on; return their names. VACUUM runs outside a
    transaction, one table at a time."""
    coalesced_run_started(_RUN_KEY)
    engine = engine or db.engine
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        due = list(connection.execute(_DUE).scalars())
        quote = connection.dialect.identifier_preparer.quote
        for table in due:
            connection.execute(text(f"VACUUM (ANALYZE) {quote(table)}"))
    if due:
        logger.info("event=tables_vacuumed tables=%s reason=autovacuum_off", ",".join(due))
    return due


def queue_if_due() -> bool:
    """Queue `keep_tables_fit` unless it was asked for in the last `EVERY_SECONDS` (across every
    process); return whether it was queued."""
    if db.engine.dialect.name != "postgresql":
        return False
    if not redis_connection().set(_DUE_KEY, "1", nx=True, ex=EVERY_SECONDS):
        return False
    return enqueue_coalesced("upkeep", keep_tables_fit, key=_RUN_KEY)
