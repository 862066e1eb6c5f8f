"""Dataset operations: define a version, publish it, and the buyer's side — the catalog, access
requests, grants with license terms, short-lived signed download links.

Who sees what: managers their own jobs' versions (admins all); buyers only published versions
in the catalog (card, figures, a preview), and files only of versions they were granted.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Role, User
from background.models import JobRecord
from background.queues import enqueue
from errors import Conflict, Forbidden, InvalidInput, NotFound
from exports.build import KIND_OF_TASK
from exports.formats import writer_for
from exports.formats.parquet import parquet_preview
from exports.jobs import build_dataset, version_dir
from exports.models import (
    Dataset,
    DatasetFile,
    DatasetGrant,
    DatasetStatus,
    GrantStatus,
)
from exports.splits import check_ratios
from extensions import utcnow
from projects.label_config import parse
from projects.models import Project
from projects.service import managed_project
from qa.models import Consensus, ConsensusStatus

PREVIEW_ITEMS = 5
LINK_SALT = "dataset-download"


def _options(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """A version's build options from the request, each checked and named when wrong."""
    formats = body.get("formats", ["jsonl", "parquet"])
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats):
        raise InvalidInput("formats: a list such as [\"jsonl\", \"parquet\"]")
    for name in formats:
        try:
            writer_for(name, kind)
        except ValueError as problem:
            raise InvalidInput(f"formats: {problem}") from None
    # As asked (the catalog previews JSONL, or Parquet for a version built without it); a
    # Parquet-only version of a large job builds fastest: only the exported fields are read.
    formats = sorted(set(formats), key=lambda name: (name != "jsonl", name))
    try:
        split = list(check_ratios(body.get("split", [0.8, 0.1, 0.1])))
    except ValueError as problem:
        raise InvalidInput(str(problem)) from None
    confidence = body.get("min_confidence", 0)
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
        raise InvalidInput("min_confidence: a number from 0 to 1")
    seed = body.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 31:
        raise InvalidInput("seed: a whole number from 0 to 2147483647")
    return {"formats": formats, "split": split, "seed": seed, "min_confidence": float(confidence),
            "labels": _strings(body.get("labels"), "labels"), "batch_ids": _ids(body.get("batch_ids"), "batch_ids"),
            "include_annotations": bool(body.get("include_annotations", False))}


def _strings(value: Any, name: str) -> list[str]:
    if value in (None, []):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{name}: a list of labels")
    return sorted(set(value))


def _ids(value: Any, name: str) -> list[int]:
    if value in (None, []):
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InvalidInput(f"{name}: a list of ids")
    return sorted(set(value))


def _projects(session: Session, user: User, body: dict[str, Any]) -> list[Project]:
    ids = body.get("project_ids") or ([body["project_id"]] if "project_id" in body else None)
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InvalidInput("project_ids: the jobs to export, as a list of ids (or project_id: one id)")
    projects = [managed_project(session, user, i) for i in sorted(set(ids))]
    first = parse(projects[0].label_config)
    for other in projects[1:]:
        config = parse(other.label_config)
        if other.domain != projects[0].domain:
            raise InvalidInput(f"project_ids: job {other.id} is in domain {other.domain!r}, "
                               f"job {projects[0].id} in {projects[0].domain!r}; a dataset draws from one domain")
        if config.task_type != first.task_type or [c.choices for c in config.controls] != [c.choices for c in first.controls]:
            raise InvalidInput(f"project_ids: job {other.id} labels differently from job {projects[0].id}")
    return projects


def create_version(session: Session, user: User, body: dict[str, Any]) -> tuple[Dataset, JobRecord]:
    """Record the next version of a dataset and queue its build (committing both)."""
    projects = _projects(session, user, body)
    kind = KIND_OF_TASK.get(parse(projects[0].label_config).task_type)
    if kind is None:
        raise InvalidInput("project_ids: this job's label config fits no dataset format")
    options = _options(body, kind)
    agreed = session.scalar(select(func.count()).select_from(Consensus).where(
        Consensus.project_id.in_([p.id for p in projects]),
        Consensus.status.in_([ConsensusStatus.AGREED, ConsensusStatus.REVIEWED])))
    if not agreed:
        raise Conflict("no item of these jobs has passed QA yet: run QA first")
    name = body.get("name") or projects[0].title
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise InvalidInput("name: text of 1 to 200 characters")
    name = name.strip()
    version = (session.scalar(select(func.max(Dataset.version)).where(Dataset.name == name)) or 0) + 1
    dataset = Dataset(name=name, version=version, project_id=projects[0].id, project_ids=[p.id for p in projects],
                      options=options, license=str(body.get("license") or "")[:200],
                      description=str(body.get("description") or "")[:5000], created_by_id=user.id)
    session.add(dataset)
    session.flush()
    job = enqueue(session, "dataset.build", build_dataset, dataset.id, queue_name="exports", created_by_id=user.id)
    dataset.job_id = job.id
    session.commit()
    return dataset, job


