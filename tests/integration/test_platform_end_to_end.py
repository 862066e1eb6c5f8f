"""The whole slice on the real services, through the platform's HTTP API (gunicorn + RQ worker
on PostgreSQL, Redis and Label Studio), checked against what each service really holds."""
from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from accounts.models import User
from demo.samples import DEPARTMENTS
from demo.slice import Client, run_slice
from extensions import db
from qa.models import Consensus, ConsensusStatus
from tasks.models import Annotation, Task

pytestmark = pytest.mark.integration
ITEMS = 24


@pytest.fixture(scope="module")
def slice_result(live_platform, people):
    return run_slice(live_platform, people, items=ITEMS, log=lambda _line: None)


def _wait_delivered(pg_app, project_id: int, timeout: float = 120) -> list[Annotation]:
    deadline = time.monotonic() + timeout
    while True:
        with pg_app.app_context():
            rows = db.session.scalars(select(Annotation).join(Task, Task.id == Annotation.task_id)
                                      .where(Task.project_id == project_id)).all()
            if all(a.ls_annotation_id for a in rows) or time.monotonic() > deadline:
                return rows
        time.sleep(0.5)


def test_tasks_and_attributed_annotations_are_in_label_studio(slice_result, gateway, pg_app, people):
    project = slice_result.project
    assert project["tasks"] == ITEMS and slice_result.submitted == ITEMS * 3
    in_ls = gateway.existing_tasks(project["ls_project_id"])
    assert len(in_ls) == ITEMS
    delivered = _wait_delivered(pg_app, project["id"])
    assert len(delivered) == ITEMS * 3 and all(a.ls_annotation_id for a in delivered)
    with pg_app.app_context():
        ls_user = {u.id: u.ls_user_id for u in db.session.scalars(select(User))}
        task_ls = dict(db.session.execute(select(Task.id, Task.ls_task_id)
                                          .where(Task.project_id == project["id"])).all())
    for annotation in delivered[:12]:  # each listing is one HTTP call; a sample proves attribution
        (match,) = [a for a in gateway.list_annotations(task_ls[annotation.task_id])
                    if a["import_id"] == annotation.id]
        assert match["completed_by"] == ls_user[annotation.annotator_id]
        assert match["result"] == annotation.result


def test_qa_figures_match_the_stored_annotations(slice_result, pg_app):
    run = slice_result.qa_run
    with pg_app.app_context():
        labels = pd.DataFrame(db.session.execute(
            select(Annotation.task_id, Annotation.label).join(Task, Task.id == Annotation.task_id)
            .where(Task.project_id == slice_result.project["id"])).all(), columns=["task", "label"])
        stored = {c.task_id: c for c in db.session.scalars(select(Consensus).where(Consensus.run_id == run["id"]))}
    pair_shares = []
    for task, group in labels.groupby("task"):
        counts = group["label"].value_counts()
        pair_shares.append(sum(c * (c - 1) for c in counts) / (len(group) * (len(group) - 1)))
        assert stored[task].label == counts.index[0] or counts.iloc[0] == counts.iloc[1]
        assert stored[task].confidence == pytest.approx(counts.iloc[0] / len(group))
    assert run["percent_agreement"] == pytest.approx(sum(pair_shares) / len(pair_shares))
    assert run["tasks"] == ITEMS and run["agreed"] == sum(c.status == ConsensusStatus.AGREED for c in stored.values())
    assert run["review"] == sum(c.status == ConsensusStatus.REVIEW for c in stored.values())


