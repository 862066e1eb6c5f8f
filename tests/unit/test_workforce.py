"""The workforce: profiles and skills, pauses, the pull queue's eligibility clause, qualification
exams, and work records with the payroll CSV."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from accounts.models import Role
from extensions import db, utcnow
from projects.models import Project
from tasks.models import Annotation, AnnotationStatus, Assignment, AssignmentStatus, Task
from tests.conftest import make_user
from tests.unit.test_workflow import CHOICES, choice, new_project, published_project, upload
from workforce import records, service
from workforce.models import ExamAttempt, Skill, SkillSource

GOLD = [CHOICES[0], CHOICES[1], CHOICES[2], CHOICES[0]]


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def gold_project(manager, **extra) -> tuple[dict, list[int]]:
    """A draft job with two plain items and one gold item per answer in GOLD."""
    project = new_project(manager, **extra)
    rows = "text,answer\n普通问题一,\n普通问题二,\n" + "".join(
        f"考题{i}：路灯坏了很久,{label}\n" for i, label in enumerate(GOLD))
    assert upload(manager, project["id"], rows.encode(), gold_field="answer")["created"] == 6
    gold_ids = list(db.session.scalars(select(Task.id).where(
        Task.project_id == project["id"], Task.is_gold.is_(True)).order_by(Task.id)))
    return project, gold_ids


def new_exam(manager, project_id: int, task_ids: list[int], **extra):
    return manager.post("/api/workforce/exams", json={"project_id": project_id, "skill": "政务", "level": 2,
                                                      "pass_mark": 0.75, "cooldown_hours": 24,
                                                      "task_ids": task_ids, **extra})


def answers(task_ids: list[int], labels: list[str]) -> dict:
    return {"answers": {str(t): choice(label) for t, label in zip(task_ids, labels)}}


# --- profiles, skills, pauses ----------------------------------------------------------------

def test_manager_sets_skills_capacity_and_languages(api_as, manager):
    annotator, _ = api_as(Role.ANNOTATOR)
    reply = manager.patch(f"/api/workforce/annotators/{annotator.id}", json={
        "skills": {"政务": 3, "电力巡检": 0}, "daily_capacity": 400, "languages": ["zh", "bo", "zh"]})
    assert reply.status_code == 200, reply.json
    assert reply.json["skills"] == [{"name": "政务", "level": 3, "source": "manager"},
                                    {"name": "电力巡检", "level": 0, "source": "manager"}]
    assert (reply.json["daily_capacity"], reply.json["languages"]) == (400, ["zh", "bo"])
    again = manager.patch(f"/api/workforce/annotators/{annotator.id}", json={"skills": {"电力巡检": 1}})
    assert [(s["name"], s["level"]) for s in again.json["skills"]] == [("政务", 3), ("电力巡检", 1)]
    listed = {a["user_id"]: a for a in manager.get("/api/workforce/annotators").json["annotators"]}
    assert listed[annotator.id]["daily_capacity"] == 400 and len(listed[annotator.id]["skills"]) == 2


@pytest.mark.parametrize("body, field", [
    ({"skills": {"政务": 6}}, "skills.政务"), ({"skills": ["政务"]}, "skills"),
    ({"daily_capacity": -1}, "daily_capacity"), ({"languages": "zh"}, "languages"),
    ({"nickname": "x"}, "nickname")])
def test_profile_fields_are_checked(api_as, manager, body, field):
    annotator, _ = api_as(Role.ANNOTATOR)
    reply = manager.patch(f"/api/workforce/annotators/{annotator.id}", json=body)
    assert reply.status_code == 422 and reply.json["message"].startswith(field + ":")


def test_only_annotators_have_profiles(api_as, manager):
    other_manager, _ = api_as(Role.MANAGER)
    assert manager.get(f"/api/workforce/annotators/{other_manager.id}").status_code == 404
    assert manager.patch("/api/workforce/annotators/99999", json={"daily_capacity": 1}).status_code == 404


def test_pause_shows_its_reason_and_resume_clears_it(api_as, manager, session):
    annotator, me = api_as(Role.ANNOTATOR)
    assert service.is_paused(session, annotator) is None  # no profile yet: free to work
    no_reason = manager.post(f"/api/workforce/annotators/{annotator.id}/pause", json={"reason": " "})
    assert no_reason.status_code == 422 and no_reason.json["message"].startswith("reason")
    paused = manager.post(f"/api/workforce/annotators/{annotator.id}/pause", json={"reason": "金标准正确率低于 70%"})
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    assert service.is_paused(session, annotator) == "金标准正确率低于 70%"
    mine = me.get("/api/workforce/me").json
    assert mine["status"] == "paused" and mine["pause"]["reason"] == "金标准正确率低于 70%"
    assert mine["pause"]["automatic"] is False
    twice = manager.post(f"/api/workforce/annotators/{annotator.id}/pause", json={"reason": "again"})
    assert twice.status_code == 409 and twice.json["message"].startswith("status")
    assert manager.post(f"/api/workforce/annotators/{annotator.id}/resume").status_code == 200
    assert service.is_paused(session, annotator) is None
    assert me.get("/api/workforce/me").json["pause"] is None
    assert manager.post(f"/api/workforce/annotators/{annotator.id}/resume").status_code == 409


def test_automatic_pause_has_no_manager(session):
    annotator = make_user(session, Role.ANNOTATOR)
    service.pause(session, annotator, "QA: gold accuracy 0.4 < 0.7")
    session.commit()
    profile = service.get_or_create_profile(session, annotator)
    assert profile.paused_by_id is None and service.is_paused(session, annotator).startswith("QA")


def test_roles_are_enforced(api_as):
    annotator, me = api_as(Role.ANNOTATOR)
    assert me.get("/api/workforce/annotators").status_code == 403
    assert me.get(f"/api/workforce/annotators/{annotator.id}").status_code == 403
    assert me.get("/api/workforce/records").status_code == 403
    assert me.post("/api/workforce/exams", json={}).status_code == 403
    assert me.post(f"/api/workforce/annotators/{annotator.id}/pause", json={"reason": "x"}).status_code == 403
    _, buyer = api_as(Role.BUYER)
    for path in ("/api/workforce/me", "/api/workforce/annotators", "/api/workforce/records",
                 "/api/workforce/exams", "/api/workforce/exams/1/questions"):
        assert buyer.get(path).status_code == 403, path
    _, manager = api_as(Role.MANAGER)
    assert manager.get("/api/workforce/me").status_code == 403  # a profile is an annotator's


# --- eligibility for the pull queue ----------------------------------------------------------

def test_eligibility_filter_selects_jobs_whose_skills_are_all_held(session):
    owner = make_user(session, Role.MANAGER)
    jobs = {name: Project(title=name, label_config="<View/>", required_skills=skills, created_by_id=owner.id)
            for name, skills in [("open", []), ("gov", ["政务"]), ("both", ["政务", "电力巡检"]),
                                 ("power", ["电力巡检"])]}
    session.add_all(jobs.values())
    annotator = make_user(session, Role.ANNOTATOR)
    service.set_skills(session, annotator, {"政务": 2, "电力巡检": 0})
    session.commit()

    def eligible(user) -> set[str]:
        clause = service.eligibility_filter(session, user)
        return set(session.scalars(select(Project.title).where(clause)))

    assert eligible(annotator) == {"open", "gov"}  # level 0 does not qualify
    assert eligible(make_user(session, Role.ANNOTATOR)) == {"open"}
    service.set_skills(session, annotator, {"电力巡检": 1})
    session.commit()
    assert eligible(annotator) == {"open", "gov", "both", "power"}


def test_eligibility_filter_uses_no_json_sql(session):
    """The clause is plain SQL (ids), so PostgreSQL runs the very same comparison as SQLite."""
    owner = make_user(session, Role.MANAGER)
    session.add(Project(title="gov", label_config="<View/>", required_skills=["政务"], created_by_id=owner.id))
    session.commit()
    clause = service.eligibility_filter(session, make_user(session, Role.ANNOTATOR))
    sql = str(select(Project.id).where(clause).compile(dialect=postgresql.dialect())).lower()
    assert "not in" in sql and "json" not in sql


# --- exams -----------------------------------------------------------------------------------

def test_exam_needs_three_gold_tasks_of_a_job_the_manager_runs(api_as, manager):
    project, gold_ids = gold_project(manager)
    plain = db.session.scalar(select(Task.id).where(Task.project_id == project["id"], Task.is_gold.is_(False)))
    strays = new_exam(manager, project["id"], gold_ids[:2] + [plain])
    assert strays.status_code == 422 and strays.json["message"].startswith("task_ids")
    assert str(plain) in strays.json["message"]
    too_few = new_exam(manager, project["id"], gold_ids[:2])
    assert too_few.status_code == 422 and "at least 3" in too_few.json["message"]
    _, other = api_as(Role.MANAGER)
    assert new_exam(other, project["id"], gold_ids).status_code == 404
    bad_mark = new_exam(manager, project["id"], gold_ids, pass_mark=1.5)
    assert bad_mark.status_code == 422 and bad_mark.json["message"].startswith("pass_mark")
    every_gold = new_exam(manager, project["id"], None)
    assert every_gold.status_code == 201 and every_gold.json["task_ids"] == gold_ids
    listed = manager.get("/api/workforce/exams").json["exams"]
    assert [e["id"] for e in listed] == [every_gold.json["id"]] and listed[0]["attempts"] == 0
    assert other.get("/api/workforce/exams").json["exams"] == []


def test_questions_never_show_gold_answers(api_as, manager):
    project, gold_ids = gold_project(manager)
    exam = new_exam(manager, project["id"], gold_ids).json
    _, annotator = api_as(Role.ANNOTATOR)
    assert [e["id"] for e in annotator.get("/api/workforce/exams").json["exams"]] == [exam["id"]]
    shown = annotator.get(f"/api/workforce/exams/{exam['id']}/questions")
    assert shown.status_code == 200
    assert [q["task_id"] for q in shown.json["questions"]] == gold_ids
    assert all(set(q) == {"task_id", "data"} and set(q["data"]) == {"text"} for q in shown.json["questions"])
    assert "gold" not in shown.get_data(as_text=True) and "answer" not in shown.get_data(as_text=True)
    again = annotator.get(f"/api/workforce/exams/{exam['id']}/questions")
    assert again.json["attempt_id"] == shown.json["attempt_id"]  # reopening resumes the attempt
    assert annotator.get("/api/workforce/exams/99999/questions").status_code == 404


def test_failing_then_retrying_inside_the_cool_down_is_409(api_as, manager, session):
    project, gold_ids = gold_project(manager)
    exam = new_exam(manager, project["id"], gold_ids).json
    user, annotator = api_as(Role.ANNOTATOR)
    wrong = [CHOICES[3]] * len(gold_ids)
    failed = annotator.post(f"/api/workforce/exams/{exam['id']}/answers", json=answers(gold_ids, wrong))
    assert failed.status_code == 200 and failed.json["passed"] is False and failed.json["score"] == 0
    assert "skill" not in failed.json and failed.json["retry_after"]
    for retry in (annotator.get(f"/api/workforce/exams/{exam['id']}/questions"),
                  annotator.post(f"/api/workforce/exams/{exam['id']}/answers", json=answers(gold_ids, GOLD))):
        assert retry.status_code == 409
        assert retry.json["message"] == f"exam: you may retry after {failed.json['retry_after']} " \
                                        "(a failed attempt is followed by 24 hours' cool-down)"
    listed = annotator.get("/api/workforce/exams").json["exams"][0]
    assert listed["retry_after"] == failed.json["retry_after"] and listed["attempts"] == 1
    assert session.scalar(select(Skill).where(Skill.user_id == user.id)) is None
    # Once the cool-down has passed, the next attempt is open.
    attempt = session.scalar(select(ExamAttempt).where(ExamAttempt.user_id == user.id))
    attempt.finished_at = utcnow() - timedelta(hours=24, seconds=1)
    session.commit()
    assert annotator.get(f"/api/workforce/exams/{exam['id']}/questions").status_code == 200


def test_passing_sets_the_skill_level_and_ends_the_exam(api_as, manager, session):
    project, gold_ids = gold_project(manager)
    exam = new_exam(manager, project["id"], gold_ids).json  # 3 of 4 right passes (0.75)
    user, annotator = api_as(Role.ANNOTATOR)
    three_right = GOLD[:3] + [CHOICES[3]]
    passed = annotator.post(f"/api/workforce/exams/{exam['id']}/answers", json=answers(gold_ids, three_right))
    assert passed.status_code == 200, passed.json
    assert (passed.json["passed"], passed.json["score"]) == (True, 0.75)
    assert passed.json["skill"] == {"name": "政务", "level": 2}
    skill = session.scalar(select(Skill).where(Skill.user_id == user.id, Skill.name == "政务"))
    assert (skill.level, skill.source) == (2, SkillSource.EXAM)
    assert annotator.get("/api/workforce/me").json["skills"] == [{"name": "政务", "level": 2, "source": "exam"}]
    again = annotator.get(f"/api/workforce/exams/{exam['id']}/questions")
    assert again.status_code == 409 and again.json["message"].startswith("exam: you passed it")
    assert manager.get("/api/workforce/exams").json["exams"][0]["passed"] == 1


def test_passing_never_lowers_a_higher_level(api_as, manager, session):
    project, gold_ids = gold_project(manager)
    exam = new_exam(manager, project["id"], gold_ids, level=1).json
    user, annotator = api_as(Role.ANNOTATOR)
    manager.patch(f"/api/workforce/annotators/{user.id}", json={"skills": {"政务": 4}})
    assert annotator.post(f"/api/workforce/exams/{exam['id']}/answers",
                          json=answers(gold_ids, GOLD)).json["passed"] is True
    assert session.scalar(select(Skill.level).where(Skill.user_id == user.id)) == 4


def test_answers_are_checked_against_the_jobs_config(api_as, manager):
    project, gold_ids = gold_project(manager)
    exam = new_exam(manager, project["id"], gold_ids).json
    _, annotator = api_as(Role.ANNOTATOR)
    url = f"/api/workforce/exams/{exam['id']}/answers"
    unknown = annotator.post(url, json=answers(gold_ids, GOLD[:3] + ["不存在的部门"]))
    assert unknown.status_code == 422
    assert unknown.json["message"].startswith(f"answers.{gold_ids[3]}: result[0].value.choices")
    missing = annotator.post(url, json=answers(gold_ids[:3], GOLD[:3]))
    assert missing.status_code == 422 and str(gold_ids[3]) in missing.json["message"]
    assert annotator.post(url, json={"answers": []}).status_code == 422
    # None of these closed the attempt: a correct submission still passes.
    assert annotator.post(url, json=answers(gold_ids, GOLD)).json["passed"] is True


# --- work records ----------------------------------------------------------------------------

def annotate(session, task_id: int, user_id: int, at: datetime, lead_time: float | None = None,
             status: AnnotationStatus = AnnotationStatus.ACCEPTED) -> None:
    session.add(Annotation(task_id=task_id, annotator_id=user_id, result=choice(CHOICES[0]),
                           label=CHOICES[0], lead_time=lead_time, status=status, created_at=at))


def skip_at(session, task_id: int, project_id: int, user_id: int, at: datetime) -> None:
    session.add(Assignment(task_id=task_id, annotator_id=user_id, project_id=project_id,
                           status=AssignmentStatus.SKIPPED, skip_reason="看不懂", leased_at=at,
                           expires_at=at + timedelta(minutes=15), finished_at=at))


@pytest.fixture
def worked(api_as, manager, session):
    """Two annotators' work on two jobs (2.50 and 0.80 CNY a task) on 1-2 March 2025, China time."""
    rich = new_project(manager, piece_rate="2.50")
    cheap = new_project(manager, piece_rate="0.80")
    for project in (rich, cheap):
        upload(manager, project["id"], "text\n一\n二\n三\n四\n".encode())
    tasks = {p["id"]: list(session.scalars(select(Task.id).where(Task.project_id == p["id"]).order_by(Task.id)))
             for p in (rich, cheap)}
    ann, bob = make_user(session, Role.ANNOTATOR), make_user(session, Role.ANNOTATOR)
    day1 = datetime(2025, 3, 1, 2, 0)  # 10:00 in China
    late = datetime(2025, 3, 1, 17, 30)  # 01:30 on 2 March in China
    r, c = tasks[rich["id"]], tasks[cheap["id"]]
    annotate(session, r[0], ann.id, day1, 10)
    annotate(session, r[1], ann.id, day1, 20)
    annotate(session, c[0], ann.id, day1, 30)
    annotate(session, c[1], ann.id, day1, None, AnnotationStatus.EXTRA)
    skip_at(session, r[2], rich["id"], ann.id, day1)
    annotate(session, r[3], ann.id, late, 5)
    annotate(session, r[0], bob.id, day1, 7)
    session.commit()
    return {"rich": rich, "cheap": cheap, "ann": ann, "bob": bob}


