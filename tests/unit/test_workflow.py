"""The thin slice on SQLite with inline jobs and an in-memory Label Studio: job, data, labels,
QA, dataset, buyer. The same slice runs against the real services in tests/integration."""
from __future__ import annotations

import io
import json

import pytest

from accounts.models import Role
from demo.samples import DEPARTMENTS, questions_csv
from extensions import db
from tasks.jobs import redeliver_pending
from tasks.models import Annotation, Task

CHOICES = list(DEPARTMENTS)


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def new_project(manager, overlap: int = 3, **extra) -> dict:
    reply = manager.post("/api/projects", json={"title": "市民来信分拨", "overlap": overlap,
                                                 "template": {"type": "text_classification", "choices": CHOICES},
                                                 **extra})
    assert reply.status_code == 201, reply.json
    return reply.json


def upload(manager, project_id: int, content: bytes, name: str = "questions.csv", **form) -> dict:
    """Upload a file; the import job runs inline in unit tests, so the report is final."""
    reply = manager.post(f"/api/projects/{project_id}/uploads",
                         data={"file": (io.BytesIO(content), name), **form}, content_type="multipart/form-data")
    assert reply.status_code == 202, reply.json
    return reply.json["upload"]


def published_project(manager, items: int = 6, overlap: int = 3) -> dict:
    project = new_project(manager, overlap)
    assert upload(manager, project["id"], questions_csv(items))["created"] == items
    reply = manager.post(f"/api/projects/{project['id']}/publish")
    assert reply.status_code == 202
    assert manager.get(reply.json["status_url"]).json["status"] == "finished"
    return manager.get(f"/api/projects/{project['id']}").json


def test_create_job_checks_its_definition(manager):
    bad = manager.post("/api/projects", json={"title": "x1", "label_config": "<View><Text name='t' value='$text'/>"})
    assert bad.status_code == 422 and "malformed XML" in bad.json["message"]
    no_target = manager.post("/api/projects", json={
        "title": "x2", "label_config": "<View><Text name='t' value='$text'/><Choices name='c' toName='zz'>"
                                       "<Choice value='a'/></Choices></View>"})
    assert no_target.status_code == 422 and "toName='zz'" in no_target.json["message"]
    overlap = manager.post("/api/projects", json={"title": "x3", "overlap": 0,
                                                   "template": {"type": "text_classification", "choices": CHOICES}})
    assert overlap.status_code == 422 and overlap.json["message"].startswith("overlap")


def test_upload_is_all_or_nothing_and_skips_known_items(manager):
    project = new_project(manager)
    bad = upload(manager, project["id"], "text,source\n第一条,市长信箱\n第二条,网站,多余\n第三条,热线\n".encode())
    assert bad["phase"] == "rejected" and bad["created"] == 0 and bad["error_count"] == 1
    assert bad["errors"][0].startswith("questions.csv, line 3")
    assert manager.get(f"/api/projects/{project['id']}").json["tasks"] == 0
    skipped = upload(manager, project["id"], "text,source\n第一条,市长信箱\n第二条,网站,多余\n".encode(),
                     skip_bad_rows="true")
    assert skipped["phase"] == "done" and skipped["created"] == 1 and skipped["error_count"] == 1
    first = upload(manager, project["id"], questions_csv(5))
    assert first["created"] == 5
    again = upload(manager, project["id"], questions_csv(8))  # the first 5 are the same items
    assert again["created"] == 3 and again["duplicates"] == 5
    assert again["duplicate_rows"][0] == "questions.csv, line 2: already in this job"
    within = upload(manager, project["id"], "text\n重复的问题\n重复的问题\n".encode())
    assert within["created"] == 1 and within["duplicates"] == 1
    gbk = upload(manager, project["id"], "text\n路灯不亮了，请尽快修理\n".encode("gbk"), "excel.csv")
    assert gbk["phase"] == "done" and gbk["created"] == 1


def test_managers_see_only_their_own_jobs(api_as, manager):
    project = new_project(manager)
    _, other = api_as(Role.MANAGER)
    assert other.get(f"/api/projects/{project['id']}").status_code == 404
    assert other.post(f"/api/projects/{project['id']}/publish").status_code == 404
    assert project["id"] not in [p["id"] for p in other.get("/api/projects").json["projects"]]


