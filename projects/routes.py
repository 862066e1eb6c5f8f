"""Manager API for labeling jobs: define, import data, publish, watch."""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import select

from accounts.auth import current_user, requires
from accounts.models import Role
from background.queues import enqueue
from errors import InvalidInput
from extensions import db
from projects import service
from projects.jobs import publish_to_label_studio
from projects.models import Project

api = Blueprint("projects_api", __name__, url_prefix="/api/projects")
STAFF = (Role.MANAGER, Role.ADMIN)


@api.post("")
@requires(*STAFF)
def create():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body: send the job definition as a JSON object")
    project = service.create_project(db.session, current_user(), body)
    db.session.commit()
    return service.project_json(db.session, project), 201


@api.get("")
@requires(*STAFF)
def list_projects():
    user = current_user()
    query = select(Project).order_by(Project.id.desc())
    if user.role != Role.ADMIN:
        query = query.where(Project.created_by_id == user.id)
    return {"projects": [service.project_json(db.session, p) for p in db.session.scalars(query)]}


@api.get("/<int:project_id>")
@requires(*STAFF)
def get(project_id: int):
    return service.project_json(db.session, service.managed_project(db.session, current_user(), project_id))


@api.post("/<int:project_id>/data")
@requires(*STAFF)
def upload(project_id: int):
    project = service.managed_project(db.session, current_user(), project_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("file: attach the data file as multipart field 'file'")
    report = service.import_file(db.session, project, upload.stream, upload.filename,
                                 skip_bad_rows=request.form.get("skip_bad_rows") == "true",
                                 gold_field=request.form.get("gold_field") or None)
    db.session.commit()
    return report.to_json(), 201


@api.post("/<int:project_id>/publish")
@requires(*STAFF)
def publish(project_id: int):
    user = current_user()
    project = service.managed_project(db.session, user, project_id)
    job = enqueue(db.session, "project.publish", publish_to_label_studio, project.id,
                  queue_name="labelstudio", created_by_id=user.id)
    return {"job": job.to_json(), "status_url": f"/api/jobs/{job.id}"}, 202
