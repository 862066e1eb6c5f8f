"""Workforce API. Managers and admins: annotators' profiles, skills, pauses, exams, work records
and payroll CSV. Annotators: their own profile, counts and earnings (never anyone else's), and
the exams they may sit."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from accounts.auth import current_user, requires
from accounts.models import Role
from errors import InvalidInput, json_object
from extensions import db
from projects.service import managed_project
from workforce import exams, records, service, teams
from workforce.models import AnnotatorProfile

api = Blueprint("workforce_api", __name__, url_prefix="/api/workforce")
STAFF = (Role.MANAGER, Role.ADMIN)


def _profile_of(user_id: int) -> dict[str, Any]:
    user = service.annotator(db.session, user_id)
    return service.profile_json(user, db.session.get(AnnotatorProfile, user.id),
                                service.skills_of(db.session, user.id))


@api.get("/annotators")
@requires(*STAFF)
def list_annotators():
    return {"annotators": service.annotators_json(db.session)}


@api.get("/annotators/<int:user_id>")
@requires(*STAFF)
def get_annotator(user_id: int):
    return _profile_of(user_id)


@api.patch("/annotators/<int:user_id>")
@requires(*STAFF)
def update_annotator(user_id: int):
    """Change skills (`{"政务": 3}`: the named ones only), daily_capacity, languages."""
    service.update_profile(db.session, service.annotator(db.session, user_id), json_object())
    db.session.commit()
    return _profile_of(user_id)


@api.post("/annotators/<int:user_id>/pause")
@requires(*STAFF)
def pause(user_id: int):
    service.pause(db.session, service.annotator(db.session, user_id), json_object().get("reason"), by=current_user())
    db.session.commit()
    return _profile_of(user_id)


@api.post("/annotators/<int:user_id>/resume")
@requires(*STAFF)
def resume(user_id: int):
    service.resume(db.session, service.annotator(db.session, user_id), by=current_user())
    db.session.commit()
    return _profile_of(user_id)


def _scope(**fixed: Any) -> records.Scope:
    args = request.args
    return records.Scope(project_id=args.get("project_id", type=int),
                         start=records.parse_day("from", args.get("from")),
                         end=records.parse_day("to", args.get("to")), **fixed)


@api.get("/teams")
@requires(*STAFF)
def list_teams():
    return {"teams": teams.teams_json(db.session)}


@api.post("/teams")
@requires(*STAFF)
def save_team():
    """Create a team or replace its members: `{"name": ..., "usernames": [...]}`."""
    body = json_object()
    teams.save_team(db.session, body.get("name"), body.get("usernames"))
    db.session.commit()
    return {"teams": teams.teams_json(db.session)}, 201


@api.get("/records")
@requires(*STAFF)
def work_records():
    """Per annotator per day (`?project_id=&from=&to=&annotator_id=`, dates inclusive, China
    time); `?format=csv` downloads the payroll CSV. Managers see the work on their own jobs."""
    user = current_user()
    if request.args.get("project_id") is not None:
        managed_project(db.session, user, request.args.get("project_id", -1, type=int))  # 404 if not theirs
    scope = _scope(manager_id=None if user.role == Role.ADMIN else user.id,
                   annotator_id=request.args.get("annotator_id", type=int))
    found = records.work_records(db.session, scope)
    if request.args.get("format", "json") == "csv":
        name = f"workforce-records-{scope.start or 'all'}-{scope.end or records.today()}.csv"
        return Response(records.records_csv(db.session, found), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return records.records_json(db.session, found)


@api.get("/me")
@requires(Role.ANNOTATOR)
def me():
    """The caller's profile, skills, counts and earnings today (China time) and in all."""
    user = current_user()
    profile = service.get_or_create_profile(db.session, user)
    db.session.commit()
    today = records.today()
    today_scope = records.Scope(annotator_id=user.id, start=today, end=today)
    return {**service.profile_json(user, profile, service.skills_of(db.session, user.id)),
            "today": {"day": today.isoformat(), **records.totals(db.session, today_scope)},
            "total": records.totals(db.session, records.Scope(annotator_id=user.id))}


@api.get("/exams")
@requires(Role.ANNOTATOR, *STAFF)
def list_exams():
    """Annotators: the exams they may sit and where they stand; staff: their jobs' exams."""
    user = current_user()
    if user.role == Role.ANNOTATOR:
        return {"exams": exams.exams_open_to(db.session, user)}
    return {"exams": exams.managed_exams(db.session, user)}


@api.post("/exams")
@requires(*STAFF)
def create_exam():
    """`{"project_id", "skill", "level", "pass_mark", "cooldown_hours", "task_ids"}` (gold tasks)."""
    body = json_object()
    project_id = body.get("project_id")
    if not isinstance(project_id, int) or isinstance(project_id, bool):
        raise InvalidInput("project_id: the id of a job you manage")
    project = managed_project(db.session, current_user(), project_id)
    exam = exams.create_exam(db.session, current_user(), project, body)
    db.session.commit()
    return {**exams.exam_json(exam, project), "task_ids": exam.task_ids}, 201


@api.get("/exams/<int:exam_id>/questions")
@requires(Role.ANNOTATOR)
def exam_questions(exam_id: int):
    """Start (or resume) the caller's attempt and show the questions, without answers."""
    exam, project = exams.open_exam(db.session, exam_id)
    attempt = exams.start_attempt(db.session, current_user(), exam)
    db.session.commit()
    return {"exam": exams.exam_json(exam, project), "attempt_id": attempt.id,
            "started_at": attempt.started_at.isoformat() + "Z", "label_config": project.label_config,
            "questions": exams.questions(db.session, exam)}


@api.post("/exams/<int:exam_id>/answers")
@requires(Role.ANNOTATOR)
def exam_answers(exam_id: int):
    """`{"answers": {"<task id>": [Label Studio result], ...}}`: scored at once."""
    exam, project = exams.open_exam(db.session, exam_id)
    attempt = exams.submit_answers(db.session, current_user(), exam, project, json_object().get("answers"))
    db.session.commit()
    return exams.attempt_json(exam, attempt)
