"""The QA workflow through the API: a batch that reaches its overlap starts its own run, doubtful
items get more annotators (dynamic overlap) and then go to review, a reviewer's decision is final,
and annotators who keep missing gold answers are paused with the reason shown."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from extensions import db
from qa.jobs import run_qa
from qa.models import AnnotatorScore, Consensus, ConsensusStatus, QARun, ReviewItem
from tasks.models import Task
from tests.unit.test_workflow import CHOICES, choice, new_project, upload


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def job(manager, rows: list[str], **settings) -> dict:
    project = new_project(manager, **settings)
    body = "text\n" + "".join(f"{row}\n" for row in rows)
    assert upload(manager, project["id"], body.encode())["created"] == len(rows)
    assert manager.post(f"/api/projects/{project['id']}/publish").status_code == 202
    return project


def label_all(annotator, labels_by_text: dict[str, str]) -> list[int]:
    """Work the annotator's queue dry, answering each task by its text; the task ids seen."""
    seen = []
    while (task := annotator.get("/api/tasks/next").json["task"]):
        reply = annotator.post(f"/api/tasks/{task['id']}/annotations",
                               json={"result": choice(labels_by_text[task["data"]["text"]])})
        assert reply.status_code == 201, reply.json
        seen.append(task["id"])
    return seen


def runs() -> list[SimpleNamespace]:
    """The QA runs so far, as plain values (requests in between end the session they came from)."""
    db.session.expire_all()
    return [SimpleNamespace(**{c.key: getattr(run, c.key) for c in QARun.__table__.columns})
            for run in db.session.scalars(select(QARun).order_by(QARun.id))]


def test_a_completed_batch_starts_one_run_with_figures_and_scores(api_as, manager, fake_ls):
    project = job(manager, ["问题甲", "问题乙"], overlap=3, batch_size=2)
    votes = [{"问题甲": CHOICES[0], "问题乙": CHOICES[1]}, {"问题甲": CHOICES[0], "问题乙": CHOICES[1]},
             {"问题甲": CHOICES[0], "问题乙": CHOICES[2]}]
    annotators = [api_as(Role.ANNOTATOR) for _ in range(3)]
    for i, (_, annotator) in enumerate(annotators):
        label_all(annotator, votes[i])
        assert len(runs()) == (1 if i == 2 else 0)  # only the last submission completes the batch
    (run,) = runs()
    assert run.trigger == "batch_complete" and run.batch_id is not None and run.completed_at is not None
    assert (run.n_tasks, run.n_agreed, run.n_review) == (2, 2, 0)
    assert run.metrics["per_label"][CHOICES[0]] == 1.0
    assert run.metrics["percent_agreement"] == pytest.approx((1 + 1 / 3) / 2)
    assert run.metrics["distribution"] == {CHOICES[0]: 1, CHOICES[1]: 1}
    scores = {s.annotator_id: s for s in db.session.scalars(select(AnnotatorScore).where(AnnotatorScore.run_id == run.id))}
    assert scores[annotators[0][0].id].agreement == 1.0 and scores[annotators[2][0].id].agreement == 0.5
    detail = manager.get(f"/api/qa/runs/{run.id}").json
    assert len(detail["metrics"]["matrix"]["values"]) == 3 and len(detail["annotators"]) == 3
    listed = manager.get(f"/api/qa/projects/{project['id']}/runs").json["runs"]
    assert [r["id"] for r in listed] == [run.id]


def test_doubtful_items_get_more_annotators_then_go_to_review(api_as, manager, fake_ls):
    project = job(manager, ["有争议的问题"], overlap=2, batch_size=10, max_overlap=3)
    (task_id,) = label_all(api_as(Role.ANNOTATOR)[1], {"有争议的问题": CHOICES[0]})
    label_all(api_as(Role.ANNOTATOR)[1], {"有争议的问题": CHOICES[1]})
    first = runs()[-1]
    assert first.n_extended == 1 and first.n_review == 0
    task = db.session.get(Task, task_id)
    assert (task.extra_overlap, task.is_open) == (1, True)
    assert db.session.get(Consensus, task_id).status == ConsensusStatus.EXTENDED
    run_qa(first.id)  # a rerun: the item is no longer complete, so it is not extended twice
    db.session.expire_all()
    assert db.session.get(Task, task_id).extra_overlap == 1
    # A third annotator gets it; still a 2-1 split below the 0.7 threshold, at max_overlap: review.
    manager.patch(f"/api/projects/{project['id']}", json={"consensus_threshold": 0.7})
    assert label_all(api_as(Role.ANNOTATOR)[1], {"有争议的问题": CHOICES[2]}) == [task_id]
    second = runs()[-1]
    assert second.id != first.id and second.n_review == 1
    assert db.session.scalar(select(func.count()).select_from(ReviewItem)) == 1
    assert db.session.get(Consensus, task_id).status == ConsensusStatus.REVIEW
    assert api_as(Role.ANNOTATOR)[1].get("/api/tasks/next").json["task"] is None  # full again


