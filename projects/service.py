"""Labeling job operations: define and edit a job, move it through its lifecycle, report on it.

Plain functions taking the session first; the caller owns the transaction. Every field a manager
can get wrong is checked here, and the error names the field.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Integer, func, select, update
from sqlalchemy.orm import Session

from accounts.models import Role, User
from errors import Conflict, InvalidInput, NotFound
from projects import label_config, templates
from projects.models import Batch, BatchMember, GuidelineVersion, MediaUse, Project, ProjectStatus
from tasks.models import Assignment, Task

S = ProjectStatus
TRANSITIONS: dict[ProjectStatus, set[ProjectStatus]] = {
    S.DRAFT: {S.ACTIVE, S.ARCHIVED}, S.ACTIVE: {S.PAUSED, S.COMPLETED},
    S.PAUSED: {S.ACTIVE, S.COMPLETED}, S.COMPLETED: {S.ARCHIVED, S.ACTIVE}, S.ARCHIVED: set()}
# field: (type, least, most)
NUMBERS: dict[str, tuple[type, float, float]] = {
    "overlap": (int, 1, 50), "batch_size": (int, 1, 100_000), "lease_seconds": (int, 60, 86_400), "gold_share": (float, 0, 0.5),
    "consensus_threshold": (float, 0, 1), "min_gold_accuracy": (float, 0, 1),
    "max_tasks_per_annotator": (int, 1, 10_000_000), "max_share_per_annotator": (float, 0.001, 1),
    "min_gold_answers": (int, 1, 10_000), "max_overlap": (int, 1, 50)}
QA_METHODS = ("majority_vote", "dawid_skene")
EDITABLE_AFTER_DRAFT = {"title", "domain", "guidelines", "deadline", "piece_rate", "required_skills",
                        "overlap", "gold_share", "consensus_threshold", "min_gold_accuracy", "lease_seconds",
                        "max_tasks_per_annotator", "max_share_per_annotator", "min_gold_answers",
                        "max_overlap", "qa_method"}


def _number(name: str, value: Any) -> float | int:
    kind, low, high = NUMBERS[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high \
            or (kind is int and int(value) != value):
        raise InvalidInput(f"{name}: a {'whole ' if kind is int else ''}number from {low:g} to {high:g}")
    return kind(value)


def _text(name: str, value: Any, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value.strip()) <= high:
        raise InvalidInput(f"{name}: text of {low} to {high} characters")
    return value.strip()


def _deadline(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise InvalidInput(f"deadline: {value!r} is not an ISO date such as 2026-12-31") from None


def _piece_rate(value: Any) -> Decimal:
    try:
        rate = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"piece_rate: {value!r} is not an amount in CNY") from None
    if not Decimal(0) <= rate <= Decimal(100000):
        raise InvalidInput("piece_rate: an amount from 0 to 100000 CNY")
    return rate


def _skills(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 20 or not all(isinstance(s, str) and 0 < len(s) <= 60 for s in value):
        raise InvalidInput("required_skills: a list of up to 20 skill names")
    return sorted(set(value))


def _qa_method(value: Any) -> str:
    if value not in QA_METHODS:
        raise InvalidInput(f"qa_method: one of {', '.join(QA_METHODS)}")
    return value


def _apply(project: Project, body: dict[str, Any]) -> None:
    """Set every field present in `body` on the project, checking each."""
    parsers = {"title": lambda v: _text("title", v, 2, 200), "domain": lambda v: _text("domain", v, 1, 60),
               "deadline": _deadline, "piece_rate": _piece_rate, "required_skills": _skills, "qa_method": _qa_method,
               "batch_group_field": lambda v: _text("batch_group_field", v, 1, 100) if v else None}
    for name, value in body.items():
        if name.startswith("max_") and value is None and name in NUMBERS:
            setattr(project, name, None)  # caps can be lifted
        elif name in NUMBERS:
            setattr(project, name, _number(name, value))
        elif name in parsers:
            setattr(project, name, parsers[name](value))
    if project.max_overlap is not None and project.max_overlap < (project.overlap or 1):
        raise InvalidInput(f"max_overlap: at least the overlap ({project.overlap}), or empty for no dynamic overlap")
    if "label_config" in body or "template" in body:
        project.label_config = label_config.parse(templates.build_config(body)).xml


def create_project(session: Session, user: User, body: dict[str, Any]) -> Project:
    """A draft job from a manager's definition; InvalidInput names the field at fault."""
    if "title" not in body:
        raise InvalidInput("title: required")
    if "label_config" not in body and "template" not in body:
        raise InvalidInput("label_config: give a Label Studio config, or a template")
    project = Project(created_by_id=user.id, guidelines_version=0)
    _apply(project, body)
    session.add(project)
    session.flush()
    set_guidelines(session, user, project, body.get("guidelines", ""))
    return project


