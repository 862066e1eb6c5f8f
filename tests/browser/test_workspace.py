"""The annotator's workspace in a real browser: start, label with the editor's hotkeys, submit with
Ctrl+Enter and with the Submit button, skip with a reason, reach "no task waiting"; the answers
are stored with their lead time, and no gold answer ever reaches the browser. The lease is
renewed only while the annotator is active, and its expiry is said clearly."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from accounts.models import Role
from extensions import db, utcnow
from tasks.distribution import expire_leases
from tasks.models import Annotation, Assignment, AssignmentStatus
from tests.browser.conftest import SCREENSHOTS
from tests.unit.test_workflow import CHOICES, new_project, upload

FIRST, SECOND, THIRD = "地铁末班车太早，晚上加班回家很不方便。", "小区旁边的学校什么时候开始招生？", "这条数据看不清楚。"
# Not a choice of the job, so it can appear nowhere in what is sent unless the gold answer leaks.
GOLD_ANSWER = "金标答案-仅供核对"
GOLD_TEXT = "公交线路调整后，老人去医院要换乘两次。"
EDITOR_TEXT = "#ls-editor .lsf-richtext__container"


@pytest.fixture
def manager_api(api_as):
    return api_as(Role.MANAGER)[1]


def published_job(manager, rows: str, **settings) -> dict:
    job = new_project(manager, overlap=2, **settings)
    assert upload(manager, job["id"], rows.encode(), gold_field="answer")["created"] == rows.count("\n") - 1
    assert manager.post(f"/api/projects/{job['id']}/publish").status_code == 202
    return job


@pytest.fixture
def sent_to_browser(app, monkeypatch):
    """Every page and API body the app sends (not the static/vendor files), as (path, text)."""
    sent: list[tuple[str, str]] = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        path = environ.get("PATH_INFO", "")
        chunks = inner(environ, start_response)
        if path.startswith(("/static/", "/vendor/")):
            return chunks
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        sent.append((path, body.decode("utf-8", "replace")))
        return [body]

    monkeypatch.setattr(app, "wsgi_app", recording)
    return sent


def shown_task(page) -> str:
    """The id of the task in the editor, once it is ready to label."""
    page.locator("#ls-editor[data-ready]").wait_for()
    return page.locator("#workspace").get_attribute("data-task-id")


def test_annotator_labels_skips_and_runs_out_of_work(annotator_page, annotator, manager_api, sent_to_browser):
    rows = f"text,answer\n{FIRST},\n{THIRD},\n{GOLD_TEXT},{GOLD_ANSWER}\n"
    job = published_job(manager_api, rows, gold_share=0.5, guidelines="## 分拨规则\n按**属地**分拨<script>window.hacked=1</script>")
    page = annotator_page
    page.get_by_role("link", name="标注工作台 / Workspace").click()
    page.wait_for_url("**/work")
    page.locator("#stat-total-accepted", has_text="0").wait_for()

    page.get_by_role("button", name="开始标注 / Start").click()
    page.locator(EDITOR_TEXT, has_text=FIRST).wait_for()
    shown_task(page)
    assert page.locator("#task-info").inner_text().startswith("市民来信分拨")
    guidelines = page.locator("#guidelines")
    assert guidelines.locator("strong").inner_text() == "属地"
    assert "<script>window.hacked=1</script>" in guidelines.inner_text()
    assert page.evaluate("window.hacked") is None
    assert page.get_by_role("button", name="下一条 / Next").is_disabled()  # the task in hand comes first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "workspace.png"))

    # First task: the hotkey "1" picks the first choice, Ctrl+Enter submits; the next task loads.
    page.wait_for_timeout(300)  # a lead time a person could have
    page.keyboard.press("1")
    page.locator("#ls-editor input[type=checkbox]:checked, #ls-editor input[type=radio]:checked").wait_for()
    page.keyboard.press("Control+Enter")
    page.locator(EDITOR_TEXT, has_text=GOLD_TEXT).wait_for()  # the gold task looks like any other
    assert "已提交" in page.locator("#message").inner_text()
    page.locator("#stat-today-accepted", has_text="1").wait_for()

    # Second task: Submit with nothing picked is refused and the work stays; then "2" and Submit.
    shown_task(page)
    page.get_by_role("button", name="Submit").click()
    page.locator("#error", has_text="result").wait_for()
    page.keyboard.press("2")
    # The editor ignores a second submit within half a second; its button shows when it listens again.
    page.locator("#ls-editor button:not([disabled])", has_text="Update").wait_for()
    page.keyboard.press("Control+Enter")
    page.locator(EDITOR_TEXT, has_text=THIRD).wait_for()
    assert page.locator("#error").inner_text() == ""

    # Third task: skip it, with a reason.
    shown_task(page)
    page.get_by_role("button", name="跳过… / Skip…").click()
    dialog = page.get_by_role("dialog", name="跳过这条任务 / Skip this task")
    dialog.get_by_role("button", name="确认跳过 / Skip it").click()
    dialog.get_by_text("请选择或填写原因 / Pick or write a reason").wait_for()
    dialog.get_by_label("其他原因 / Other reason").fill("字迹模糊 12")  # "1", "2" typed here pick no label
    dialog.get_by_role("button", name="确认跳过 / Skip it").click()

    page.get_by_text("暂时没有等待你标注的任务。 / No task is waiting for you.").wait_for()
    assert page.locator("#workspace").get_attribute("data-state") == "none"
    assert page.get_by_role("button", name="下一条 / Next").is_enabled()
    page.locator("#stat-total-accepted", has_text="2").wait_for()
    assert page.errors == []

    annotations = db.session.scalars(select(Annotation).where(Annotation.annotator_id == annotator.id)
                                     .order_by(Annotation.id)).all()
    assert [a.status.value for a in annotations] == ["accepted", "accepted"]
    assert [a.label for a in annotations] == CHOICES[:2]
    assert all(0.2 < a.lead_time < 120 for a in annotations), [a.lead_time for a in annotations]
    skipped = db.session.scalar(select(Assignment).where(Assignment.annotator_id == annotator.id,
                                                         Assignment.status == AssignmentStatus.SKIPPED))
    assert skipped.skip_reason == "字迹模糊 12"

    bodies = [text for path, text in sent_to_browser if path.startswith(("/api/tasks", "/work"))]
    assert any(GOLD_TEXT in text for text in bodies)  # the gold task itself was sent...
    assert not any(GOLD_ANSWER in text for _, text in sent_to_browser)  # ...its answer never was
    assert job["id"]


def test_lease_is_renewed_only_while_active_and_its_expiry_is_said(annotator_page, annotator, manager_api):
    published_job(manager_api, f"text,answer\n{FIRST},\n{SECOND},\n")
    page = annotator_page
    renewals = []
    page.on("request", lambda r: renewals.append(r.url) if r.method == "POST" and r.url.endswith("/lease") else None)
    page.clock.install()
    page.goto("/work")
    page.get_by_role("button", name="开始标注 / Start").click()
    task_id = int(shown_task(page))
    first_expiry = db.session.scalar(select(Assignment.expires_at).where(Assignment.task_id == task_id))

    # Active (the mouse moved), a minute passes: the lease is renewed.
    page.mouse.move(400, 400)
    with page.expect_response(lambda r: r.url.endswith(f"/api/tasks/{task_id}/lease")) as renewed:
        page.clock.run_for(61_000)
    assert renewed.value.ok
    db.session.expire_all()
    assert db.session.scalar(select(Assignment.expires_at).where(Assignment.task_id == task_id)) > first_expiry

    # Nobody at the keyboard for three minutes: no more renewals.
    count = len(renewals)
    page.clock.run_for(180_000)
    page.wait_for_timeout(200)
    assert len(renewals) == count

    # Meanwhile the lease ran out on the server: the next renewal says so, and Next is offered.
    db.session.execute(update(Assignment).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert expire_leases(db.session) == 1
    db.session.commit()
    page.mouse.move(500, 420)
    page.clock.run_for(61_000)
    page.locator("#error", has_text="租约已过期").wait_for()
    assert "Your lease on this task expired" in page.locator("#error").inner_text()
    assert page.get_by_role("button", name="下一条 / Next").is_enabled()
    assert page.get_by_role("button", name="跳过… / Skip…").is_disabled()

    # Next hands a new task.
    page.get_by_role("button", name="下一条 / Next").click()
    page.locator(EDITOR_TEXT, has_text=SECOND).wait_for()
    assert page.errors == []
