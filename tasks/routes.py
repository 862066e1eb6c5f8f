"""Annotator API: ask for the next task (a lease), read it, renew or skip it, submit an annotation."""
from __future__ import annotations

from flask import Blueprint, request

from accounts.auth import current_user, requires
from accounts.models import Role
from errors import InvalidInput, json_object
from extensions import db
from qa.service import start_batch_run_if_complete
from tasks import distribution, service
from tasks.jobs import queue_delivery
from tasks.models import AnnotationStatus

api = Blueprint("tasks_api", __name__, url_prefix="/api/tasks")


@api.get("/next")
@requires(Role.ANNOTATOR)
def next_task():
    handed = distribution.lease_next(db.session, current_user(), request.args.get("project_id", type=int))
    reply = {"task": None, "message": "no task is waiting for you"} if handed is None \
        else {"task": service.task_json(handed[1], handed[0])}  # before commit expires them
    db.session.commit()
    return reply


@api.get("/<int:task_id>")
@requires(Role.ANNOTATOR)
def get_task(task_id: int):
    task, _project, lease = service.assigned_task(db.session, current_user(), task_id)
    return service.task_json(task, lease)


@api.post("/<int:task_id>/lease")
@requires(Role.ANNOTATOR)
def renew(task_id: int):
    lease = distribution.renew(db.session, current_user(), task_id)
    db.session.commit()
    return {"task_id": task_id, "expires_at": lease.expires_at.isoformat() + "Z"}


@api.post("/<int:task_id>/skip")
@requires(Role.ANNOTATOR)
def skip(task_id: int):
    body = json_object()
    distribution.skip(db.session, current_user(), task_id, str(body.get("reason", "")))
    db.session.commit()
    return {"task_id": task_id, "status": "skipped"}


@api.post("/<int:task_id>/annotations")
@requires(Role.ANNOTATOR)
def submit(task_id: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body: send a JSON object with 'result' (and optional 'lead_time')")
    lead_time = body.get("lead_time")
    if lead_time is not None and not isinstance(lead_time, (int, float)):
        raise InvalidInput("lead_time: seconds, as a number")
    submitted = service.submit(db.session, current_user(), task_id, body.get("result"), lead_time)
    reply = {"id": submitted.id, "task_id": task_id, "label": submitted.label, "status": submitted.status.value}
    db.session.commit()
    if submitted.status == AnnotationStatus.EXTRA:
        reply["message"] = "your lease had expired and the task was already complete; kept as extra"
        return reply, 201
    queue_delivery(submitted.project_id)
    if submitted.may_complete_task:
        start_batch_run_if_complete(db.session, task_id)
    return reply, 201