def update_project(session: Session, user: User, project: Project, body: dict[str, Any]) -> Project:
    """Change a job's settings; the label config and batching only while it is a draft."""
    if project.status == S.ARCHIVED:
        raise Conflict("the job is archived and can no longer change")
    if project.status != S.DRAFT:
        frozen = sorted(set(body) - EDITABLE_AFTER_DRAFT)
        if frozen:
            raise Conflict(f"{', '.join(frozen)}: can only change while the job is a draft")
    _apply(project, body)
    if "guidelines" in body:
        set_guidelines(session, user, project, body["guidelines"])
    if "overlap" in body:  # a raised overlap reopens full tasks (dynamic overlap), a lowered one closes
        session.execute(update(Task).where(Task.project_id == project.id)
                        .values(is_open=Task.slots_taken < project.overlap + Task.extra_overlap))
    session.flush()
    return project


def set_guidelines(session: Session, user: User, project: Project, text: Any) -> None:
    """Record new Markdown guidelines as the next version (unchanged text keeps the version)."""
    if not isinstance(text, str) or len(text) > 100_000:
        raise InvalidInput("guidelines: Markdown text of at most 100,000 characters")
    if project.guidelines_version and text == current_guidelines(session, project):
        return
    project.guidelines_version += 1
    session.add(GuidelineVersion(project_id=project.id, version=project.guidelines_version,
                                 text=text, created_by_id=user.id))


def current_guidelines(session: Session, project: Project) -> str:
    return session.scalar(select(GuidelineVersion.text).where(
        GuidelineVersion.project_id == project.id,
        GuidelineVersion.version == project.guidelines_version)) or ""


def transition(session: Session, project: Project, target: str) -> Project:
    """Move the job to `target` if the lifecycle allows it; Conflict otherwise."""
    try:
        wanted = ProjectStatus(target)
    except ValueError:
        raise InvalidInput(f"status: one of {', '.join(s.value for s in ProjectStatus)}") from None
    if wanted not in TRANSITIONS[project.status]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[project.status])) or "none"
        raise Conflict(f"a {project.status.value} job cannot become {wanted.value} (allowed: {allowed})")
    if wanted == S.ACTIVE and project.ls_project_id is None:
        raise Conflict("publish the job first: it becomes active once Label Studio has it")
    project.status = wanted
    return project


def managed_projects(session: Session, user: User) -> list[Project]:
    """The jobs the user manages (admins: all), newest first."""
    query = select(Project).order_by(Project.id.desc())
    if user.role != Role.ADMIN:
        query = query.where(Project.created_by_id == user.id)
    return list(session.scalars(query))


def managed_project(session: Session, user: User, project_id: int) -> Project:
    """A job the user manages (admins manage all); NotFound otherwise, so ids cannot be probed."""
    project = session.get(Project, project_id)
    if project is None or (user.role != Role.ADMIN and project.created_by_id != user.id):
        raise NotFound(f"project {project_id} not found")
    return project


