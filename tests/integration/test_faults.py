"""Faults on the real services: the RQ worker killed with SIGKILL in the middle of an import and of a
dataset build, Redis losing its data, a PostgreSQL connection cut. After the worker restarts
(recovering its dead predecessor's jobs) the work completes, the same as an undisturbed run, and
nothing is duplicated."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from demo.slice import Client
from extensions import db, utcnow
from ops import procs, services
from qa.models import Consensus, ConsensusStatus
from tasks.models import Task
from tests.integration.test_platform_end_to_end import _new_manager

ROWS = 120_000
WORKER = "test-worker"


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def kill_worker() -> None:
    """SIGKILL the worker and the work horse running its job (RQ puts the horse in a process
    group of its own), as a machine losing power would."""
    pid = procs.running_pid(WORKER)
    assert pid is not None, "the test worker is not running"
    victims = [pid, *children(pid)]
    for victim in victims:
        os.kill(victim, signal.SIGKILL)
    procs.wait_until(lambda: not any(procs.pid_alive(v) for v in victims), "the killed worker to go", 10)


def wait_for(check, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def manager(live_platform, pg_app):
    with Client(live_platform, *_new_manager(pg_app)) as client:
        yield client


@pytest.fixture(scope="module")
def imported(manager, platform_env, pg_app):
    """A 120,000-row import whose worker is killed once rows are committed, then restarted."""
    project = manager.post("/api/projects", json={"title": "故障演练 fault drill", "overlap": 1, "template": {
        "type": "text_classification", "choices": ["甲", "乙"]}})
    rows = "text\n" + "".join(f"故障演练第{i}条：路灯不亮\n" for i in range(ROWS))
    upload = manager.post(f"/api/projects/{project['id']}/uploads",
                          files={"file": ("drill.csv", rows.encode(), "text/csv")})
    midway = wait_for(lambda: (r := manager.get(upload["upload_url"]))["rows_committed"] > 0 and r,
                      "the import to commit its first rows")
    assert midway["rows_committed"] < ROWS, "the import finished before the worker could be killed"
    kill_worker()
    services.start_worker(WORKER, platform_env)  # recovers the dead worker's job first
    manager.wait(upload["job"]["id"], timeout=300)
    return project, manager.get(upload["upload_url"]), midway


def test_an_import_killed_midway_completes_without_duplicates(imported, pg_app):
    project, report, midway = imported
    assert report["phase"] == "done" and report["created"] == ROWS and report["duplicates"] == 0
    with pg_app.app_context():
        count, distinct = db.session.execute(
            select(func.count(Task.id), func.count(func.distinct(Task.content_hash)))
            .where(Task.project_id == project["id"])).one()
    assert count == distinct == ROWS


def test_a_dataset_build_killed_midway_gives_the_undisturbed_bytes(imported, manager, platform_env, pg_app):
    project, _, _ = imported
    with pg_app.app_context():  # every item agreed, as if QA had passed them all
        ids = db.session.scalars(select(Task.id).where(Task.project_id == project["id"])).all()
        db.session.execute(insert(Consensus), [
            {"task_id": i, "project_id": project["id"], "label": "甲乙"[i % 2], "result": [], "confidence": 1.0,
             "votes": 1, "method": "majority_vote", "status": ConsensusStatus.AGREED, "updated_at": utcnow()}
            for i in ids])
        db.session.commit()
    options = {"project_ids": [project["id"]], "formats": ["jsonl", "parquet", "csv"], "seed": 3}
    disturbed = manager.post("/api/exports", json=options)
    wait_for(lambda: manager.get(disturbed["status_url"])["status"] == "started", "the build to start")
    time.sleep(0.5)
    kill_worker()
    services.start_worker(WORKER, platform_env)
    manager.wait(disturbed["job"]["id"], timeout=300)
    undisturbed = manager.post("/api/exports", json=options)
    manager.wait(undisturbed["job"]["id"], timeout=300)
    first, second = (manager.get(f"/api/exports/{d['dataset']['id']}") for d in (disturbed, undisturbed))
    assert first["items"] == second["items"] == ROWS
    assert first["sha256"] == second["sha256"]
    assert {f["path"] for f in first["files"]} == {f["path"] for f in second["files"]}


def test_redis_restarted_with_its_data_gone_loses_no_work(manager, platform_env, pg_app):
    """Queued work lives in the database first: Redis restarts with nothing on disk (a lost volume,
    a new machine), `flask jobs requeue` puts the work back, and the web app reconnects by itself."""
    import shutil

    import redis

    from ops.__main__ import TEST_REDIS_PORT
    from ops.procs import RUN

    project = manager.post("/api/projects", json={"title": "Redis 演练", "overlap": 1, "template": {
        "type": "text_classification", "choices": ["甲", "乙"]}})
    procs.stop(WORKER)  # nothing runs the upload while Redis forgets it
    upload = manager.post(f"/api/projects/{project['id']}/uploads",
                          files={"file": ("r.csv", "text\n一\n二\n三\n".encode(), "text/csv")})
    procs.stop("test-redis")
    shutil.rmtree(RUN / "test-redis")  # its append-only file and snapshot: everything it held
    services.start_redis("test-redis", TEST_REDIS_PORT)
    assert redis.Redis.from_url(platform_env["REDIS_URL"]).dbsize() == 0  # the queue is gone
    print(services.flask(platform_env, "jobs", "requeue"))
    services.start_worker(WORKER, platform_env)
    manager.wait(upload["job"]["id"], timeout=120)
    assert manager.get(upload["upload_url"])["created"] == 3
    again = manager.post(f"/api/projects/{project['id']}/uploads",  # the web app's Redis calls work again
                         files={"file": ("r2.csv", "text\n四\n".encode(), "text/csv")})
    manager.wait(again["job"]["id"], timeout=120)
    assert manager.get(again["upload_url"])["created"] == 1


def test_a_dropped_database_connection_fails_one_request_cleanly_and_the_next_succeeds(manager, live_platform, pg_app):
    with pg_app.app_context():
        db.session.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        db.session.commit()
    replies = [manager.http.get("/api/projects") for _ in range(3)]
    assert all(r.status_code in (200, 503) for r in replies), [r.text[:200] for r in replies]
    assert replies[-1].status_code == 200


def test_label_studio_down_while_annotators_submit_loses_nothing(manager, live_platform, pg_app):
    """Label Studio stops; annotators keep submitting (Qianling stores first); when it is back,
    every annotation reaches it, attributed, exactly once."""
    from ops.__main__ import TEST_LS_PORT
    from ops.procs import RUN
    from ops.secrets import load
    from tasks.jobs import redeliver_pending
    from tasks.models import Annotation
    from tests.integration.test_platform_end_to_end import (
        CHOICE,
        _annotator_tokens,
        _project_with_tasks,
    )

    project = _project_with_tasks(manager, 4)
    people = _annotator_tokens(pg_app, 3, f"lsdown{project['id']}")
    procs.stop("test-labelstudio")
    try:
        for _, token in people:
            with httpx.Client(base_url=live_platform, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
                while (task := http.get("/api/tasks/next", params={"project_id": project["id"]}).json()["task"]):
                    assert http.post(f"/api/tasks/{task['id']}/annotations", json=CHOICE).status_code == 201
    finally:
        services.start_label_studio("test-labelstudio", TEST_LS_PORT, RUN / "ls-test", load())
    with pg_app.app_context():
        redeliver_pending()  # what `flask jobs requeue` does; RQ's own retries may still be waiting
        rows = db.session.execute(select(Annotation.id, Annotation.ls_annotation_id).join(Task, Task.id == Annotation.task_id)
                                  .where(Task.project_id == project["id"])).all()
    assert len(rows) == 4 * 3 and all(ls_id is not None for _, ls_id in rows)
    assert len({ls_id for _, ls_id in rows}) == 12  # each delivered once


def test_a_qa_run_killed_midway_gives_the_undisturbed_result(imported, manager, platform_env, pg_app):
    """A whole-job QA run over 360,000 annotations, its worker killed while it runs: the re-queued
    run stores what an undisturbed run stores."""
    from accounts.models import Role, User
    from qa.models import QARun
    from tasks.models import Annotation, AnnotationStatus

    project, _, _ = imported
    with pg_app.app_context():
        people = [User(username=f"qa-drill-{i}-{project['id']}", email=f"qa-drill-{i}-{project['id']}@it.test",
                       role=Role.ANNOTATOR, display_name=f"质检演练{i}", password_hash="!") for i in range(3)]
        db.session.add_all(people)
        db.session.flush()
        ids = db.session.scalars(select(Task.id).where(Task.project_id == project["id"]).order_by(Task.id)).all()
        now = utcnow()
        db.session.execute(insert(Annotation), [
            {"task_id": t, "annotator_id": person.id, "result": [], "label": "甲乙"[(t + k * (t % 7 == 0)) % 2],
             "status": AnnotationStatus.ACCEPTED, "guidelines_version": 1, "created_at": now}
            for t in ids for k, person in enumerate(people)])
        db.session.execute(Task.__table__.update().where(Task.project_id == project["id"])
                           .values(annotation_count=3, slots_taken=3, is_open=False))
        db.session.execute(Consensus.__table__.delete().where(Consensus.project_id == project["id"]))
        db.session.commit()

    def snapshot(run_id: int):
        with pg_app.app_context():
            run = db.session.get(QARun, run_id)
            rows = db.session.execute(select(Consensus.task_id, Consensus.label, Consensus.confidence, Consensus.status)
                                      .where(Consensus.project_id == project["id"]).order_by(Consensus.task_id)).all()
            return (run.n_tasks, run.n_agreed, run.n_review, run.percent_agreement), rows

    disturbed = manager.post(f"/api/qa/projects/{project['id']}/runs", json={})
    wait_for(lambda: manager.get(disturbed["status_url"])["status"] == "started", "the QA run to start")
    time.sleep(0.5)
    kill_worker()
    services.start_worker(WORKER, platform_env)
    manager.wait(disturbed["job"]["id"], timeout=300)
    after_kill = snapshot(disturbed["run"]["id"])
    undisturbed = manager.post(f"/api/qa/projects/{project['id']}/runs", json={})
    manager.wait(undisturbed["job"]["id"], timeout=300)
    again = snapshot(undisturbed["run"]["id"])
    assert after_kill[0] == again[0] and after_kill[0][0] == ROWS
    assert after_kill[1] == again[1] and len(again[1]) == ROWS
