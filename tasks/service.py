"""Handing out tasks and taking submissions, with the overlap rule enforced by the database.

A submission takes a slot with one conditional UPDATE (`annotation_count < overlap`) and inserts
the annotation under a unique (task, annotator) constraint, in one transaction: under any
concurrency a task never gets more than k annotations, nor two from the same person, on SQLite
and PostgreSQL alike.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.models import User
from errors import Conflict, NotFound
from projects.label_config import parse
from projects.models import Project, ProjectStatus
from tasks import results
from tasks.models import Annotation, Task


def next_task(session: Session, user: User, project_id: int | None = None) -> Task | None:
    """The first task of an active job still short of its overlap that `user` has not labeled.

    Only tasks already in Label Studio are handed out: their annotations must be deliverable,
    and an import still under way (or being undone) is never seen."""
    mine = exists().where(Annotation.task_id == Task.id, Annotation.annotator_id == user.id)
    query = (select(Task).join(Project, Project.id == Task.project_id)
             .where(Project.status == ProjectStatus.ACTIVE, Task.is_gold.is_(False),
                    Task.ls_task_id.is_not(None),
                    Task.annotation_count < Project.overlap, ~mine)
             .order_by(Task.id).limit(1))
    if project_id is not None:
        query = query.where(Task.project_id == project_id)
    return session.scalar(query)


def visible_task(session: Session, task_id: int) -> tuple[Task, Project]:
    """A task of an active job, or NotFound (other jobs' data is not shown)."""
    row = session.execute(select(Task, Project).join(Project, Project.id == Task.project_id)
                          .where(Task.id == task_id, Project.status == ProjectStatus.ACTIVE)).first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row.Task, row.Project


def submit(session: Session, user: User, task_id: int, result: Any,
           lead_time: float | None = None) -> Annotation:
    """Store `user`'s annotation of a task; Conflict if it is full or they already labeled it.

    The caller commits, then queues delivery to Label Studio."""
    task, project = visible_task(session, task_id)
    config = parse(project.label_config)
    checked = results.validate(config, result)
    taken = session.execute(update(Task).where(Task.id == task.id,
                                               Task.annotation_count < project.overlap)
                            .values(annotation_count=Task.annotation_count + 1)
                            .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        session.rollback()
        raise Conflict(f"task {task_id} already has its {project.overlap} annotations")
    annotation = Annotation(task_id=task.id, annotator_id=user.id, result=checked,
                            label=results.primary_label(config, checked),
                            lead_time=lead_time, guidelines_version=project.guidelines_version)
    session.add(annotation)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"you have already annotated task {task_id}") from None
    return annotation


def task_json(task: Task) -> dict[str, Any]:
    """What an annotator may see of a task: its id, job and data; never gold answers."""
    return {"id": task.id, "project_id": task.project_id, "data": task.data}
