"""QA and datasets in a real browser: the manager reads a job's quality page, a reviewer settles a
disputed item in the review queue, the manager builds and publishes a dataset version, a buyer
requests access, is granted it and downloads a file through its signed link."""
from __future__ import annotations

import json

import pytest

from accounts.models import Role
from tests.browser.conftest import sign_in
from tests.unit.test_qa_workflow import job, label_all
from tests.unit.test_workflow import CHOICES


@pytest.fixture
def labeled_job(api_as):
    """Two items labeled by three annotators: one unanimous, one split three ways (to review)."""
    manager_user, manager = api_as(Role.MANAGER)
    project = job(manager, ["路灯不亮", "噪音扰民"], overlap=3, batch_size=10)
    votes = [{"路灯不亮": CHOICES[0], "噪音扰民": CHOICES[0]}, {"路灯不亮": CHOICES[0], "噪音扰民": CHOICES[1]},
             {"路灯不亮": CHOICES[0], "噪音扰民": CHOICES[2]}]
    for answers in votes:
        label_all(api_as(Role.ANNOTATOR)[1], answers)
    return manager_user, manager, project


def test_manager_reads_quality_and_a_reviewer_decides(page, api_as, labeled_job):
    manager_user, _, project = labeled_job
    sign_in(page, manager_user)
    page.goto(f"/qa/projects/{project['id']}")
    page.get_by_role("heading", name="标注员两两一致 / Annotator agreement heatmap").wait_for()
    assert page.locator("table.heatmap td.heat").count() == 9  # 3 annotators x 3
    assert "Review queue (1)" in page.content()
    page.context.clear_cookies()
    reviewer = api_as(Role.REVIEWER)[0]
    sign_in(page, reviewer)
    page.get_by_role("link", name="审核 / Review").click()
    item = page.locator("section.review-item")
    assert item.count() == 1 and "噪音扰民" in item.inner_text()
    item.get_by_label(CHOICES[3]).check()
    item.get_by_label("说明 / Note").fill("按规范第二条")
    item.get_by_role("button", name="确定 / Decide").click()
    page.get_by_text(f"最终标签：{CHOICES[3]} / Final label: {CHOICES[3]}").wait_for()
    page.reload()
    assert "没有待审核的条目" in page.content()
    assert page.errors == []


def test_a_buyer_requests_is_granted_and_downloads(page, api_as, labeled_job):
    manager_user, manager, project = labeled_job
    sign_in(page, manager_user)
    page.goto(f"/datasets?project_id={project['id']}")
    page.get_by_label("名称 / Name").fill("市民来信分拨")
    page.get_by_label("许可 / License").fill("CC BY 4.0")
    page.get_by_label("划分 / Split (train, validation, test)").fill("1, 0, 0")
    page.get_by_role("button", name="生成 / Build").click()
    page.wait_for_url("**/datasets/*")
    page.get_by_role("heading", name="质量护照 / Quality passport").wait_for()
    page.get_by_role("button", name="发布到目录 / Publish to the catalog").click()
    page.get_by_text("已发布 / Published in the catalog.").wait_for()
    dataset_url = page.url
    page.context.clear_cookies()
    buyer = api_as(Role.BUYER)[0]
    sign_in(page, buyer)
    page.get_by_role("link", name="数据集 / Datasets").click()
    page.get_by_role("link", name="市民来信分拨").click()
    page.get_by_label("用途说明 / What you will use it for").fill("训练分拨模型")
    page.get_by_role("button", name="申请访问 / Request access").click()
    page.get_by_text("已申请，等待审批 / requested, waiting").wait_for()
    page.context.clear_cookies()
    sign_in(page, manager_user)
    page.goto(dataset_url)
    page.get_by_role("button", name="授权 / Grant").first.click()
    page.get_by_text("granted").wait_for()
    page.context.clear_cookies()
    sign_in(page, buyer)
    page.goto(dataset_url)
    with page.expect_download() as download:
        page.get_by_role("link", name="jsonl/train.jsonl").click()
    with open(download.value.path(), encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    assert [r["data"]["text"] for r in rows] == ["路灯不亮"]  # the disputed item awaits review
    assert page.errors == []
