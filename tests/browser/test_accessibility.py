"""Accessible basics on every main page, for each role: every form control has a label (or an
accessible name), every button and link says what it does, images have alternative text, the
page declares its language, and the first control can be reached with the keyboard."""
from __future__ import annotations

import pytest

from accounts.models import Role
from tests.browser.conftest import sign_in
from tests.unit.test_qa_workflow import job, label_all
from tests.unit.test_workflow import CHOICES

UNNAMED = """() => {
  const name = (el) => (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                        || (el.labels && el.labels.length) || el.title || el.innerText || el.value || el.alt || '').toString().trim();
  const shown = (el) => el.offsetParent !== null && el.type !== 'hidden';
  const bad = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (shown(el) && !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.labels && el.labels.length)))
      bad.push(el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('button, a[href]')) if (shown(el) && !name(el)) bad.push(el.outerHTML.slice(0, 120));
  for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) bad.push(el.outerHTML.slice(0, 120));
  return bad;
}"""


@pytest.fixture
def world(api_as, fake_ls):
    manager_user, manager = api_as(Role.MANAGER)
    project = job(manager, ["路灯不亮", "噪音扰民"], overlap=2, batch_size=10)
    for i in range(2):
        label_all(api_as(Role.ANNOTATOR)[1], {"路灯不亮": CHOICES[0], "噪音扰民": CHOICES[i]})
    built = manager.post("/api/exports", json={"project_ids": [project["id"]]}).json
    manager.post(f"/api/exports/{built['dataset']['id']}/publish")
    return {"manager": manager_user, "project": project["id"], "dataset": built["dataset"]["id"]}


@pytest.mark.parametrize("role,paths", [
    (Role.MANAGER, ["/home", "/projects", "/projects/new", "/projects/{project}", "/projects/{project}/edit",
                    "/qa/projects/{project}", "/datasets", "/datasets/{dataset}", "/api/docs"]),
    (Role.ANNOTATOR, ["/home", "/work"]),
    (Role.REVIEWER, ["/home", "/qa/review"]),
    (Role.BUYER, ["/home", "/datasets", "/datasets/{dataset}"]),
    (Role.ADMIN, ["/admin/users", "/admin/system"]),
])
def test_pages_name_their_controls_and_declare_their_language(page, api_as, world, role, paths):
    user = world["manager"] if role == Role.MANAGER else api_as(role)[0]
    sign_in(page, user)
    for path in paths:
        page.goto(path.format(**world))
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNNAMED) == [], path
        assert page.get_attribute("html", "lang") in ("zh-CN", "en"), path
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement && document.activeElement !== document.body")
    assert page.errors == []