def test_a_reviewers_decision_is_final(api_as, manager, fake_ls):
    job(manager, ["争议一", "争议二", "一致"], overlap=3, batch_size=10)
    votes = [{"争议一": CHOICES[0], "争议二": CHOICES[0], "一致": CHOICES[0]},
             {"争议一": CHOICES[1], "争议二": CHOICES[0], "一致": CHOICES[0]},
             {"争议一": CHOICES[2], "争议二": CHOICES[1], "一致": CHOICES[0]}]
    annotators = [api_as(Role.ANNOTATOR)[1] for _ in range(3)]
    for annotator, vote in zip(annotators, votes):
        label_all(annotator, vote)
    run = runs()[-1]
    assert run.n_review == 1  # 2/3 passes the 0.6 threshold; 1/3 does not
    _, reviewer = api_as(Role.REVIEWER)
    queue = reviewer.get("/api/qa/review").json["items"]
    assert [item["data"]["text"] for item in queue] == ["争议一"]
    item = queue[0]
    assert item["disputed"] == pytest.approx(2 / 3) and len(item["annotations"]) == 3
    assert annotators[0].get("/api/qa/review").status_code == 403  # annotators never see others' labels
    bad = reviewer.post(f"/api/qa/review/{item['id']}", json={"label": "不存在的类别"})
    assert bad.status_code == 422 and bad.json["message"].startswith("label")
    decided = reviewer.post(f"/api/qa/review/{item['id']}", json={"label": CHOICES[3], "note": "按规范第二条"})
    assert decided.status_code == 200 and decided.json["label"] == CHOICES[3]
    again = reviewer.post(f"/api/qa/review/{item['id']}", json={"label": CHOICES[0]})
    assert again.status_code == 409
    assert reviewer.get("/api/qa/review").json["items"] == []
    run_qa(run.id)  # later runs leave the decision alone
    db.session.expire_all()
    consensus = db.session.get(Consensus, item["task_id"])
    assert (consensus.label, consensus.confidence, consensus.status) == (CHOICES[3], 1.0, ConsensusStatus.REVIEWED)


def test_an_annotator_below_the_gold_bar_is_paused_with_the_reason(api_as, manager, fake_ls):
    project = new_project(manager, overlap=1, gold_share=0.5, min_gold_accuracy=0.8, min_gold_answers=2)
    rows = "text,answer\n" + "".join(f"普通问题{i},\n" for i in range(6)) + f"金标一,{CHOICES[0]}\n金标二,{CHOICES[0]}\n"
    upload(manager, project["id"], rows.encode(), gold_field="answer")
    manager.post(f"/api/projects/{project['id']}/publish")
    user, annotator = api_as(Role.ANNOTATOR)
    answered = 0
    while (task := annotator.get("/api/tasks/next").json.get("task")):
        annotator.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[1])})
        answered += 1
    assert answered == 4  # task, gold, task, gold: paused after the second wrong gold answer
    refused = annotator.get("/api/tasks/next")
    assert refused.status_code == 403 and "0/2" in refused.json["message"]
    shown = annotator.get("/api/workforce/me").json["pause"]
    assert "gold accuracy 0/2" in shown["reason"] and shown["automatic"] is True
    listed = {a["user_id"]: a for a in manager.get("/api/workforce/annotators").json["annotators"]}
    assert listed[user.id]["status"] == "paused" and "0/2" in listed[user.id]["pause"]["reason"]


