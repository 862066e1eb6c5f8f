"""Attacks a user could try, each refused: script in task text, labels and guidelines as the pages
render them; SQL in inputs; paths that climb out of the media store; ids that belong to someone
else (another annotator's task, another manager's job, an ungranted dataset)."""
from __future__ import annotations

import pytest

from accounts.models import Role
from tests.unit.test_qa_workflow import job, label_all
from tests.unit.test_workflow import CHOICES

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def test_script_in_task_text_labels_and_guidelines_is_shown_as_text(api_as, manager, fake_ls):
    texts = [f"恶意{SCRIPT}", "普通问题"]
    project = job(manager, texts, overlap=3, batch_size=10, guidelines=f"# 规范\n{SCRIPT}")
    for i in range(3):  # the first item splits three ways: it goes to review
        label_all(api_as(Role.ANNOTATOR)[1], {texts[0]: CHOICES[i], texts[1]: CHOICES[0]})
    pages = [manager.get(f"/projects/{project['id']}"), api_as(Role.REVIEWER)[1].get("/qa/review"),
             manager.get(f"/qa/projects/{project['id']}")]
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert" in pages[0].get_data(as_text=True)  # the guidelines, as text
    assert "&lt;script&gt;alert" in pages[1].get_data(as_text=True)  # the disputed item, as text


def test_label_names_with_markup_are_escaped_in_the_review_queue(api_as, manager, fake_ls):
    evil = '<b onmouseover="alert(1)">甲</b>'
    reply = manager.post("/api/projects", json={"title": "标签注入", "overlap": 2, "template": {
        "type": "text_classification", "choices": [evil, "乙"]}})
    assert reply.status_code == 201, reply.json
    from tests.unit.test_workflow import upload
    upload(manager, reply.json["id"], "text\n一条\n".encode())
    manager.post(f"/api/projects/{reply.json['id']}/publish")
    for label in (evil, "乙"):
        _, annotator = api_as(Role.ANNOTATOR)
        task = annotator.get("/api/tasks/next").json["task"]
        annotator.post(f"/api/tasks/{task['id']}/annotations", json={"result": [
            {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]})
    html = api_as(Role.REVIEWER)[1].get("/qa/review").get_data(as_text=True)
    assert '<b onmouseover' not in html and "&lt;b onmouseover" in html


@pytest.mark.parametrize("path", ["/media/..%2F..%2Fetc%2Fpasswd", "/media/../../etc/passwd",
                                  "/media/%2e%2e%2fsecrets.env", "/media/" + "a" * 64 + ".png%00.txt"])
def test_media_paths_cannot_climb_out_of_the_store(api_as, path):
    reply = api_as(Role.ANNOTATOR)[1].get(path)
    assert reply.status_code == 404


def test_sql_in_inputs_is_just_text(app, api_as, manager):
    injected = "x' OR '1'='1"
    assert app.test_client().post("/api/accounts/tokens", auth=(injected, injected)).status_code == 401
    created = manager.post("/api/projects", json={"title": f"标题{injected}; DROP TABLE task;--",
                                                  "template": {"type": "text_classification", "choices": ["甲", "乙"]}})
    assert created.status_code == 201 and "DROP TABLE" in manager.get(f"/api/projects/{created.json['id']}").json["title"]
    assert manager.get("/api/projects/1%20OR%201=1").status_code == 404
    assert manager.get("/api/qa/review?project_id=1%20OR%201=1").status_code in (200, 403, 404)


def test_ids_belonging_to_someone_else_are_not_found(api_as, manager, fake_ls):
    project = job(manager, ["一", "二"], overlap=1)
    _, first = api_as(Role.ANNOTATOR)
    _, second = api_as(Role.ANNOTATOR)
    task = first.get("/api/tasks/next").json["task"]
    assert second.get(f"/api/tasks/{task['id']}").status_code == 404  # another annotator's task
    assert second.post(f"/api/tasks/{task['id']}/annotations", json={"result": []}).status_code == 404
    _, other_manager = api_as(Role.MANAGER)
    for path in (f"/api/projects/{project['id']}", f"/api/qa/projects/{project['id']}/runs",
                 f"/projects/{project['id']}", f"/qa/projects/{project['id']}"):
        assert other_manager.get(path).status_code == 404, path
    assert first.get(f"/api/projects/{project['id']}").status_code == 403  # annotators: not their API
    buyer = api_as(Role.BUYER)[1]
    assert buyer.get("/api/exports/1").status_code == 404 and buyer.get("/api/workforce/annotators").status_code == 403


def test_malformed_bodies_and_huge_ids_are_clear_4xx_not_500(app, api_as, manager, fake_ls):
    job(manager, ["一"], overlap=1)
    _, annotator = api_as(Role.ANNOTATOR)
    task = annotator.get("/api/tasks/next").json["task"]
    assert annotator.post(f"/api/tasks/{task['id']}/skip", json=["reason"]).status_code == 422
    assert annotator.get(f"/api/tasks/{10 ** 30}").status_code == 422
    assert manager.get(f"/api/projects/{10 ** 30}").status_code == 422
    client = app.test_client()
    user, _ = api_as(Role.BUYER)
    from tests.conftest import PASSWORD
    assert client.post("/api/accounts/tokens", auth=(user.username, PASSWORD), json=[1]).status_code == 422
    assert client.post("/api/accounts/tokens", auth=(user.username, PASSWORD), json={"name": 5}).status_code == 422
    assert client.post("/api/accounts/tokens", auth=(user.username, PASSWORD)).status_code == 201