def test_publish_pushes_tasks_once(manager, fake_ls):
    project = published_project(manager, items=4)
    assert project["status"] == "active" and project["ls_project_id"] in fake_ls.projects
    again = manager.post(f"/api/projects/{project['id']}/publish")
    assert manager.get(again.json["status_url"]).json["status"] == "finished"
    assert fake_ls.task_count(project["ls_project_id"]) == 4


def test_imports_and_publishes_refresh_the_planner_statistics(manager, fake_ls, monkeypatch):
    """Both bulk writes of tasks end with `refresh_statistics(task)` (a no-op on SQLite; on
    PostgreSQL the pull queue is planned on what they wrote: tests/integration/test_pull_queue_postgres.py);
    a publish with nothing new to push does not."""
    from projects import imports, jobs

    refreshed = []
    for module in (imports, jobs):
        monkeypatch.setattr(module, "refresh_statistics",
                            lambda _session, *models, where=module.__name__: refreshed.append((where, models)))
    project = published_project(manager, items=3)
    assert refreshed == [("projects.imports", (Task,)), ("projects.jobs", (Task,))]
    manager.post(f"/api/projects/{project['id']}/publish")
    assert len(refreshed) == 2


def test_overlap_and_one_annotation_per_person(api_as, manager, fake_ls):
    project = published_project(manager, items=1, overlap=2)
    annotators = [api_as(Role.ANNOTATOR)[1] for _ in range(3)]
    first = annotators[0].get("/api/tasks/next", query_string={"project_id": project["id"]}).json["task"]
    assert "gold_answer" not in first and first["lease"]["status"] == "leased"
    again = annotators[0].get("/api/tasks/next").json["task"]
    assert again["id"] == first["id"]  # asking again returns the lease already held
    second = annotators[1].get("/api/tasks/next").json["task"]
    assert second["id"] == first["id"]
    assert annotators[2].get("/api/tasks/next").json["task"] is None  # both slots are leased
    assert annotators[2].get(f"/api/tasks/{first['id']}").status_code == 404  # not theirs to see
    stranger = annotators[2].post(f"/api/tasks/{first['id']}/annotations", json={"result": choice(CHOICES[0])})
    assert stranger.status_code == 404
    ok = annotators[0].post(f"/api/tasks/{first['id']}/annotations", json={"result": choice(CHOICES[0])})
    assert ok.status_code == 201 and ok.json["status"] == "accepted"
    twice = annotators[0].post(f"/api/tasks/{first['id']}/annotations", json={"result": choice(CHOICES[1])})
    assert twice.status_code == 409 and "already annotated" in twice.json["message"]
    assert annotators[0].get("/api/tasks/next").json["task"] is None
    assert annotators[1].post(f"/api/tasks/{first['id']}/annotations",
                              json={"result": choice(CHOICES[0])}).status_code == 201
    assert db.session.query(Annotation).count() == 2
    task = db.session.get(Task, first["id"])
    assert (task.annotation_count, task.slots_taken, task.is_open) == (2, 2, False)


def test_submission_is_checked_against_the_config(api_as, manager, fake_ls):
    project = published_project(manager, items=1)
    _, annotator = api_as(Role.ANNOTATOR)
    task_id = annotator.get("/api/tasks/next").json["task"]["id"]
    wrong = annotator.post(f"/api/tasks/{task_id}/annotations", json={"result": choice("不存在的部门")})
    assert wrong.status_code == 422 and "result[0].value.choices" in wrong.json["message"]
    missing = annotator.post(f"/api/tasks/{task_id}/annotations", json={"lead_time": 3})
    assert missing.status_code == 422 and missing.json["message"].startswith("result")
    assert annotator.get(f"/api/tasks/{project['id'] + 99999}").status_code == 404


def test_annotations_reach_label_studio_attributed_and_survive_its_outage(api_as, manager, fake_ls):
    published_project(manager, items=1)
    user, annotator = api_as(Role.ANNOTATOR)
    fake_ls.down = True
    task_id = annotator.get("/api/tasks/next").json["task"]["id"]
    reply = annotator.post(f"/api/tasks/{task_id}/annotations", json={"result": choice(CHOICES[2])})
    assert reply.status_code == 201  # stored by Qianling even though Label Studio is down
    assert db.session.get(Annotation, reply.json["id"]).ls_annotation_id is None
    assert fake_ls.annotations == {}
    fake_ls.down = False
    assert redeliver_pending() == 1
    assert redeliver_pending() == 0  # idempotent: nothing left, nothing written twice
    (delivered,) = fake_ls.annotations.values()
    assert delivered["completed_by"] == fake_ls.users[user.email]
    assert db.session.get(Annotation, reply.json["id"]).ls_annotation_id is not None