def is_staff_of(session: Session, user: User, dataset: Dataset) -> bool:
    if user.role == Role.ADMIN:
        return True
    project = session.get(Project, dataset.project_id)
    return user.role == Role.MANAGER and project is not None and project.created_by_id == user.id


def grant_of(session: Session, user: User, dataset: Dataset) -> DatasetGrant | None:
    return session.scalar(select(DatasetGrant).where(DatasetGrant.dataset_id == dataset.id,
                                                     DatasetGrant.buyer_id == user.id))


def visible_dataset(session: Session, user: User, dataset_id: int) -> Dataset:
    """The version if the user manages it, or it is published and they are a buyer; else NotFound."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is not None and (is_staff_of(session, user, dataset)
                                or (user.role == Role.BUYER and dataset.published_at is not None)):
        return dataset
    raise NotFound(f"dataset {dataset_id} not found")


def may_download(session: Session, user: User, dataset: Dataset) -> bool:
    if is_staff_of(session, user, dataset):
        return True
    grant = grant_of(session, user, dataset)
    return user.role == Role.BUYER and grant is not None and grant.status == GrantStatus.GRANTED


def datasets_for(session: Session, user: User) -> list[Dataset]:
    """Managers: their versions; admins: all; buyers: the published catalog."""
    query = select(Dataset).order_by(Dataset.name, Dataset.version.desc())
    if user.role == Role.BUYER:
        query = query.where(Dataset.published_at.is_not(None))
    elif user.role == Role.MANAGER:
        query = query.join(Project, Project.id == Dataset.project_id).where(Project.created_by_id == user.id)
    return list(session.scalars(query))


def publish(dataset: Dataset) -> None:
    if dataset.status != DatasetStatus.READY:
        raise Conflict(f"the dataset is {dataset.status.value}; only a built version can be published")
    dataset.published_at = dataset.published_at or utcnow()


def request_access(session: Session, buyer: User, dataset: Dataset, message: Any) -> DatasetGrant:
    """A buyer asks for a version (asking again after a decline reopens the request)."""
    if message is not None and (not isinstance(message, str) or len(message) > 1000):
        raise InvalidInput("message: text of at most 1,000 characters")
    grant = grant_of(session, buyer, dataset)
    if grant is None:
        grant = DatasetGrant(dataset_id=dataset.id, buyer_id=buyer.id, status=GrantStatus.REQUESTED)
        session.add(grant)
    elif grant.status in (GrantStatus.DECLINED, GrantStatus.REVOKED):
        grant.status, grant.decided_at = GrantStatus.REQUESTED, None
    grant.message = message
    session.flush()
    return grant


def decide_access(session: Session, manager: User, dataset: Dataset, buyer_username: str, status: GrantStatus,
                  license_terms: Any = None) -> DatasetGrant:
    """Grant (with license terms), decline or revoke a buyer's access (idempotent)."""
    buyer = session.scalar(select(User).where(User.username == buyer_username))
    if buyer is None or buyer.role != Role.BUYER:
        raise InvalidInput(f"buyer: {buyer_username!r} is not a buyer account")
    if license_terms is not None and (not isinstance(license_terms, str) or len(license_terms) > 20_000):
        raise InvalidInput("license_terms: text of at most 20,000 characters")
    grant = grant_of(session, buyer, dataset)
    if grant is None:
        grant = DatasetGrant(dataset_id=dataset.id, buyer_id=buyer.id)
        session.add(grant)
    grant.status, grant.granted_by_id, grant.decided_at = status, manager.id, utcnow()
    if license_terms is not None:
        grant.license_terms = license_terms
    elif status == GrantStatus.GRANTED and not grant.license_terms:
        grant.license_terms = dataset.license or None
    session.flush()
    return grant


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def download_link(session: Session, user: User, dataset: Dataset, file_id: int) -> dict[str, Any]:
    """A short-lived signed URL for one file, for someone allowed to download it."""
    if not may_download(session, user, dataset):
        raise Forbidden("request access to this dataset; you can download it once a manager grants it")
    file = session.get(DatasetFile, file_id)
    if file is None or file.dataset_id != dataset.id:
        raise NotFound(f"file {file_id} is not part of dataset {dataset.id}")
    seconds = current_app.config.get("DOWNLOAD_LINK_SECONDS", 600)
    token = _serializer().dumps({"f": file.id, "u": user.id})
    return {"url": f"/downloads/{token}", "path": file.path, "sha256": file.sha256, "size_bytes": file.size_bytes,
            "expires_at": (utcnow() + timedelta(seconds=seconds)).isoformat() + "Z"}