def test_dawid_skene_runs_store_confusion_matrices_and_skill(api_as, manager, fake_ls):
    texts = [f"问题{i}" for i in range(6)]
    project = job(manager, texts, overlap=3, batch_size=100, qa_method="dawid_skene")
    truth = {t: CHOICES[i % 2] for i, t in enumerate(texts)}
    careless = {t: CHOICES[2] for t in texts}
    for answers in (truth, truth, careless):
        label_all(api_as(Role.ANNOTATOR)[1], answers)
    run = runs()[-1]
    assert run.method == "dawid_skene" and run.n_agreed == 6
    detail = manager.get(f"/api/qa/runs/{run.id}").json
    skills = sorted(a["skill"] for a in detail["annotators"])
    assert skills[0] < 0.1 < 0.9 < skills[1] <= skills[2]  # the careless one is found out
    assert set(detail["metrics"]["confusion"]) == {str(a["id"]) for a in detail["annotators"]}
    assert manager.post(f"/api/qa/projects/{project['id']}/runs", json={"batch_id": 99999}).status_code == 404


def test_settings_for_qa_are_checked(manager):
    bad = manager.post("/api/projects", json={"title": "质检", "overlap": 3, "max_overlap": 2,
                                              "template": {"type": "text_classification", "choices": CHOICES}})
    assert bad.status_code == 422 and bad.json["message"].startswith("max_overlap")
    method = manager.post("/api/projects", json={"title": "质检", "qa_method": "vibes",
                                                 "template": {"type": "text_classification", "choices": CHOICES}})
    assert method.status_code == 422 and method.json["message"].startswith("qa_method")