def test_buyer_gets_exactly_the_agreed_items(slice_result, live_platform, people):
    dataset, rows = slice_result.dataset, slice_result.downloaded
    assert len(rows) == slice_result.qa_run["agreed"] == dataset["items"] > 0
    assert all(r["confidence"] >= 0.6 for r in rows)
    train = next(f for f in dataset["files"] if f["path"] == "jsonl/train.jsonl")
    with Client(live_platform, *people["buyer"]) as buyer:
        link = buyer.post(train["link_url"])
        body = buyer.http.get(link["url"]).content
        partial = buyer.http.get(link["url"], headers={"Range": "bytes=0-99"})
    assert hashlib.sha256(body).hexdigest() == train["sha256"]
    assert partial.status_code == 206 and partial.content == body[:100]
    with Client(live_platform, *people["buyer2"]) as stranger:
        assert stranger.http.post(train["link_url"]).status_code == 403
        assert "files" not in stranger.get(f"/api/exports/{dataset['id']}")


def _annotator_tokens(pg_app, count: int, tag: str, daily_capacity: int | None = None) -> list[tuple[int, str]]:
    """(user id, token) for `count` new annotators (no password: they only use tokens). A
    `daily_capacity` replaces the default one (200 tasks a day) for simulations that outwork a person."""
    from accounts.models import Role, User
    from accounts.service import issue_token
    from workforce.models import AnnotatorProfile

    with pg_app.app_context():
        users = [User(username=f"{tag}-{i}", email=f"{tag}-{i}@it.test", role=Role.ANNOTATOR,
                      display_name=f"{tag}-{i}", password_hash="!") for i in range(count)]
        db.session.add_all(users)
        db.session.flush()
        if daily_capacity is not None:
            db.session.add_all([AnnotatorProfile(user_id=u.id, daily_capacity=daily_capacity) for u in users])
        tokens = [(u.id, issue_token(db.session, u)) for u in users]
        db.session.commit()
    return tokens


CHOICE = {"result": [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["甲"]}}]}