def open_link(session: Session, token: str) -> tuple[DatasetFile, User]:
    """The file and user a signed link was made for, if it is genuine, fresh and still allowed."""
    try:
        claims = _serializer().loads(token, max_age=current_app.config.get("DOWNLOAD_LINK_SECONDS", 600))
    except SignatureExpired:
        raise Forbidden("this download link has expired; ask for a new one on the dataset page") from None
    except BadSignature:
        raise NotFound("no such download") from None
    file, user = session.get(DatasetFile, claims.get("f")), session.get(User, claims.get("u"))
    dataset = session.get(Dataset, file.dataset_id) if file else None
    if file is None or user is None or not user.is_active or dataset is None or not may_download(session, user, dataset):
        raise Forbidden("this download is no longer allowed")
    return file, user


def preview(dataset: Dataset, limit: int = PREVIEW_ITEMS) -> list[dict[str, Any]]:
    """The first items of the training split: data and final label only, from the JSONL file
    (or, for a version built without JSONL, the Parquet one's data fields)."""
    if dataset.status != DatasetStatus.READY:
        return []
    folder = version_dir(dataset.id)
    if (path := folder / "jsonl" / "train.jsonl").is_file():
        rows: list[dict[str, Any]] = []
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                rows.append({"data": row.get("data"), "label": row.get("label"), "result": row.get("result")})
                if len(rows) >= limit:
                    break
        return rows
    if (path := folder / "parquet" / "train.parquet").is_file():
        return parquet_preview(path, limit)
    return []


def dataset_json(session: Session, user: User, dataset: Dataset) -> dict[str, Any]:
    """A version as this user may see it: staff everything, buyers the catalog entry, their
    request's state, and the file list once granted."""
    body: dict[str, Any] = {
        "id": dataset.id, "name": dataset.name, "version": dataset.version, "description": dataset.description,
        "license": dataset.license, "status": dataset.status.value, "items": dataset.n_items,
        "sha256": dataset.sha256, "size_bytes": dataset.size_bytes, "card": dataset.card,
        "published": dataset.published_at is not None, "ready": dataset.status == DatasetStatus.READY}
    staff = is_staff_of(session, user, dataset)
    if staff:
        body.update({"options": dataset.options, "error": dataset.error, "job_id": dataset.job_id,
                     "project_ids": dataset.project_ids})
    else:
        grant = grant_of(session, user, dataset)
        body["access"] = grant.status.value if grant else None
        body["license_terms"] = grant.license_terms if grant and grant.status == GrantStatus.GRANTED else None
    if (staff or may_download(session, user, dataset)) and dataset.status == DatasetStatus.READY:
        files = session.scalars(select(DatasetFile).where(DatasetFile.dataset_id == dataset.id).order_by(DatasetFile.path))
        body["files"] = [{"id": f.id, "path": f.path, "format": f.format, "sha256": f.sha256,
                          "size_bytes": f.size_bytes,
                          "link_url": f"/api/exports/{dataset.id}/files/{f.id}/link"} for f in files]
    return body


def grants_json(session: Session, dataset: Dataset) -> list[dict[str, Any]]:
    rows = session.execute(select(DatasetGrant, User.username).join(User, User.id == DatasetGrant.buyer_id)
                           .where(DatasetGrant.dataset_id == dataset.id).order_by(DatasetGrant.id)).all()
    return [{"buyer": name, "status": g.status.value, "message": g.message, "license_terms": g.license_terms,
             "requested_at": g.created_at.isoformat() + "Z",
             "decided_at": g.decided_at.isoformat() + "Z" if g.decided_at else None} for g, name in rows]
