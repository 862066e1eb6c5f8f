"""The pull queue's query on PostgreSQL costs the same however far a job has progressed.

The soak (tests/integration/test_soak.py) measures this end to end, but its figures move with the
machine's load; here the work PostgreSQL does for one request is counted in buffers, which do not.
Both ways a plan went wrong are checked: the query's own shape (an anti-join that read the job's
history) and stale statistics after a publish (kept fresh by background.upkeep, which is checked
here too).
"""
from __future__ import annotations

import secrets
import time

import pytest
from sqlalchemy import delete, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from background import upkeep
from background.upkeep import refresh_statistics
from extensions import make_engine
from projects.models import Project
from tasks.distribution import _task_statement
from tasks.models import Annotation, Assignment, Task
from tests.project_reference_check import new_projects
from tests.schema_check import scratch_database

pytestmark = pytest.mark.integration

DONE, OPEN = 19_000, 1_000
PUBLISHED, PUBLISHED_DONE = 5_000, 4_500
# A request reads the open-task index's first page, the job, the batch, and one (task, person)
# probe per task it passes: about a dozen buffers. Reading the tasks done before it, or the
# person's own history, takes hundreds.
BUFFERS = 100
# A QA run's query reads its batch's 100 tasks and their 300 annotations (some 300 buffers), or
# the 20 gold tasks and theirs (60); reading all the job's tasks took 880.
GOLD_BUFFERS = 500


@pytest.fixture(scope="module")
def engine(pg_url):
    """A database of this module's own, migrated to head. Dead rows are cleaned (and stale index
    entries marked) only once no transaction on the database may still see them: on the shared
    test database another test's long transaction (an export's snapshot, one of minutes) kept
    them, and these counts measured that instead of the plans."""
    from schema import upgrade

    with scratch_database(pg_url, "plans") as url:
        upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _job_far_along(session: Session, done: int = DONE, open_: int = OPEN, *, pushed: bool = True) -> tuple[int, int]:
    """A job with `done` tasks of three annotations each and `open_` tasks untouched (pushed to
    Label Studio or not yet); its id and the person who annotated every fourth done task."""
    from accounts.service import create_user

    [project] = new_projects(session, 1)
    tag = secrets.token_hex(3)
    person, *others = [create_user(session, f"pq{n}-{tag}", f"pq{n}-{tag}@it.test", "a-long-password",
                                   "annotator").id for n in range(4)]
    session.execute(text("UPDATE project SET status = 'active', overlap = 3 WHERE id = :p"), {"p": project})
    session.execute(text("""
        INSERT INTO task (project_id, data, content_hash, is_gold, annotation_count, extra_overlap, slots_taken,
                          is_open, ls_task_id, created_at)
        SELECT :p, json_build_object('text', n), substring(sha256(int4send(n)) for 16), false,
               CASE WHEN n <= :done THEN 3 ELSE 0 END, 0, CASE WHEN n <= :done THEN 3 ELSE 0 END,
               n > :done, CASE WHEN :pushed THEN n END, timezone('utc', now())
        FROM generate_series(1, :total) AS n"""), {"p": project, "done": done, "total": done + open_, "pushed": pushed})
    session.execute(text("""
        INSERT INTO assignment (task_id, annotator_id, project_id, status, leased_at, expires_at, finished_at)
        SELECT t.id, u.id, :p, 'submitted', now(), now(), now()
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM task WHERE project_id = :p AND NOT is_open) AS t
        CROSS JOIN LATERAL (VALUES (:a), (:b), (CASE WHEN t.n % 4 = 0 THEN :person ELSE :c END)) AS u(id)"""),
                    {"p": project, "a": others[0], "b": others[1], "c": others[2], "person": person})
    session.commit()
    return project, person


def _buffers_and_first(session: Session, project: int, person: int) -> tuple[int, int]:
    """Buffers PostgreSQL touched to find `person`'s next task, and that task's place in the job."""
    sql = str(_task_statement(False, lock=True).params(user_id=person, project_id=project).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    [[[plan]]] = session.execute(text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)).all()
    first = session.execute(text(sql)).first()
    session.rollback()  # the rows FOR UPDATE locked
    place = session.scalar(text("SELECT count(*) FROM task WHERE project_id = :p AND id <= :t"),
                           {"p": project, "t": first.id})
    top = plan["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"], place


def test_next_task_reads_a_few_buffers_however_far_the_job_is(engine):
    """A probe per passed task, not a scan of the job's history, planned on the statistics the
    database had before this job's rows came (stale, as where autovacuum is off) and on fresh
    ones (after `refresh_statistics`, or wherever autovacuum runs)."""
    with Session(engine) as session:
        project, person = _job_far_along(session)
        try:
            stale, place = _buffers_and_first(session, project, person)
            assert place == DONE + 1  # the first open task: the person has none of them
            refresh_statistics(session, Task, Assignment)
            fresh, place = _buffers_and_first(session, project, person)
            assert place == DONE + 1
            assert max(stale, fresh) < BUFFERS, f"buffers read for one request: {stale} stale, {fresh} fresh"
        finally:
            _delete(session, project)


