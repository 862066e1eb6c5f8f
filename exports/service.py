"""Dataset operations: build one from a QA run, grant buyers, decide who may see which."""
from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from accounts.models import Role, User
from background.models import JobRecord
from background.queues import enqueue
from errors import Conflict, InvalidInput, NotFound
from exports.jobs import build_dataset
from exports.models import Dataset, DatasetGrant
from projects.models import Project
from qa.models import QARun


def create_dataset(session: Session, user: User, project: Project, qa_run_id: int | None,
                   name: str | None) -> tuple[Dataset, JobRecord]:
    """Record a dataset of the run's agreed items (default: the job's latest finished run); queue its build."""
    query = select(QARun).where(QARun.project_id == project.id, QARun.completed_at.is_not(None))
    if qa_run_id is not None:
        query = query.where(QARun.id == qa_run_id)
    run = session.scalar(query.order_by(QARun.id.desc()).limit(1))
    if run is None:
        raise Conflict("no finished QA run for this job" if qa_run_id is None
                       else f"qa_run_id: run {qa_run_id} of this job is not finished or does not exist")
    dataset = Dataset(project_id=project.id, qa_run_id=run.id, created_by_id=user.id,
                      name=(name or f"{project.title} v{run.id}")[:200])
    session.add(dataset)
    session.flush()
    job = enqueue(session, "dataset.build", build_dataset, dataset.id, queue_name="exports",
                  created_by_id=user.id)
    dataset.job_id = job.id
    session.commit()
    return dataset, job


def _is_staff_of(session: Session, user: User, dataset: Dataset) -> bool:
    if user.role == Role.ADMIN:
        return True
    project = session.get(Project, dataset.project_id)
    return user.role == Role.MANAGER and project is not None and project.created_by_id == user.id


def _granted(user: User):
    return exists().where(DatasetGrant.dataset_id == Dataset.id, DatasetGrant.buyer_id == user.id)


def visible_dataset(session: Session, user: User, dataset_id: int) -> Dataset:
    """The dataset if the user manages it or was granted it; NotFound otherwise (no probing)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is not None and (_is_staff_of(session, user, dataset) or (
            user.role == Role.BUYER and session.scalar(select(_granted(user).where(Dataset.id == dataset_id))))):
        return dataset
    raise NotFound(f"dataset {dataset_id} not found")


def datasets_for(session: Session, user: User) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.id.desc())
    if user.role == Role.BUYER:
        query = query.where(_granted(user))
    elif user.role == Role.MANAGER:
        query = query.join(Project, Project.id == Dataset.project_id).where(Project.created_by_id == user.id)
    return list(session.scalars(query))


def grant(session: Session, manager: User, dataset: Dataset, buyer_username: str) -> DatasetGrant:
    """Let a buyer download the dataset (idempotent)."""
    buyer = session.scalar(select(User).where(User.username == buyer_username))
    if buyer is None or buyer.role != Role.BUYER:
        raise InvalidInput(f"buyer: {buyer_username!r} is not a buyer account")
    existing = session.scalar(select(DatasetGrant).where(DatasetGrant.dataset_id == dataset.id,
                                                          DatasetGrant.buyer_id == buyer.id))
    if existing is not None:
        return existing
    row = DatasetGrant(dataset_id=dataset.id, buyer_id=buyer.id, granted_by_id=manager.id)
    session.add(row)
    session.flush()
    return row


def dataset_json(dataset: Dataset) -> dict[str, Any]:
    return {"id": dataset.id, "name": dataset.name, "format": dataset.format,
            "items": dataset.n_items, "sha256": dataset.sha256, "size_bytes": dataset.size_bytes,
            "ready": dataset.built_at is not None, "job_id": dataset.job_id,
            "download_url": f"/api/exports/{dataset.id}/download" if dataset.built_at else None}