def test_racing_for_one_task_gives_exactly_k_leases(live_platform, pg_app):
    """Many annotators ask for the same last task at once over real HTTP: exactly k get it."""
    with Client(live_platform, *_new_manager(pg_app)) as manager:
        project = _project_with_tasks(manager, 1)
    racers = _annotator_tokens(pg_app, 24, f"racer{project['id']}")

    def race(token: str) -> tuple[int | None, int, int]:
        with httpx.Client(base_url=live_platform, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
            task = http.get("/api/tasks/next", params={"project_id": project["id"]}).json()["task"]
            if task is None:
                return None, 0, 0
            first = http.post(f"/api/tasks/{task['id']}/annotations", json=CHOICE).status_code
            second = http.post(f"/api/tasks/{task['id']}/annotations", json=CHOICE).status_code
            return task["id"], first, second

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = list(pool.map(race, [token for _, token in racers]))
    winners = [o for o in outcomes if o[0] is not None]
    assert len(winners) == 3 and all(o[1:] == (201, 409) for o in winners)
    with pg_app.app_context():
        task = db.session.scalar(select(Task).where(Task.project_id == project["id"]))
        annotators = db.session.scalars(select(Annotation.annotator_id).where(Annotation.task_id == task.id)).all()
        assert len(annotators) == len(set(annotators)) == 3
        assert (task.annotation_count, task.slots_taken, task.is_open) == (3, 3, False)


def test_200_annotators_pull_and_submit_at_once(live_platform, pg_app):
    """The issue's proof: 200 annotators work a job concurrently on PostgreSQL; every task ends
    with exactly k accepted annotations from k distinct annotators, each holding the lease."""
    from tasks.models import Assignment, AssignmentStatus

    with Client(live_platform, *_new_manager(pg_app)) as manager:
        project = _project_with_tasks(manager, 60)
    people = _annotator_tokens(pg_app, 200, f"crowd{project['id']}")

    def send(http: httpx.Client, method: str, url: str, **kw) -> httpx.Response:
        # Like a browser, resend once when the server closed an idle kept-alive connection just
        # as the request went out (nothing reached the app then).
        try:
            return http.request(method, url, **kw)
        except httpx.RemoteProtocolError:
            return http.request(method, url, **kw)

    def work(token: str) -> int:
        done = 0
        with httpx.Client(base_url=live_platform, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
            while (task := send(http, "GET", "/api/tasks/next", params={"project_id": project["id"]}).json()["task"]):
                reply = send(http, "POST", f"/api/tasks/{task['id']}/annotations", json=CHOICE)
                assert reply.status_code == 201 and reply.json()["status"] == "accepted", reply.text
                done += 1
        return done

    with ThreadPoolExecutor(max_workers=200) as pool:
        submitted = sum(pool.map(work, [token for _, token in people]))
    assert submitted == 60 * 3
    with pg_app.app_context():
        tasks = db.session.scalars(select(Task).where(Task.project_id == project["id"])).all()
        assert all((t.annotation_count, t.slots_taken) == (3, 3) for t in tasks)
        rows = db.session.execute(select(Annotation.task_id, Annotation.annotator_id, Assignment.status)
                                  .join(Task, Task.id == Annotation.task_id)
                                  .outerjoin(Assignment, (Assignment.task_id == Annotation.task_id)
                                             & (Assignment.annotator_id == Annotation.annotator_id))
                                  .where(Task.project_id == project["id"])).all()
        assert len(rows) == 180 and len({(r[0], r[1]) for r in rows}) == 180
        assert all(r[2] == AssignmentStatus.SUBMITTED for r in rows)  # none from an unassigned person
        live = db.session.scalars(select(Assignment).where(Assignment.project_id == project["id"],
                                                           Assignment.status == AssignmentStatus.LEASED)).all()
        assert live == []


def _project_with_tasks(manager: Client, count: int) -> dict:
    project = manager.post("/api/projects", json={"title": "并发测试", "overlap": 3, "template": {
        "type": "text_classification", "choices": ["甲", "乙"]}})
    rows = "text\n" + "".join(f"并发任务{i}\n" for i in range(count))
    upload = manager.post(f"/api/projects/{project['id']}/uploads",
                          files={"file": ("tasks.csv", rows.encode(), "text/csv")})
    manager.wait(upload["job"]["id"])
    manager.wait(manager.post(f"/api/projects/{project['id']}/publish")["job"]["id"])
    return project


def _new_manager(pg_app) -> tuple[str, str]:
    """A fresh manager for the race, so it does not depend on the slice's accounts."""
    from accounts.service import create_user

    with pg_app.app_context():
        name = f"racemgr-{time.monotonic_ns()}"
        create_user(db.session, name, f"{name}@it.test", "racer-password", "manager")
        db.session.commit()
    return name, "racer-password"


def test_reconcile_pulls_label_studio_edits_back_and_flags_strangers(slice_result, live_platform, gateway,
                                                                     pg_app, people):
    """A manager corrects an annotation in Label Studio's own UI and the Label Studio admin labels
    a task there directly: reconcile takes the correction in and flags the admin's annotation."""
    project = slice_result.project
    delivered = _wait_delivered(pg_app, project["id"])
    target = delivered[0]
    with pg_app.app_context():
        ls_task = db.session.get(Task, target.task_id).ls_task_id
    new_label = next(d for d in DEPARTMENTS if d != target.label)  # a real change, whatever was chosen
    corrected = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [new_label]}}]
    gateway._client.annotations.update(id=target.ls_annotation_id, result=corrected)  # as the LS UI does
    stranger = gateway._client.annotations.create(id=ls_task, result=corrected)  # by the LS admin
    with Client(live_platform, *people["manager"]) as manager:
        manager.wait(manager.post(f"/api/projects/{project['id']}/reconcile")["job"]["id"])
        flags = manager.get(f"/api/projects/{project['id']}/flags")["flags"]
    assert [f["ls_annotation_id"] for f in flags] == [stranger.id]
    with pg_app.app_context():
        ours = db.session.get(Annotation, target.id)
        assert ours.result == corrected and ours.label == new_label and ours.edited_in_ls_at is not None

