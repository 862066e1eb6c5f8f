"""The review queue: doubtful items a reviewer decides, most disputed first; the decision is final.

Reviewers review every job's queue, managers their own jobs', admins all. A reviewer sees the item's
data and every annotation of it with who made it (staff only, never annotators). Deciding sets the
item's consensus with confidence 1 and status `reviewed`, which later QA runs leave alone; two
reviewers deciding at once cannot both win (a conditional UPDATE on the open item).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from accounts.models import Role, User
from errors import Conflict, InvalidInput, NotFound
from extensions import utcnow
from projects.label_config import parse
from projects.models import Project
from qa.models import Consensus, ConsensusStatus, ReviewItem, ReviewStatus
from tasks import results
from tasks.models import Annotation, AnnotationStatus, Task

PAGE = 50


def _visible(user: User):
    """A clause over Project: the jobs whose review queue `user` may work."""
    if user.role in (Role.ADMIN, Role.REVIEWER):
        return Project.id.is_not(None)
    return Project.created_by_id == user.id


def open_count(session: Session, user: User, project_ids: list[int] | None = None) -> int:
    """How many open review items the user may decide (in these jobs, if given)."""
    query = (select(func.count()).select_from(ReviewItem).join(Project, Project.id == ReviewItem.project_id)
             .where(ReviewItem.status == ReviewStatus.OPEN, _visible(user)))
    if project_ids is not None:
        query = query.where(ReviewItem.project_id.in_(project_ids))
    return session.scalar(query) or 0


def open_items(session: Session, user: User, project_id: int | None = None, limit: int = PAGE) -> list[dict[str, Any]]:
    """Open review items the user may decide, most disputed first, each with its annotations."""
    query = (select(ReviewItem, Task, Project).join(Task, Task.id == ReviewItem.task_id)
             .join(Project, Project.id == ReviewItem.project_id)
             .where(ReviewItem.status == ReviewStatus.OPEN, _visible(user))
             .order_by(ReviewItem.disputed.desc(), ReviewItem.id).limit(limit))
    if project_id is not None:
        query = query.where(ReviewItem.project_id == project_id)
    rows = session.execute(query).all()
    annotations = _annotations(session, [row.Task.id for row in rows])
    consensus = {c.task_id: c for c in session.scalars(
        select(Consensus).where(Consensus.task_id.in_([row.Task.id for row in rows])))}
    return [item_json(row.ReviewItem, row.Task, row.Project, annotations.get(row.Task.id, []),
                      consensus.get(row.Task.id)) for row in rows]


def _annotations(session: Session, task_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for annotation, username in session.execute(
            select(Annotation, User.username).join(User, User.id == Annotation.annotator_id)
            .where(Annotation.task_id.in_(task_ids), Annotation.status == AnnotationStatus.ACCEPTED)
            .order_by(Annotation.id)):
        found.setdefault(annotation.task_id, []).append(
            {"annotator": username, "label": annotation.label, "result": annotation.result})
    return found


def item_json(item: ReviewItem, task: Task, project: Project, annotations: list[dict[str, Any]],
              consensus: Consensus | None) -> dict[str, Any]:
    config = parse(project.label_config)
    choices = list(config.classification.choices) if config.classification else []
    return {"id": item.id, "task_id": task.id, "project_id": project.id, "project": project.title,
            "status": item.status.value, "disputed": round(item.disputed, 6), "data": task.data,
            "choices": choices, "annotations": annotations,
            "consensus": {"label": consensus.label, "confidence": consensus.confidence} if consensus else None,
            "decision": {"label": item.label, "result": item.result, "note": item.note,
                         "decided_at": item.decided_at.isoformat() + "Z"} if item.decided_at else None}


def decide(session: Session, reviewer: User, item_id: int, body: Any) -> ReviewItem:
    """Record the reviewer's final label (or full result) for an item; the caller commits."""
    row = session.execute(select(ReviewItem, Project).join(Project, Project.id == ReviewItem.project_id)
                          .where(ReviewItem.id == item_id, _visible(reviewer))).first()
    if row is None:
        raise NotFound(f"review item {item_id} not found")
    item, project = row.ReviewItem, row.Project
    label, result, note = _decision(parse(project.label_config), body)
    taken = session.execute(update(ReviewItem).where(ReviewItem.id == item.id, ReviewItem.status == ReviewStatus.OPEN)
                            .values(status=ReviewStatus.DECIDED, reviewer_id=reviewer.id, label=label,
                                    result=result, note=note, decided_at=utcnow())
                            .execution_options(synchronize_session=False)).rowcount == 1
    if not taken:
        raise Conflict(f"review item {item_id} was already decided")
    consensus = session.get(Consensus, item.task_id)
    if consensus is None:
        consensus = Consensus(task_id=item.task_id, project_id=project.id, votes=0)
        session.add(consensus)
    consensus.label, consensus.result, consensus.confidence = label, result, 1.0
    consensus.method, consensus.status, consensus.updated_at = "review", ConsensusStatus.REVIEWED, utcnow()
    session.flush()
    session.refresh(item)
    return item


def _decision(config, body: Any) -> tuple[str | None, list[dict[str, Any]], str | None]:
    """(label, result, note) from a decision body: a `label` among the job's choices, or a `result`."""
    if not isinstance(body, dict):
        raise InvalidInput("body: send a JSON object with 'label' (or 'result') and an optional 'note'")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 1000):
        raise InvalidInput("note: text of at most 1,000 characters")
    if body.get("result") is not None:
        checked = results.validate(config, body["result"])
        return results.primary_label(config, checked), checked, note
    label = body.get("label")
    control = config.classification
    if control is None:
        raise InvalidInput("result: this job is not a classification; send the corrected annotation as 'result'")
    picked = label.split("|") if isinstance(label, str) else label if isinstance(label, list) else None
    if not picked or not all(isinstance(p, str) and p in control.choices for p in picked) \
            or (len(picked) > 1 and not control.multiple):
        raise InvalidInput(f"label: one of {', '.join(control.choices)}")
    value = sorted(set(picked))
    result = [{"from_name": control.name, "to_name": control.to_names[0], "type": "choices",
               "value": {"choices": value}}]
    return "|".join(value), result, note
