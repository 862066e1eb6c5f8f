"""Background delivery of annotations to Label Studio, attributed to their annotators.

Qianling stores a submission first; delivery writes it to Label Studio afterwards, so a
submission is never lost while Label Studio is down. A submit asks for a delivery run of its job
(`queue_delivery`); runs are coalesced, so a crowd of 200 submitting at once makes a few runs,
each delivering every annotation of the job still missing there over one connection, not 200
one-annotation jobs. RQ retries a failed run; `redeliver_pending` (what `flask jobs requeue`
calls) catches up on everything. Idempotent: our annotation id travels as Label Studio's
`import_id`, and a rerun finds the copy that already arrived instead of writing a second one;
one run per job at a time (an advisory lock), so two workers never race to write the same one.
"""
from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import User
from background.queues import coalesced_run_started, enqueue_coalesced
from extensions import db, one_at_a_time, utcnow
from labelstudio.gateway import Gateway
from tasks.models import Annotation, AnnotationStatus, Task

logger = logging.getLogger(__name__)
CHUNK = 200  # annotations read per query of a run
# A run stops after this long and queues the next: the worker's other queues come first meanwhile
# (a crowd outpacing Label Studio kept one run going for as long as it worked).
RUN_SECONDS = 60


def ensure_ls_user(session: Session, gateway: Gateway, user: User) -> int:
    """The Label Studio user id of `user`, created on first need and remembered."""
    if user.ls_user_id is None:
        user.ls_user_id = gateway.ensure_user(user.email, user.username, user.display_name)
        session.commit()
    return user.ls_user_id


def _run_key(project_id: int) -> str:
    return f"deliver-project-{project_id}"


def queue_delivery(project_id: int) -> None:
    """Ask for a delivery run of this job's pending annotations (coalesced with a waiting one)."""
    enqueue_coalesced("deliveries", deliver_project, project_id, key=_run_key(project_id))


def deliver_project(project_id: int) -> int:
    """The delivery run: write every accepted annotation of the job that Label Studio does not
    have yet; return how many. Raises (so RQ retries) if some could not be delivered."""
    coalesced_run_started(_run_key(project_id))
    return _deliver(project_id, RUN_SECONDS)


def redeliver_pending() -> int:
    """Deliver every stored annotation Label Studio does not have yet, job by job; return how many."""
    with db.new_session() as session:
        projects = session.scalars(select(Task.project_id).distinct().join(Annotation, Annotation.task_id == Task.id)
                                   .where(*_pending()).order_by(Task.project_id)).all()
    return sum(_deliver(project_id, None) for project_id in projects)


def _pending() -> tuple:
    return Annotation.ls_annotation_id.is_(None), Annotation.status == AnnotationStatus.ACCEPTED


def _deliver(project_id: int, seconds: float | None) -> int:
    """Deliver the job's pending annotations, all of them or (`seconds`) until that time is up and
    a chunk ends; then the rest is left to a new run, queued."""
    delivered, waiting, after = 0, [], 0
    stop_at = None if seconds is None else time.monotonic() + seconds
    with (Gateway.from_app() as gateway, db.new_session() as session,
          one_at_a_time(session, "delivery", project_id)):
        while True:
            chunk = session.execute(select(Annotation, Task.ls_task_id).join(Task, Task.id == Annotation.task_id)
                                    .where(Task.project_id == project_id, Annotation.id > after, *_pending())
                                    .order_by(Annotation.id).limit(CHUNK)).all()
            if not chunk:
                break
            for annotation, ls_task_id in chunk:
                if ls_task_id is None:  # its task has not reached Label Studio yet
                    waiting.append(annotation.id)
                else:
                    _deliver_one(session, gateway, annotation, ls_task_id)
                    delivered += 1
            after = chunk[-1][0].id
            if stop_at is not None and len(chunk) == CHUNK and time.monotonic() > stop_at:
                queue_delivery(project_id)  # the rest after the work queued meanwhile
                break
    logger.info("event=annotations_delivered project_id=%s count=%s waiting=%s", project_id, delivered, len(waiting))
    if waiting:
        raise RuntimeError(f"annotations {waiting[:10]} wait for their tasks to reach Label Studio; "
                           "the run is retried")
    return delivered


def _deliver_one(session: Session, gateway: Gateway, annotation: Annotation, ls_task_id: int) -> None:
    """Write one annotation (unless it already arrived) and remember its Label Studio id."""
    completed_by = ensure_ls_user(session, gateway, session.get(User, annotation.annotator_id))
    ls_id = gateway.find_annotation(ls_task_id, annotation.id)
    if ls_id is None:
        ls_id = gateway.create_annotation(ls_task_id, annotation.id, annotation.result,
                                          completed_by, annotation.lead_time)
    annotation.ls_annotation_id, annotation.delivered_at = ls_id, utcnow()
    session.commit()