def test_records_per_annotator_per_day_with_earnings(manager, worked):
    reply = manager.get("/api/workforce/records")
    assert reply.status_code == 200
    ann, bob = worked["ann"], worked["bob"]
    rows = [(r["day"], r["annotator_id"], r["accepted"], r["extra"], r["skipped"], r["mean_lead_time"],
             r["earnings"]) for r in reply.json["records"]]
    assert rows == [("2025-03-01", ann.id, 3, 1, 1, 20.0, "5.80"),  # 2 × 2.50 + 1 × 0.80, extra unpaid
                    ("2025-03-01", bob.id, 1, 0, 0, 7.0, "2.50"),
                    ("2025-03-02", ann.id, 1, 0, 0, 5.0, "2.50")]
    assert reply.json["total"] == {"accepted": 5, "earnings": "10.80"}
    assert reply.json["records"][0]["username"] == ann.username


def test_records_filter_by_job_and_dates(api_as, manager, worked):
    ann = worked["ann"]
    cheap = manager.get("/api/workforce/records", query_string={"project_id": worked["cheap"]["id"]}).json
    assert [(r["annotator_id"], r["accepted"], r["extra"], r["earnings"]) for r in cheap["records"]] == \
        [(ann.id, 1, 1, "0.80")]
    second = manager.get("/api/workforce/records", query_string={"from": "2025-03-02", "to": "2025-03-02"}).json
    assert [(r["day"], r["earnings"]) for r in second["records"]] == [("2025-03-02", "2.50")]
    first = manager.get("/api/workforce/records", query_string={"to": "2025-03-01"}).json
    assert {r["day"] for r in first["records"]} == {"2025-03-01"}
    bad = manager.get("/api/workforce/records", query_string={"from": "March"})
    assert bad.status_code == 422 and bad.json["message"].startswith("from")
    _, other = api_as(Role.MANAGER)  # another manager sees none of this work, nor the job
    assert other.get("/api/workforce/records").json["records"] == []
    assert other.get("/api/workforce/records", query_string={"project_id": worked["rich"]["id"]}).status_code == 404
    _, admin = api_as(Role.ADMIN)
    assert admin.get("/api/workforce/records").json["total"]["earnings"] == "10.80"


