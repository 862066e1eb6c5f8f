"""Dataset API. Managers: build versions, publish, diff, answer access requests. Buyers: the
catalog, access requests, signed download links. `/downloads/<token>` serves a file to whoever
holds a fresh signed link (resumable with HTTP ranges), and records every download."""
from __future__ import annotations

from flask import Blueprint, request, send_file

from accounts.auth import current_user, public, requires
from accounts.models import Role
from errors import Conflict, InvalidInput, NotFound, json_object
from exports import service
from exports.diff import diff_manifests
from exports.jobs import version_dir
from exports.models import Dataset, DatasetStatus, Download, GrantStatus
from extensions import db

api = Blueprint("exports_api", __name__, url_prefix="/api/exports")
downloads = Blueprint("downloads", __name__, url_prefix="/downloads")
STAFF = (Role.MANAGER, Role.ADMIN)
READERS = (Role.MANAGER, Role.ADMIN, Role.BUYER)
DECISIONS = {"granted": GrantStatus.GRANTED, "declined": GrantStatus.DECLINED, "revoked": GrantStatus.REVOKED}
MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".csv": "text/csv",
               ".md": "text/markdown", ".tsv": "text/tab-separated-values", ".parquet": "application/vnd.apache.parquet"}


def _staff_dataset(dataset_id: int) -> Dataset:
    user = current_user()
    dataset = service.visible_dataset(db.session, user, dataset_id)
    if not service.is_staff_of(db.session, user, dataset):
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset


@api.post("")
@requires(*STAFF)
def create():
    """Build the next version: {"project_ids": [...], "formats": [...], "split": [.8, .1, .1], ...}."""
    dataset, job = service.create_version(db.session, current_user(), json_object())
    return {"dataset": service.dataset_json(db.session, current_user(), dataset), "job": job.to_json(),
            "status_url": f"/api/jobs/{job.id}"}, 202


@api.get("")
@requires(*READERS)
def list_datasets():
    user = current_user()
    return {"datasets": [service.dataset_json(db.session, user, d) for d in service.datasets_for(db.session, user)]}


@api.get("/<int:dataset_id>")
@requires(*READERS)
def get(dataset_id: int):
    user = current_user()
    return service.dataset_json(db.session, user, service.visible_dataset(db.session, user, dataset_id))


@api.get("/<int:dataset_id>/preview")
@requires(*READERS)
def preview(dataset_id: int):
    dataset = service.visible_dataset(db.session, current_user(), dataset_id)
    return {"items": service.preview(dataset)}


@api.post("/<int:dataset_id>/publish")
@requires(*STAFF)
def publish(dataset_id: int):
    dataset = _staff_dataset(dataset_id)
    service.publish(dataset)
    db.session.commit()
    return service.dataset_json(db.session, current_user(), dataset)


@api.get("/<int:dataset_id>/diff")
@requires(*STAFF)
def diff(dataset_id: int):
    """Items added, removed and relabeled from version ?against=<id> to this one."""
    new = _staff_dataset(dataset_id)
    against = request.args.get("against", type=int)
    if against is None:
        raise InvalidInput("against: the id of the version to compare with")
    old = _staff_dataset(against)
    if DatasetStatus.READY != old.status or new.status != DatasetStatus.READY:
        raise Conflict("both versions must be built before they can be compared")
    return {"from": old.id, "to": new.id,
            **diff_manifests(version_dir(old.id) / "manifest.tsv", version_dir(new.id) / "manifest.tsv")}


@api.post("/<int:dataset_id>/requests")
@requires(Role.BUYER)
def request_access(dataset_id: int):
    user = current_user()
    dataset = service.visible_dataset(db.session, user, dataset_id)
    grant = service.request_access(db.session, user, dataset, json_object().get("message"))
    db.session.commit()
    return {"dataset_id": dataset.id, "access": grant.status.value}, 201


@api.get("/<int:dataset_id>/grants")
@requires(*STAFF)
def list_grants(dataset_id: int):
    return {"grants": service.grants_json(db.session, _staff_dataset(dataset_id))}


@api.post("/<int:dataset_id>/grants")
@requires(*STAFF)
def grant(dataset_id: int):
    """{"buyer": username, "status": "granted" | "declined" | "revoked", "license_terms": "..."}."""
    dataset = _staff_dataset(dataset_id)
    body = json_object()
    status = DECISIONS.get(body.get("status", "granted"))
    if status is None:
        raise InvalidInput(f"status: one of {', '.join(DECISIONS)}")
    row = service.decide_access(db.session, current_user(), dataset, str(body.get("buyer", "")), status,
                                body.get("license_terms"))
    db.session.commit()
    return {"dataset_id": dataset.id, "buyer_id": row.buyer_id, "status": row.status.value}, 201


@api.post("/<int:dataset_id>/files/<int:file_id>/link")
@requires(*READERS)
def link(dataset_id: int, file_id: int):
    """A signed link to one file, valid for a few minutes."""
    user = current_user()
    dataset = service.visible_dataset(db.session, user, dataset_id)
    return service.download_link(db.session, user, dataset, file_id)


@downloads.get("/<token>")
@public
def download(token: str):
    """The file a signed link names; Range requests resume it. The link is the credential."""
    file, user = service.open_link(db.session, token)
    path = version_dir(file.dataset_id) / file.path
    reply = send_file(path, mimetype=MEDIA_TYPES.get(path.suffix, "application/octet-stream"), as_attachment=True,
                      download_name=path.name, conditional=True, etag=file.sha256, max_age=0)
    db.session.add(Download(file_id=file.id, buyer_id=user.id, range=request.headers.get("Range"),
                            status_code=reply.status_code, remote_addr=request.remote_addr))
    db.session.commit()
    return reply