def test_quality_and_review_pages_render_for_their_roles(app, api_as, manager, fake_ls):
    project = job(manager, ["争议一", "一致"], overlap=2, batch_size=10, qa_method="dawid_skene")
    label_all(api_as(Role.ANNOTATOR)[1], {"争议一": CHOICES[0], "一致": CHOICES[0]})
    label_all(api_as(Role.ANNOTATOR)[1], {"争议一": CHOICES[1], "一致": CHOICES[0]})
    page = manager.get(f"/qa/projects/{project['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "heatmap" in html and "Confusion matrices" in html and CHOICES[0] in html
    reviewer_user, reviewer = api_as(Role.REVIEWER)
    assert reviewer.get(f"/qa/projects/{project['id']}").status_code == 403
    assert api_as(Role.ANNOTATOR)[1].get("/qa/review").status_code == 403
    _, other_manager = api_as(Role.MANAGER)
    assert other_manager.get(f"/qa/projects/{project['id']}").status_code == 404
    queue = reviewer.get("/qa/review").get_data(as_text=True)
    assert "争议一" in queue or "Nothing waiting" in queue


def structured_job(manager, template: str, rows: list[dict], **settings) -> dict:
    reply = manager.post("/api/projects", json={"title": f"质检 {template}", "template": {"type": template},
                                                "batch_size": 50, **settings})
    assert reply.status_code == 201, reply.json
    project = reply.json
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    assert upload(manager, project["id"], body, "items.jsonl")["created"] == len(rows)
    assert manager.post(f"/api/projects/{project['id']}/publish").status_code == 202
    return project


def answer_all(annotator, answer) -> None:
    while (task := annotator.get("/api/tasks/next").json["task"]):
        reply = annotator.post(f"/api/tasks/{task['id']}/annotations", json={"result": answer(task)})
        assert reply.status_code == 201, reply.json


def box(x: float, label: str = "鸟巢") -> dict:
    return {"from_name": "label", "to_name": "image", "type": "rectanglelabels",
            "value": {"x": x, "y": 10, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": [label]}}


def test_box_jobs_get_fused_boxes_and_box_agreement(api_as, manager, fake_ls):
    project = structured_job(manager, "bbox", [{"image": "https://example.test/a.png"}], overlap=3)
    for shift, extra in ((0, []), (1, []), (0, [box(70, "线路异物")])):
        answer_all(api_as(Role.ANNOTATOR)[1], lambda task, s=shift, e=extra: [box(10 + s)] + e)
    run = runs()[-1]
    assert run.n_tasks == 1 and run.metrics["agreement_measure"].startswith("box F1")
    # Pairs: (a, b) match 1 of 1 -> 1.0; (a, c) and (b, c) match 1 box of 1 vs 2 -> 2/3 each.
    assert run.metrics["agreement"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    (consensus,) = db.session.scalars(select(Consensus).where(Consensus.project_id == project["id"]))
    (fused,) = consensus.result  # the lone box of one annotator in three is dropped
    assert fused["type"] == "rectanglelabels" and fused["value"]["rectanglelabels"] == ["鸟巢"]
    assert fused["value"]["x"] == pytest.approx(10 + 1 / 3)
    scores = manager.get(f"/api/qa/runs/{run.id}").json["annotators"]
    assert sorted(round(s["agreement"], 6) for s in scores) == [round(2 / 3, 6), 1.0, 1.0]


def test_span_and_answer_jobs_get_token_and_medoid_consensus(api_as, manager, fake_ls):
    text = "被告人张三自首，并赔偿谅解。"
    ner = structured_job(manager, "ner", [{"text": text}], overlap=3)

    def span(start: int, end: int, label: str) -> dict:
        return {"from_name": "label", "to_name": "text", "type": "labels",
                "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}
    for spans in ([span(5, 7, "自首")], [span(5, 7, "自首"), span(10, 14, "赔偿谅解")], [span(5, 7, "自首")]):
        answer_all(api_as(Role.ANNOTATOR)[1], lambda task, s=spans: s)
    (consensus,) = db.session.scalars(select(Consensus).where(Consensus.project_id == ner["id"]))
    assert [(r["value"]["text"], r["value"]["labels"]) for r in consensus.result] == [("自首", ["自首"])]
    assert runs()[-1].metrics["agreement"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    qa_job = structured_job(manager, "free_text", [{"question": "路灯坏了找谁？"}], overlap=3)
    for answer in ("请联系市政管理处。", "请联系市政管理处", "不知道"):
        answer_all(api_as(Role.ANNOTATOR)[1], lambda task, a=answer: [
            {"from_name": "answer", "to_name": "prompt", "type": "textarea", "value": {"text": [a]}}])
    (consensus,) = db.session.scalars(select(Consensus).where(Consensus.project_id == qa_job["id"]))
    assert consensus.result[0]["value"]["text"][0].startswith("请联系市政管理处")
    assert runs()[-1].metrics["agreement_measure"] == "edit similarity"


def test_a_run_that_dies_midway_leaves_nothing_and_its_rerun_completes(api_as, manager, fake_ls, monkeypatch):
    from qa import jobs
    from qa.service import start_run

    project = job(manager, ["争议", "一致"], overlap=3, batch_size=10, max_overlap=4)
    for answers in ({"争议": CHOICES[0], "一致": CHOICES[0]}, {"争议": CHOICES[1], "一致": CHOICES[0]},
                    {"争议": CHOICES[2], "一致": CHOICES[0]}):
        label_all(api_as(Role.ANNOTATOR)[1], answers)
    undisturbed = sorted((c.task_id, c.label, c.status.value, c.confidence)
                         for c in db.session.scalars(select(Consensus).where(Consensus.project_id == project["id"])))
    extra_before = sorted(db.session.scalars(select(Task.extra_overlap).where(Task.project_id == project["id"])))
    db.session.execute(Consensus.__table__.delete())
    db.session.execute(Task.__table__.update().values(extra_overlap=0, is_open=False))
    db.session.commit()

    def dies(self):
        raise RuntimeError("worker killed")  # midway: consensus and extensions already written
    monkeypatch.setattr(jobs.Outcome, "_store_scores", dies)
    from background.models import JobRecord
    from projects.models import Project
    _run, record = start_run(db.session, db.session.get(Project, project["id"]))
    db.session.expire_all()
    assert "worker killed" in db.session.get(JobRecord, record.id).error
    assert db.session.scalar(select(func.count()).select_from(Consensus)) == 0  # nothing half-written
    assert sorted(db.session.scalars(select(Task.extra_overlap).where(Task.project_id == project["id"]))) == [0, 0]
    monkeypatch.undo()
    run_id = runs()[-1].id
    jobs.run_qa(run_id)  # the requeued job
    db.session.expire_all()
    after = sorted((c.task_id, c.label, c.status.value, c.confidence)
                   for c in db.session.scalars(select(Consensus).where(Consensus.project_id == project["id"])))
    assert after == undisturbed
    assert sorted(db.session.scalars(select(Task.extra_overlap).where(Task.project_id == project["id"]))) == extra_before