def test_a_crowd_submitting_queues_one_delivery_run_not_a_job_each(app, api_as, manager, fake_ls):
    """Deliveries are coalesced per job: while a run waits, more submits add nothing to the queue;
    once it has started, the next submit queues a new run, so nothing committed is left behind."""
    from rq import Queue
    from rq.job import Job

    from extensions import redis_connection

    project = published_project(manager, items=4, overlap=1)
    app.config["QUEUE_ASYNC"] = True  # queued, not run inline: the queue is what is checked
    deliveries = Queue("deliveries", connection=redis_connection())

    def submit_one() -> None:
        annotator = api_as(Role.ANNOTATOR)[1]
        task = annotator.get("/api/tasks/next", query_string={"project_id": project["id"]}).json["task"]
        assert annotator.post(f"/api/tasks/{task['id']}/annotations",
                              json={"result": choice(CHOICES[0])}).status_code == 201

    for _ in range(3):
        submit_one()
    assert deliveries.count == 1
    Job.fetch(deliveries.pop_job_id(), connection=redis_connection()).perform()  # as a worker runs it
    assert len(fake_ls.annotations) == 3 and deliveries.count == 0
    submit_one()
    assert deliveries.count == 1  # a new run for the annotation that came after the first started
    Job.fetch(deliveries.pop_job_id(), connection=redis_connection()).perform()
    assert len(fake_ls.annotations) == 4
    assert db.session.query(Annotation).filter(Annotation.ls_annotation_id.is_(None)).count() == 0


def test_a_long_delivery_run_hands_the_rest_to_a_new_run(app, api_as, manager, fake_ls, monkeypatch):
    """A run stops once its time is up and a chunk is done, and queues the next, so a backlog
    never holds the worker (queued QA runs and upkeep go first); the runs together deliver all."""
    from rq import Queue
    from rq.job import Job

    from extensions import redis_connection
    from tasks import jobs

    project = published_project(manager, items=5, overlap=1)
    for _ in range(5):
        annotator = api_as(Role.ANNOTATOR)[1]
        task = annotator.get("/api/tasks/next", query_string={"project_id": project["id"]}).json["task"]
        fake_ls.down = True  # stored, not delivered yet
        assert annotator.post(f"/api/tasks/{task['id']}/annotations",
                              json={"result": choice(CHOICES[0])}).status_code == 201
        fake_ls.down = False
    monkeypatch.setattr(jobs, "CHUNK", 2)
    monkeypatch.setattr(jobs, "RUN_SECONDS", -1)  # every run is out of time after its first chunk
    app.config["QUEUE_ASYNC"] = True
    deliveries = Queue("deliveries", connection=redis_connection())
    assert deliveries.count == 0 and fake_ls.annotations == {}
    jobs.queue_delivery(project["id"])
    delivered = []
    while deliveries.count:
        Job.fetch(deliveries.pop_job_id(), connection=redis_connection()).perform()
        delivered.append(len(fake_ls.annotations))
    assert delivered == [2, 4, 5]


