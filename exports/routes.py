"""Dataset API: managers build and grant datasets; buyers list and download what they were granted."""
from __future__ import annotations

from flask import Blueprint, request, send_file

from accounts.auth import current_user, requires
from accounts.models import Role
from errors import Conflict, InvalidInput
from exports import service
from exports.jobs import datasets_dir
from extensions import db
from projects.service import managed_project

api = Blueprint("exports_api", __name__, url_prefix="/api/exports")
STAFF = (Role.MANAGER, Role.ADMIN)
READERS = (Role.MANAGER, Role.ADMIN, Role.BUYER)


@api.post("")
@requires(*STAFF)
def create():
    body = request.get_json(silent=True) or {}
    if not isinstance(body.get("project_id"), int):
        raise InvalidInput("project_id: the job to export, as a number")
    user = current_user()
    project = managed_project(db.session, user, body["project_id"])
    dataset, job = service.create_dataset(db.session, user, project, body.get("qa_run_id"), body.get("name"))
    return {"dataset": service.dataset_json(dataset), "job": job.to_json(),
            "status_url": f"/api/jobs/{job.id}"}, 202


@api.get("")
@requires(*READERS)
def list_datasets():
    return {"datasets": [service.dataset_json(d) for d in service.datasets_for(db.session, current_user())]}


@api.get("/<int:dataset_id>")
@requires(*READERS)
def get(dataset_id: int):
    return service.dataset_json(service.visible_dataset(db.session, current_user(), dataset_id))


@api.post("/<int:dataset_id>/grants")
@requires(*STAFF)
def grant(dataset_id: int):
    user = current_user()
    dataset = service.visible_dataset(db.session, user, dataset_id)
    body = request.get_json(silent=True) or {}
    row = service.grant(db.session, user, dataset, str(body.get("buyer", "")))
    db.session.commit()
    return {"dataset_id": dataset.id, "buyer_id": row.buyer_id}, 201


@api.get("/<int:dataset_id>/download")
@requires(*READERS)
def download(dataset_id: int):
    dataset = service.visible_dataset(db.session, current_user(), dataset_id)
    if dataset.file_name is None:
        raise Conflict("the dataset is still being built; try again when its job has finished")
    return send_file(datasets_dir() / dataset.file_name, mimetype="application/x-ndjson",
                     as_attachment=True, download_name=f"qianling-dataset-{dataset.id}.jsonl",
                     conditional=True, etag=dataset.sha256)
