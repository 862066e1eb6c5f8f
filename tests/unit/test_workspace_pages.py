"""The annotator's workspace (`/work`) and its task context endpoint: only annotators get them, the
context only for a task handed to the caller, guidelines stay text, and no gold answer is sent."""
from __future__ import annotations

import json

import pytest

from accounts.models import Role
from extensions import db
from projects.models import Project, ProjectStatus
from tests.unit.test_project_pages import signed_in
from tests.unit.test_workflow import CHOICES, choice, new_project, upload

CONTEXT = "/work/api/tasks/{id}/context"
# Not a choice of the job, so it can turn up in a reply only if the gold answer leaks.
GOLD_ANSWER = "金标答案-仅供核对"


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


@pytest.fixture
def annotator(app, api_as):
    """An annotator's browser session (for the pages) and API client (for submitting), one person."""
    user, api = api_as(Role.ANNOTATOR)
    return signed_in(app, user), api


def published(manager, rows: str, **settings) -> dict:
    job = new_project(manager, **settings)
    upload(manager, job["id"], rows.encode(), gold_field="answer")
    assert manager.post(f"/api/projects/{job['id']}/publish").status_code == 202
    return manager.get(f"/api/projects/{job['id']}").json


def test_the_workspace_is_for_annotators_only(app, api_as, annotator):
    urls = ("/work", CONTEXT.format(id=1))
    anonymous = app.test_client()
    for url in urls:
        away = anonymous.get(url)
        assert away.status_code == 302 and away.headers["Location"].endswith("/accounts/login"), url
    for role in (Role.MANAGER, Role.BUYER, Role.ADMIN, Role.REVIEWER):
        client = signed_in(app, api_as(role)[0])
        assert [client.get(url).status_code for url in urls] == [403, 403], role
        assert 'href="/work"' not in client.get("/home").get_data(as_text=True), role
        _, token_client = api_as(role)
        assert token_client.get(CONTEXT.format(id=1)).status_code == 403, role

    session, _ = annotator
    page = session.get("/work")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "开始标注 / Start" in html and 'data-stats-url="/api/workforce/me"' in html
    assert "/vendor/label-studio/main.js" in html and "js/workspace.js" in html
    assert 'href="/work"' in session.get("/home").get_data(as_text=True)  # the nav link


def test_the_context_is_given_only_for_a_task_handed_to_the_caller(app, manager, annotator, api_as, fake_ls):
    job = published(manager, "text,answer\n第一条,\n第二条,\n", overlap=1,
                    guidelines="## 规则\n按**属地**分拨<img src=x onerror=alert(1)>")
    session, _ = annotator
    mine = session.get("/api/tasks/next").json["task"]
    theirs = signed_in(app, api_as(Role.ANNOTATOR)[0]).get("/api/tasks/next").json["task"]
    assert mine["id"] != theirs["id"]

    reply = session.get(CONTEXT.format(id=mine["id"]))
    assert reply.status_code == 200
    context = reply.json
    assert context["config"] == job["label_config"] and context["project_title"] == "市民来信分拨"
    assert context["guidelines_version"] == job["guidelines_version"] == 1
    html = context["guidelines_markdown_html"]
    assert "<strong>属地</strong>" in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert context["lease"]["status"] == "leased" and 890 < context["lease"]["expires_in"] <= 900
    assert context["lease"]["seconds"] == 900

    for task_id in (theirs["id"], 999_999):
        refused = session.get(CONTEXT.format(id=task_id), headers={"Accept": "application/json"})
        assert refused.status_code == 404 and "config" not in refused.json, task_id
        assert "第二条" not in refused.get_data(as_text=True) and "第一条" not in refused.get_data(as_text=True)

    # A job that is no longer active hands out no config either.
    project = db.session.get(Project, job["id"])
    project.status = ProjectStatus.PAUSED
    db.session.commit()
    assert session.get(CONTEXT.format(id=mine["id"])).status_code == 404


def test_no_gold_answer_reaches_the_annotator(manager, annotator, fake_ls):
    published(manager, f"text,answer\n普通问题一,\n普通问题二,\n金标准问题,{GOLD_ANSWER}\n", gold_share=0.5)
    session, api = annotator
    sent = [session.get("/work").get_data(as_text=True)]
    handed = []
    while (reply := session.get("/api/tasks/next")).json["task"]:
        task = reply.json["task"]
        handed.append(task["data"]["text"])
        assert set(task) == {"id", "project_id", "data", "lease"}
        context = session.get(CONTEXT.format(id=task["id"]))
        assert not any("gold" in key for key in context.json)
        submitted = api.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[0]), "lead_time": 3.5})
        assert submitted.status_code == 201
        sent += [json.dumps(body.json, ensure_ascii=False) for body in (reply, context, submitted)]
        sent.append(session.get(f"/api/tasks/{task['id']}").get_data(as_text=True))
    sent.append(session.get("/work").get_data(as_text=True))

    assert "金标准问题" in handed and len(handed) == 3  # the gold task was handed out, like any other
    assert not [text for text in sent if GOLD_ANSWER in text]
    assert not [text for text in sent if "gold_answer" in text or "is_gold" in text]