def test_qa_dataset_and_buyer_download(api_as, manager, fake_ls):
    project = published_project(manager, items=3)
    annotators = [api_as(Role.ANNOTATOR)[1] for _ in range(3)]
    # Task 1: 3/3 agree; task 2: 2/3; task 3: all differ (not agreed at threshold 0.6).
    votes = [[CHOICES[0]] * 3, [CHOICES[1], CHOICES[1], CHOICES[2]], CHOICES[:3]]
    for i, annotator in enumerate(annotators):
        for t in range(3):
            task = annotator.get("/api/tasks/next").json["task"]
            assert annotator.post(f"/api/tasks/{task['id']}/annotations",
                                  json={"result": choice(votes[t][i])}).status_code == 201
    started = manager.post(f"/api/qa/projects/{project['id']}/runs")
    assert started.status_code == 202
    run = manager.get(f"/api/qa/runs/{started.json['run']['id']}").json
    assert run["tasks"] == 3 and run["agreed"] == 2
    assert run["percent_agreement"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    built = manager.post("/api/exports", json={"project_id": project["id"], "split": [1, 0, 0]})
    assert built.status_code == 202
    dataset_id = built.json["dataset"]["id"]
    buyer_user, buyer = api_as(Role.BUYER)
    _, stranger = api_as(Role.BUYER)
    assert buyer.get(f"/api/exports/{dataset_id}").status_code == 404  # not published yet
    assert manager.post(f"/api/exports/{dataset_id}/publish").status_code == 200
    entry = buyer.get(f"/api/exports/{dataset_id}").json
    assert entry["access"] is None and "files" not in entry  # in the catalog, not downloadable
    assert manager.post(f"/api/exports/{dataset_id}/grants", json={"buyer": buyer_user.username}).status_code == 201
    files = {f["path"]: f for f in buyer.get(f"/api/exports/{dataset_id}").json["files"]}
    link = buyer.post(files["jsonl/train.jsonl"]["link_url"]).json
    download = buyer.get(link["url"])
    assert download.status_code == 200
    rows = [json.loads(line) for line in download.get_data(as_text=True).splitlines()]
    download.close()
    assert sorted(r["label"] for r in rows) == sorted([CHOICES[0], CHOICES[1]])
    assert sorted(r["confidence"] for r in rows) == pytest.approx([2 / 3, 1.0], abs=1e-6)
    assert all("编号" in r["data"]["text"] for r in rows)  # Chinese text unescaped
    assert stranger.post(files["jsonl/train.jsonl"]["link_url"]).status_code == 403
    assert "files" not in stranger.get(f"/api/exports/{dataset_id}").json
    annotator_reply = annotators[0].get(f"/api/exports/{dataset_id}")
    assert annotator_reply.status_code == 403


def test_qa_rerun_is_idempotent(api_as, manager, fake_ls):
    from qa.jobs import run_qa
    from qa.models import Consensus

    project = published_project(manager, items=2)
    for _ in range(3):
        _, annotator = api_as(Role.ANNOTATOR)
        while (task := annotator.get("/api/tasks/next").json["task"]):
            annotator.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[0])})
    run_id = manager.post(f"/api/qa/projects/{project['id']}/runs").json["run"]["id"]
    before = sorted((c.task_id, c.label, c.confidence) for c in db.session.query(Consensus).filter_by(run_id=run_id))
    run_qa(run_id)
    db.session.expire_all()
    after = sorted((c.task_id, c.label, c.confidence) for c in db.session.query(Consensus).filter_by(run_id=run_id))
    assert before == after and len(after) == 2


def test_unreadable_upload_is_a_clear_422_naming_the_file(manager):
    project = new_project(manager)
    reply = upload(manager, project["id"], b"text\n\xff\xfe\xfa\xfb broken\n", "broken.csv")
    assert reply["phase"] == "rejected" and reply["errors"][0].startswith("broken.csv")
    missing_column = upload(manager, project["id"], "题目\n路灯\n".encode(), "wrong.csv")
    assert missing_column["phase"] == "rejected" and "text" in missing_column["errors"][0]
    unknown = manager.post(f"/api/projects/{project['id']}/uploads",
                           data={"file": (io.BytesIO(b"x"), "data.docx")}, content_type="multipart/form-data")
    assert unknown.status_code == 422 and "data.docx" in unknown.json["message"]


@pytest.mark.parametrize("template,result", [
    ("pairwise", [{"from_name": "preference", "to_name": "preference", "type": "pairwise",
                   "value": {"selected": "left"}}]),
    ("bbox", [{"from_name": "defect", "to_name": "image", "type": "rectanglelabels", "original_width": 640,
               "original_height": 480, "value": {"x": 10, "y": 20, "width": 5, "height": 6,
                                                 "rectanglelabels": ["鸟巢"]}}]),
])
def test_results_of_other_task_types_are_accepted(template, result):
    from projects.label_config import parse
    from projects.templates import TEMPLATES
    from tasks.results import validate

    config = parse(TEMPLATES[template].build())
    names = {c.name: c for c in config.controls}
    region = dict(result[0])
    control = names.get(region["from_name"]) or next(iter(names.values()))
    region["from_name"] = control.name
    if template == "pairwise":
        region["to_name"] = control.name
    else:
        region["to_name"] = control.to_names[0]
        region["value"] = {**region["value"], "rectanglelabels": [control.choices[0]]}
    assert validate(config, [region]) == [region]
    with pytest.raises(Exception, match="to_name/type"):
        validate(config, [{**region, "to_name": "nowhere"}])
