"""Background delivery of annotations to Label Studio, attributed to their annotators.

Qianling stores a submission first; this job writes it to Label Studio afterwards, so a
submission is never lost while Label Studio is down (RQ retries; `redeliver_pending` catches up
on anything older). Idempotent: our annotation id travels as Label Studio's `import_id`, and a
rerun finds the copy that already arrived instead of writing a second one.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from accounts.models import User
from extensions import db, utcnow
from labelstudio.gateway import Gateway
from tasks.models import Annotation, AnnotationStatus, Task

logger = logging.getLogger(__name__)


def ensure_ls_user(session, gateway: Gateway, user: User) -> int:
    """The Label Studio user id of `user`, created on first need and remembered."""
    if user.ls_user_id is None:
        user.ls_user_id = gateway.ensure_user(user.email, user.username, user.display_name)
        session.commit()
    return user.ls_user_id


def deliver_annotation(annotation_id: int) -> int:
    """Write one stored annotation to Label Studio; return its Label Studio id."""
    with db.new_session() as session:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            raise LookupError(f"annotation {annotation_id} does not exist")
        if annotation.ls_annotation_id is not None:
            return annotation.ls_annotation_id
        task = session.get(Task, annotation.task_id)
        if task is None or task.ls_task_id is None:
            raise RuntimeError(f"task {annotation.task_id} is not in Label Studio yet; retry after sync")
        with Gateway.from_app() as gateway:
            completed_by = ensure_ls_user(session, gateway, session.get(User, annotation.annotator_id))
            ls_id = gateway.find_annotation(task.ls_task_id, annotation.id)
            if ls_id is None:
                ls_id = gateway.create_annotation(task.ls_task_id, annotation.id, annotation.result,
                                                  completed_by, annotation.lead_time)
        annotation.ls_annotation_id, annotation.delivered_at = ls_id, utcnow()
        session.commit()
        logger.info("event=annotation_delivered annotation_id=%s ls_id=%s", annotation_id, ls_id)
        return ls_id


def redeliver_pending(limit: int = 10000) -> int:
    """Deliver every stored annotation Label Studio does not have yet; return how many."""
    with db.new_session() as session:
        ids = session.scalars(select(Annotation.id).where(Annotation.ls_annotation_id.is_(None),
                                                          Annotation.status == AnnotationStatus.ACCEPTED)
                              .order_by(Annotation.id).limit(limit)).all()
    for annotation_id in ids:
        deliver_annotation(annotation_id)
    return len(ids)
