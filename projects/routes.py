"""Manager API for labeling jobs: define, edit, upload data, publish, move through the lifecycle, watch."""
from __future__ import annotations


from flask import Blueprint, request, send_file
from sqlalchemy import select

from accounts.auth import current_user, requires
from accounts.models import Role
from background.queues import enqueue
from errors import InvalidInput, NotFound, json_object
from extensions import db
from projects import batches, imports, label_config, samples, service, templates
from projects.jobs import publish_to_label_studio
from projects.models import Project, Upload
from tasks.models import ReconcileFlag
from tasks.reconcile import reconcile_project

api = Blueprint("projects_api", __name__, url_prefix="/api/projects")
media = Blueprint("media", __name__, url_prefix="/media")
STAFF = (Role.MANAGER, Role.ADMIN)


def _mine(project_id: int) -> Project:
    return service.managed_project(db.session, current_user(), project_id)


@api.post("")
@requires(*STAFF)
def create():
    project = service.create_project(db.session, current_user(), json_object())
    db.session.commit()
    return service.project_json(db.session, project), 201


@api.get("/templates")
@requires(*STAFF)
def list_templates():
    """The templates a job starts from, each with its default config and sample items."""
    return {"templates": samples.catalog()}


@api.post("/preview")
@requires(*STAFF)
def preview():
    """Check a config (or template) against a sample item; what the editor preview renders."""
    body = json_object()
    config = label_config.parse(templates.build_config(body))
    item = body.get("item")
    if not isinstance(item, dict):
        raise InvalidInput("item: a sample item (an object of data fields) to preview with")
    label_config.check_data_fields(config, item, where="item")
    return {"label_config": config.xml, "task_type": config.task_type, "data": samples.servable(item)}


@api.get("")
@requires(*STAFF)
def list_projects():
    return {"projects": [service.project_json(db.session, p)
                         for p in service.managed_projects(db.session, current_user())]}


@api.get("/<int:project_id>")
@requires(*STAFF)
def get(project_id: int):
    return service.project_json(db.session, _mine(project_id))


@api.patch("/<int:project_id>")
@requires(*STAFF)
def update(project_id: int):
    project = service.update_project(db.session, current_user(), _mine(project_id), json_object())
    db.session.commit()
    return service.project_json(db.session, project)


@api.post("/<int:project_id>/status")
@requires(*STAFF)
def change_status(project_id: int):
    project = service.transition(db.session, _mine(project_id), str(json_object().get("status", "")))
    db.session.commit()
    return service.project_json(db.session, project)


@api.post("/<int:project_id>/uploads")
@requires(*STAFF)
def upload(project_id: int):
    project = _mine(project_id)
    file = request.files.get("file")
    if file is None or not file.filename:
        raise InvalidInput("file: attach the data file as multipart field 'file'")
    upload, job = imports.receive(db.session, current_user(), project, file.stream, file.filename,
                                  skip_bad_rows=request.form.get("skip_bad_rows") == "true",
                                  gold_field=request.form.get("gold_field") or None)
    db.session.refresh(upload)  # an inline job (tests) has already moved it on
    return {"upload": upload.report(), "job": job.to_json(), "status_url": f"/api/jobs/{job.id}",
            "upload_url": f"/api/projects/{project.id}/uploads/{upload.id}"}, 202


@api.get("/<int:project_id>/uploads/<int:upload_id>")
@requires(*STAFF)
def upload_report(project_id: int, upload_id: int):
    upload = db.session.get(Upload, upload_id)
    if upload is None or upload.project_id != _mine(project_id).id:
        raise NotFound(f"upload {upload_id} not found")
    return upload.report()


@api.get("/<int:project_id>/batches")
@requires(*STAFF)
def list_batches(project_id: int):
    return {"batches": service.batch_progress(db.session, _mine(project_id))}


@api.post("/<int:project_id>/batches/<int:batch_id>/assignees")
@requires(*STAFF)
def assign_batch(project_id: int, batch_id: int):
    """Hand a batch to people by hand: `{"usernames": [...], "teams": [...]}` (none: open to all)."""
    body = json_object()
    usernames, teams = body.get("usernames", []), body.get("teams", [])
    for field, value in (("usernames", usernames), ("teams", teams)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{field}: a list of names (both empty to open the batch to all)")
    batches.assign_batch(db.session, _mine(project_id).id, batch_id, usernames, teams)
    db.session.commit()
    return {"batches": service.batch_progress(db.session, _mine(project_id))}


@api.post("/<int:project_id>/reconcile")
@requires(*STAFF)
def reconcile(project_id: int):
    """Pull edits made in Label Studio back and flag annotations nobody was handed (a job)."""
    job = enqueue(db.session, "project.reconcile", reconcile_project, _mine(project_id).id,
                  queue_name="labelstudio", created_by_id=current_user().id)
    return {"job": job.to_json(), "status_url": f"/api/jobs/{job.id}"}, 202


@api.get("/<int:project_id>/flags")
@requires(*STAFF)
def flags(project_id: int):
    rows = db.session.scalars(select(ReconcileFlag).where(ReconcileFlag.project_id == _mine(project_id).id)
                              .order_by(ReconcileFlag.id)).all()
    return {"flags": [{"task_id": f.task_id, "ls_annotation_id": f.ls_annotation_id, "user_id": f.user_id,
                       "ls_user_id": f.ls_user_id, "reason": f.reason} for f in rows]}


@api.post("/<int:project_id>/publish")
@requires(*STAFF)
def publish(project_id: int):
    user = current_user()
    project = _mine(project_id)
    job = enqueue(db.session, "project.publish", publish_to_label_studio, project.id,
                  queue_name="labelstudio", created_by_id=user.id)
    return {"job": job.to_json(), "status_url": f"/api/jobs/{job.id}"}, 202


@media.get("/<name>")
@requires(*Role)
def media_file(name: str):
    """An uploaded image, by its content-addressed name, to those who may see it (not found for
    everyone else, so names cannot be probed); immutable, so kept for long in their own cache."""
    try:
        path = imports.media_store().path(name)
    except ValueError:
        raise NotFound("no such media file") from None
    if not path.exists() or not service.may_see_media(db.session, current_user(), name):
        raise NotFound("no such media file")
    reply = send_file(path, max_age=365 * 86400, conditional=True)
    reply.cache_control.public = False  # for this person only: never kept by a shared cache
    reply.cache_control.private = True
    reply.headers["X-Content-Type-Options"] = "nosniff"
    return reply
