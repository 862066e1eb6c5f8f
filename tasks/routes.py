"""Annotator API: ask for the next task, read it, submit an annotation."""
from __future__ import annotations

from flask import Blueprint, request

from accounts.auth import current_user, requires
from accounts.models import Role
from background.queues import enqueue
from errors import InvalidInput
from extensions import db
from tasks import service
from tasks.jobs import deliver_annotation

api = Blueprint("tasks_api", __name__, url_prefix="/api/tasks")


@api.get("/next")
@requires(Role.ANNOTATOR)
def next_task():
    project_id = request.args.get("project_id", type=int)
    task = service.next_task(db.session, current_user(), project_id)
    if task is None:
        return {"task": None, "message": "no task is waiting for you"}, 200
    return {"task": service.task_json(task)}


@api.get("/<int:task_id>")
@requires(Role.ANNOTATOR)
def get_task(task_id: int):
    task, _project = service.visible_task(db.session, task_id)
    return service.task_json(task)


@api.post("/<int:task_id>/annotations")
@requires(Role.ANNOTATOR)
def submit(task_id: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body: send a JSON object with 'result' (and optional 'lead_time')")
    lead_time = body.get("lead_time")
    if lead_time is not None and not isinstance(lead_time, (int, float)):
        raise InvalidInput("lead_time: seconds, as a number")
    user = current_user()
    annotation = service.submit(db.session, user, task_id, body.get("result"), lead_time)
    db.session.commit()
    job = enqueue(db.session, "annotation.deliver", deliver_annotation, annotation.id,
                  queue_name="labelstudio", created_by_id=user.id)
    return {"id": annotation.id, "task_id": task_id, "label": annotation.label,
            "delivery_job": job.id}, 201
