"""Each role's home page: the manager's dashboard (jobs, throughput, agreement over time, labels,
leaderboard), and the annotator's, reviewer's and buyer's starting points."""
from __future__ import annotations

import pytest

from accounts.models import Role
from tests.unit.test_qa_workflow import job, label_all
from tests.unit.test_workflow import CHOICES


@pytest.fixture
def worked(api_as, fake_ls):
    manager_user, manager = api_as(Role.MANAGER)
    project = job(manager, ["路灯不亮", "噪音扰民"], overlap=3, batch_size=10)
    annotators = [api_as(Role.ANNOTATOR, display_name=f"标注员{i}") for i in range(3)]
    for i, (_, annotator) in enumerate(annotators):
        label_all(annotator, {"路灯不亮": CHOICES[0], "噪音扰民": CHOICES[i]})
    return manager, project, annotators


def test_the_managers_dashboard_shows_jobs_throughput_quality_and_leaders(worked, api_as):
    manager, project, _ = worked
    html = manager.get("/home").get_data(as_text=True)
    assert project["title"] in html and html.count('<svg class="chart"') == 3
    assert "标注员0" in html and "Annotator leaderboard" in html
    assert "待审核 / Review queue: 1" in html
    _, other = api_as(Role.MANAGER)
    assert project["title"] not in other.get("/home").get_data(as_text=True)  # only their own jobs


def test_annotator_reviewer_and_buyer_homes(worked, api_as):
    _, project, annotators = worked
    mine = annotators[0][1].get("/home").get_data(as_text=True)
    assert "Start labeling" in mine and "My work" in mine and '<svg class="chart"' in mine
    reviewer = api_as(Role.REVIEWER)[1].get("/home").get_data(as_text=True)
    assert project["title"] in reviewer  # one disputed item waits in this job's queue
    buyer = api_as(Role.BUYER)[1].get("/home").get_data(as_text=True)
    assert "Browse the catalog" in buyer and project["title"] not in buyer