def test_gold_tasks_are_found_without_reading_the_job(engine):
    """A QA run of one batch grades its annotators against the job's gold tasks, and the pull
    queue hands one out every n-th request: both read them from `ix_task_gold` (migration 0005).
    Before it, both read every task of the job (a QA run for every batch)."""
    from qa.jobs import load_labels

    with Session(engine) as session:
        project_id, person = _job_far_along(session)
        try:
            session.execute(text("UPDATE task SET batch_id = -1 WHERE project_id = :p AND id < "
                                 "(SELECT min(id) FROM task WHERE project_id = :p) + 100"), {"p": project_id})
            session.execute(text("UPDATE task SET is_gold = true, gold_answer = '\"a\"'"
                                 " WHERE project_id = :p AND id % 1000 = 0"), {"p": project_id})
            session.execute(text("""
                INSERT INTO annotation (task_id, annotator_id, result, label, guidelines_version, status, created_at)
                SELECT a.task_id, a.annotator_id, '[]', 'a', 1, 'accepted', now()
                FROM assignment a JOIN task t ON t.id = a.task_id WHERE t.project_id = :p"""), {"p": project_id})
            session.commit()
            refresh_statistics(session, Task, Annotation)
            project = session.get(Project, project_id)
            qa_queries = _statements_of(engine, lambda: load_labels(session, project, -1))
            gold_candidate = _task_statement(True, lock=False).params(user_id=person, project_id=project_id)
            buffers = [_buffers(session, statement, parameters) for statement, parameters in qa_queries]
            buffers.append(_buffers(session, str(gold_candidate.compile(
                dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})), {}))
            assert max(buffers) < GOLD_BUFFERS, f"buffers per query: {buffers}"
        finally:
            _delete(session, project_id)


def _statements_of(engine, run) -> list[tuple[str, dict]]:
    """The SQL (and its parameters) that `run()` sends through `engine`."""
    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _buffers(session: Session, statement: str, parameters) -> int:
    [[[plan]]] = session.connection().exec_driver_sql(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters).all()
    session.rollback()
    return plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]


def test_a_published_job_is_planned_on_its_pushed_tasks(engine):
    """A job goes as the jobs take it: imported (unpushed, statistics refreshed by the import
    job), pushed (each task's Label Studio id recorded, statistics refreshed by the publish job,
    `projects.jobs`), then worked until most of its tasks are done, with no ANALYZE since the
    publish. Before, the publish left statistics in which no task was pushed, and the query read
    and sorted every open task of the job (4,083 buffers for 1,000 tasks); and those taken after
    it said every task was open, so the query walked the done tasks in id order (the primary
    key), more with every task done (5,169 buffers with 4,500 done)."""
    with Session(engine) as session:
        project, person = _job_far_along(session, 0, PUBLISHED, pushed=False)
        try:
            refresh_statistics(session, Task, Assignment)  # as projects.imports does
            session.execute(text("UPDATE task SET ls_task_id = id WHERE project_id = :p"), {"p": project})
            session.commit()
            refresh_statistics(session, Task)  # as projects.jobs.publish_to_label_studio does
            # The first request after a bulk update finds the old row versions' entries in
            # `ix_task_open` dead and marks them so; when tasks are done one by one, one request each does.
            _buffers_and_first(session, project, person)
            buffers, place = _buffers_and_first(session, project, person)
            assert place == 1
            assert buffers < BUFFERS, f"{buffers} buffers read for one request, the job just published"
            session.execute(text("UPDATE task SET slots_taken = 3, annotation_count = 3, is_open = false"
                                 " WHERE project_id = :p AND id < (SELECT min(id) FROM task WHERE project_id = :p)"
                                 " + :done"), {"p": project, "done": PUBLISHED_DONE})
            session.commit()
            _buffers_and_first(session, project, person)
            buffers, place = _buffers_and_first(session, project, person)
            assert place == PUBLISHED_DONE + 1
            assert buffers < BUFFERS, f"{buffers} buffers read for one request, {PUBLISHED_DONE} tasks done"
        finally:
            _delete(session, project)


def test_upkeep_vacuums_where_autovacuum_is_off(pg_app, engine):
    """`keep_tables_fit` vacuums and analyzes a table of ours with many dead rows whose autovacuum
    is off (this table's alone, so the check holds on any server), and leaves it alone once
    clean. A VACUUM removes only rows no running transaction may still see: on a busy platform
    the first one can find a transaction older than the DELETE, so upkeep runs until they go, as
    its periodic job would."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("DROP TABLE IF EXISTS upkeep_probe"))
        connection.execute(text("CREATE TABLE upkeep_probe (n integer) WITH (autovacuum_enabled = false)"))
        connection.execute(text("INSERT INTO upkeep_probe SELECT generate_series(1, 10000)"))
        connection.execute(text("DELETE FROM upkeep_probe WHERE n % 2 = 0"))
    try:
        assert _wait_for_probe(engine, lambda dead, _runs: dead >= 5000)[0] >= 5000
        with pg_app.app_context():
            assert "upkeep_probe" in upkeep.keep_tables_fit(engine)
            assert _wait_for_probe(engine, lambda _dead, runs: runs >= 1)[1] >= 1  # vacuumed and analyzed
            deadline = time.monotonic() + 60
            while (dead := _wait_for_probe(engine, lambda dead, _runs: dead == 0, seconds=2)[0]) \
                    and time.monotonic() < deadline:
                upkeep.keep_tables_fit(engine)
            assert dead == 0
            assert "upkeep_probe" not in upkeep.keep_tables_fit(engine)
    finally:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("DROP TABLE IF EXISTS upkeep_probe"))


def _wait_for_probe(engine, done, seconds: float = 15) -> tuple[int, int]:
    """The probe table's dead rows and how many times it was both vacuumed and analyzed, once
    `done(dead, runs)` (statistics reach the view within seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        with engine.connect() as connection:
            dead, runs = connection.execute(text(
                "SELECT n_dead_tup, least(vacuum_count, analyze_count) FROM pg_stat_user_tables"
                " WHERE relname = 'upkeep_probe'")).one()
        if done(dead, runs) or time.monotonic() > deadline:
            return dead, runs
        time.sleep(0.2)


def _delete(session: Session, project: int) -> None:
    session.rollback()
    session.execute(delete(Project).where(Project.id == project))
    session.commit()
