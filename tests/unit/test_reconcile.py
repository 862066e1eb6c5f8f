"""Reconciling with Label Studio: edits come back, direct work by the assignee is taken in,
anything else is flagged, and a rerun changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts.models import Role, User
from extensions import db
from tasks.jobs import redeliver_pending
from tasks.models import Annotation, Task
from tests.unit.test_workflow import CHOICES, choice, published_project


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def test_edits_come_back_and_strangers_are_flagged(api_as, manager, fake_ls):
    project = published_project(manager, items=2)
    user, annotator = api_as(Role.ANNOTATOR)
    task = annotator.get("/api/tasks/next").json["task"]
    annotator.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[0])})
    redeliver_pending()
    (ls_id, delivered), = fake_ls.annotations.items()
    delivered["result"] = choice(CHOICES[3])  # a manager corrects it in Label Studio
    other = db.session.scalar(select(Task).where(Task.id != task["id"]))
    fake_ls.annotations[999] = {"task": other.ls_task_id, "our_id": None, "completed_by": 4242,
                                "result": choice(CHOICES[1])}  # someone labels in Label Studio directly
    job = manager.post(f"/api/projects/{project['id']}/reconcile")
    assert manager.get(job.json["status_url"]).json["status"] == "finished"
    db.session.expire_all()
    ours = db.session.scalar(select(Annotation))
    assert ours.label == CHOICES[3] and ours.edited_in_ls_at is not None
    flags = manager.get(f"/api/projects/{project['id']}/flags").json["flags"]
    assert [(f["ls_annotation_id"], f["task_id"]) for f in flags] == [(999, other.id)]
    assert "unknown to Qianling" in flags[0]["reason"]
    manager.post(f"/api/projects/{project['id']}/reconcile")  # idempotent
    assert len(manager.get(f"/api/projects/{project['id']}/flags").json["flags"]) == 1
    assert db.session.query(Annotation).count() == 1


def test_work_done_in_label_studio_by_the_assignee_is_taken_in(api_as, manager, fake_ls):
    project = published_project(manager, items=1)
    user, annotator = api_as(Role.ANNOTATOR)
    task = annotator.get("/api/tasks/next").json["task"]  # the lease is theirs
    ls_user = fake_ls.ensure_user(user.email, user.username, "x")
    db.session.get(User, user.id).ls_user_id = ls_user  # `user` belongs to an ended request's session
    db.session.commit()
    ls_task = db.session.get(Task, task["id"]).ls_task_id
    fake_ls.annotations[555] = {"task": ls_task, "our_id": None, "completed_by": ls_user, "result": choice(CHOICES[2])}
    manager.post(f"/api/projects/{project['id']}/reconcile")
    db.session.expire_all()
    taken = db.session.scalar(select(Annotation))
    assert taken.annotator_id == user.id and taken.ls_annotation_id == 555 and taken.status.value == "accepted"
    assert db.session.get(Task, task["id"]).annotation_count == 1
    assert manager.get(f"/api/projects/{project['id']}/flags").json["flags"] == []
