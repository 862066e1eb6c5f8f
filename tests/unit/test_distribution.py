"""The pull queue's leases: expiry frees the slot, late submits are handled explicitly, skips
and renewals work, and a raised overlap reopens tasks."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from accounts.models import Role
from extensions import db, utcnow
from tasks.distribution import expire_leases
from tasks.models import Annotation, Assignment, Task
from tests.unit.test_workflow import CHOICES, choice, published_project


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def _age_leases() -> None:
    db.session.execute(update(Assignment).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def test_an_expired_lease_frees_its_slot_and_a_late_submit_becomes_extra(api_as, manager, fake_ls):
    project = published_project(manager, items=1, overlap=1)
    _, slow = api_as(Role.ANNOTATOR)
    _, fast = api_as(Role.ANNOTATOR)
    task = slow.get("/api/tasks/next").json["task"]
    assert fast.get("/api/tasks/next").json["task"] is None
    _age_leases()
    assert expire_leases(db.session) == 1
    db.session.commit()
    taken = fast.get("/api/tasks/next").json["task"]
    assert taken["id"] == task["id"]
    assert fast.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[0])}).json["status"] == "accepted"
    late = slow.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[1])})
    assert late.status_code == 201 and late.json["status"] == "extra" and "expired" in late.json["message"]
    row = db.session.get(Task, task["id"])
    assert (row.annotation_count, row.slots_taken) == (1, 1)
    statuses = sorted(a.status.value for a in db.session.scalars(select(Annotation)))
    assert statuses == ["accepted", "extra"]
    assert project["overlap"] == 1


def test_a_late_submit_is_accepted_while_the_slot_is_still_free(api_as, manager, fake_ls):
    published_project(manager, items=1, overlap=1)
    _, slow = api_as(Role.ANNOTATOR)
    task = slow.get("/api/tasks/next").json["task"]
    _age_leases()
    expire_leases(db.session)
    db.session.commit()
    late = slow.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[1])})
    assert late.json["status"] == "accepted"
    assert db.session.get(Task, task["id"]).slots_taken == 1


def test_skip_needs_a_reason_and_frees_the_slot_for_someone_else(api_as, manager, fake_ls):
    published_project(manager, items=1, overlap=1)
    _, first = api_as(Role.ANNOTATOR)
    _, second = api_as(Role.ANNOTATOR)
    task = first.get("/api/tasks/next").json["task"]
    assert first.post(f"/api/tasks/{task['id']}/skip", json={}).status_code == 422
    assert first.post(f"/api/tasks/{task['id']}/skip", json={"reason": "字迹不清"}).status_code == 200
    assert first.get("/api/tasks/next").json["task"] is None  # not offered to them again
    assert second.get("/api/tasks/next").json["task"]["id"] == task["id"]
    refused = first.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[0])})
    assert refused.status_code == 409 and "skipped" in refused.json["message"]


def test_renew_extends_a_live_lease_only(api_as, manager, fake_ls):
    published_project(manager, items=1)
    _, annotator = api_as(Role.ANNOTATOR)
    task = annotator.get("/api/tasks/next").json["task"]
    renewed = annotator.post(f"/api/tasks/{task['id']}/lease")
    assert renewed.status_code == 200 and renewed.json["expires_at"] >= task["lease"]["expires_at"]
    _age_leases()
    expire_leases(db.session)
    db.session.commit()
    assert annotator.post(f"/api/tasks/{task['id']}/lease").status_code == 409


def test_raising_the_overlap_reopens_full_tasks(api_as, manager, fake_ls):
    project = published_project(manager, items=1, overlap=1)
    _, one = api_as(Role.ANNOTATOR)
    _, two = api_as(Role.ANNOTATOR)
    task = one.get("/api/tasks/next").json["task"]
    one.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[0])})
    assert two.get("/api/tasks/next").json["task"] is None
    manager.patch(f"/api/projects/{project['id']}", json={"overlap": 2})
    assert two.get("/api/tasks/next").json["task"]["id"] == task["id"]


def _work(annotator, limit: int = 100) -> list[dict]:
    """Take and answer tasks until none is left (or `limit`); return the tasks seen."""
    seen = []
    while len(seen) < limit and (task := annotator.get("/api/tasks/next").json["task"]):
        seen.append(task)
        assert annotator.post(f"/api/tasks/{task['id']}/annotations",
                              json={"result": choice(CHOICES[0])}).status_code == 201
    return seen


def test_gold_tasks_are_mixed_in_at_the_jobs_rate_and_look_alike(api_as, manager, fake_ls):
    from tests.unit.test_workflow import new_project, upload

    project = new_project(manager, gold_share=0.25)
    rows = "text,answer\n" + "".join(f"普通问题{i},\n" for i in range(9)) + "金标准一,教育\n金标准二,交通运输\n"
    upload(manager, project["id"], rows.encode(), gold_field="answer")
    manager.post(f"/api/projects/{project['id']}/publish")
    _, annotator = api_as(Role.ANNOTATOR)
    seen = _work(annotator)
    gold_ids = set(db.session.scalars(select(Task.id).where(Task.is_gold.is_(True))))
    positions = [i + 1 for i, task in enumerate(seen) if task["id"] in gold_ids]
    assert positions == [4, 8]  # every 4th task while gold remains
    assert all(set(task) == set(seen[0]) for task in seen)  # same shape: indistinguishable
    assert len(seen) == 11


def test_caps_limit_how_much_of_a_job_one_person_takes(api_as, manager, fake_ls):
    project = published_project(manager, items=6, overlap=1)
    manager.patch(f"/api/projects/{project['id']}", json={"max_tasks_per_annotator": 2})
    _, first = api_as(Role.ANNOTATOR)
    assert len(_work(first)) == 2
    manager.patch(f"/api/projects/{project['id']}", json={"max_tasks_per_annotator": None,
                                                          "max_share_per_annotator": 0.5})
    assert len(_work(first)) == 1  # half of 6 tasks x overlap 1 = 3 in all
    _, second = api_as(Role.ANNOTATOR)
    assert len(_work(second)) == 3


def test_batches_assigned_by_hand_go_only_to_their_members(api_as, manager, fake_ls):
    project = published_project(manager, items=4, overlap=1)
    chosen_user, chosen = api_as(Role.ANNOTATOR)
    _, other = api_as(Role.ANNOTATOR)
    (batch,) = manager.get(f"/api/projects/{project['id']}/batches").json["batches"]
    reply = manager.post(f"/api/projects/{project['id']}/batches/{batch['id']}/assignees",
                         json={"usernames": [chosen_user.username]})
    assert reply.status_code == 200 and reply.json["batches"][0]["assignees"] == [chosen_user.username]
    assert other.get("/api/tasks/next").json["task"] is None
    assert len(_work(chosen)) == 4
    bad = manager.post(f"/api/projects/{project['id']}/batches/{batch['id']}/assignees",
                       json={"usernames": ["nobody-here"]})
    assert bad.status_code == 422 and "nobody-here" in bad.json["message"]


def test_paused_annotators_get_the_reason_and_skills_gate_jobs(api_as, manager, fake_ls):
    _, admin = api_as(Role.ADMIN)
    project = published_project(manager, items=2)
    manager.patch(f"/api/projects/{project['id']}", json={"required_skills": ["电力巡检"]})
    user, annotator = api_as(Role.ANNOTATOR)
    assert annotator.get("/api/tasks/next").json["task"] is None  # lacks the skill
    admin.patch(f"/api/workforce/annotators/{user.id}", json={"skills": {"电力巡检": 2}})
    assert annotator.get("/api/tasks/next").json["task"] is not None
    third_user, third = api_as(Role.ANNOTATOR)
    admin.patch(f"/api/workforce/annotators/{third_user.id}", json={"skills": {"电力巡检": 1}})
    assert admin.post(f"/api/workforce/annotators/{third_user.id}/pause", json={"reason": "培训中"}).status_code == 200
    refused = third.get("/api/tasks/next")
    assert refused.status_code == 403 and "培训中" in refused.json["message"]


def test_exam_questions_are_never_used_as_honeypots(api_as, manager, fake_ls):
    from tests.unit.test_workflow import new_project, upload
    from workforce.models import Exam

    project = new_project(manager, gold_share=0.5)
    rows = "text,answer\n" + "".join(f"普通问题{i},\n" for i in range(4)) + "".join(
        f"金标准{i},教育\n" for i in range(4))
    upload(manager, project["id"], rows.encode(), gold_field="answer")
    manager.post(f"/api/projects/{project['id']}/publish")
    gold = sorted(db.session.scalars(select(Task.id).where(Task.is_gold.is_(True))))
    db.session.add(Exam(project_id=project["id"], skill="政务", level=1, pass_mark=0.8, cooldown_hours=24,
                        task_ids=gold[:3]))
    db.session.commit()
    _, annotator = api_as(Role.ANNOTATOR)
    seen = {task["id"] for task in _work(annotator)}
    assert seen & set(gold) == {gold[3]}


def test_daily_capacity_is_enforced(api_as, manager, fake_ls):
    published_project(manager, items=4, overlap=1)
    _, admin = api_as(Role.ADMIN)
    user, annotator = api_as(Role.ANNOTATOR)
    admin.patch(f"/api/workforce/annotators/{user.id}", json={"daily_capacity": 2})
    assert len(_work(annotator, limit=2)) == 2
    refused = annotator.get("/api/tasks/next")
    assert refused.status_code == 409 and "daily capacity" in refused.json["message"]


def test_batches_can_go_to_a_team(api_as, manager, fake_ls):
    project = published_project(manager, items=2, overlap=1)
    member_user, member = api_as(Role.ANNOTATOR)
    _, outsider = api_as(Role.ANNOTATOR)
    made = manager.post("/api/workforce/teams", json={"name": "贵阳一组", "usernames": [member_user.username]})
    assert made.status_code == 201 and made.json["teams"] == [{"name": "贵阳一组", "members": [member_user.username]}]
    (batch,) = manager.get(f"/api/projects/{project['id']}/batches").json["batches"]
    reply = manager.post(f"/api/projects/{project['id']}/batches/{batch['id']}/assignees", json={"teams": ["贵阳一组"]})
    assert reply.json["batches"][0]["assignees"] == [member_user.username]
    assert outsider.get("/api/tasks/next").json["task"] is None
    assert member.get("/api/tasks/next").json["task"] is not None
    missing = manager.post(f"/api/projects/{project['id']}/batches/{batch['id']}/assignees", json={"teams": ["无此组"]})
    assert missing.status_code == 409 and "无此组" in missing.json["message"]