def test_records_csv_for_payroll(manager, worked, session):
    session.get(type(worked["ann"]), worked["ann"].id).display_name = "=HYPERLINK(\"x\")"
    session.commit()
    reply = manager.get("/api/workforce/records", query_string={"format": "csv", "from": "2025-03-01"})
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert "attachment" in reply.headers["Content-Disposition"]
    raw = reply.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "日期 date" and rows[0][-1] == "收入(元) earnings_cny"
    assert "有效标注 accepted" in rows[0]
    body = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert [(r["日期 date"], r["有效标注 accepted"], r["收入(元) earnings_cny"]) for r in body] == \
        [("2025-03-01", "3", "5.80"), ("2025-03-01", "1", "2.50"), ("2025-03-02", "1", "2.50")]
    assert sum(Decimal(r["收入(元) earnings_cny"]) for r in body) == Decimal("10.80")
    assert body[0]["姓名 display_name"].startswith("'=")  # not run as a formula


def test_me_shows_only_my_own_counts_and_earnings(api_as, manager, fake_ls):
    project = published_project(manager, items=3, overlap=2)
    manager.patch(f"/api/projects/{project['id']}", json={"piece_rate": "1.20"})
    _, me = api_as(Role.ANNOTATOR)
    _, other = api_as(Role.ANNOTATOR)
    for lead_time in (4, 8):
        task = me.get("/api/tasks/next").json["task"]
        assert me.post(f"/api/tasks/{task['id']}/annotations",
                       json={"result": choice(CHOICES[0]), "lead_time": lead_time}).status_code == 201
    skipped = me.get("/api/tasks/next").json["task"]
    assert me.post(f"/api/tasks/{skipped['id']}/skip", json={"reason": "看不清"}).status_code == 200
    task = other.get("/api/tasks/next").json["task"]
    other.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice(CHOICES[1])})
    mine = me.get("/api/workforce/me").json
    expected = {"accepted": 2, "extra": 0, "skipped": 1, "mean_lead_time": 6.0, "earnings": "2.40"}
    assert mine["total"] == expected
    assert {k: v for k, v in mine["today"].items() if k != "day"} == expected
    assert mine["today"]["day"] == records.today().isoformat()
    assert mine["status"] == "active" and mine["skills"] == []