def may_see_media(session: Session, user: User, name: str) -> bool:
    """Whether `user` may fetch the stored image `name`: an admin any; a reviewer one of any job
    (they review every job); a manager one of a job they manage; an annotator one of a job open
    to work (active or paused) or one they worked in; a buyer none (a dataset's images reach a
    buyer in its files). Uses are recorded by zip imports (MediaUse); template samples are shown
    to everyone (projects.samples)."""
    from projects.samples import sample_names

    if user.role == Role.ADMIN or name in sample_names():
        return True
    jobs = select(MediaUse.project_id).where(MediaUse.name == name)
    if user.role == Role.REVIEWER:
        return bool(session.scalar(select(jobs.exists())))
    if user.role == Role.MANAGER:
        allowed = Project.created_by_id == user.id
    elif user.role == Role.ANNOTATOR:
        allowed = Project.status.in_((ProjectStatus.ACTIVE, ProjectStatus.PAUSED)) | Project.id.in_(
            select(Assignment.project_id).where(Assignment.annotator_id == user.id))
    else:
        return False
    return bool(session.scalar(select(select(Project.id).where(Project.id.in_(jobs), allowed).exists())))


def batch_progress(session: Session, project: Project) -> list[dict[str, Any]]:
    """Per batch: items, annotations made and needed (k per item)."""
    rows = session.execute(
        select(Batch.id, Batch.number, Batch.group_value, Batch.size,
               func.coalesce(func.sum(Task.annotation_count), 0), func.coalesce(func.sum(Task.extra_overlap), 0))
        .outerjoin(Task, Task.batch_id == Batch.id).where(Batch.project_id == project.id)
        .group_by(Batch.id).order_by(Batch.number)).all()
    members: dict[int, list[str]] = {}
    for batch_id, username in session.execute(
            select(BatchMember.batch_id, User.username).join(User, User.id == BatchMember.user_id)
            .join(Batch, Batch.id == BatchMember.batch_id).where(Batch.project_id == project.id)):
        members.setdefault(batch_id, []).append(username)
    return [{"id": r[0], "number": r[1], "group": r[2], "items": r[3], "annotations": int(r[4]),
             "needed": r[3] * project.overlap + int(r[5]), "assignees": sorted(members.get(r[0], []))} for r in rows]


def project_json(session: Session, project: Project) -> dict[str, Any]:
    total, gold, done, extra = session.execute(
        select(func.count(Task.id), func.coalesce(func.sum(func.cast(Task.is_gold, Integer())), 0),
               func.coalesce(func.sum(Task.annotation_count), 0), func.coalesce(func.sum(Task.extra_overlap), 0))
        .where(Task.project_id == project.id)).one()
    return {"id": project.id, "title": project.title, "domain": project.domain,
            "status": project.status.value, "overlap": project.overlap, "batch_size": project.batch_size,
            "lease_seconds": project.lease_seconds,
            "max_tasks_per_annotator": project.max_tasks_per_annotator,
            "max_share_per_annotator": project.max_share_per_annotator,
            "batch_group_field": project.batch_group_field, "gold_share": project.gold_share,
            "consensus_threshold": project.consensus_threshold,
            "min_gold_accuracy": project.min_gold_accuracy, "min_gold_answers": project.min_gold_answers,
            "qa_method": project.qa_method, "max_overlap": project.max_overlap,
            "deadline": project.deadline.isoformat() if project.deadline else None,
            "piece_rate": str(project.piece_rate), "required_skills": project.required_skills,
            "guidelines": current_guidelines(session, project),
            "guidelines_version": project.guidelines_version, "label_config": project.label_config,
            "ls_project_id": project.ls_project_id, "tasks": total - int(gold), "gold_tasks": int(gold),
            "annotations": int(done), "annotations_needed": (total - int(gold)) * project.overlap + int(extra)}
