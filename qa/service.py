"""QA operations for routes: start runs (on demand, or when a batch completes), read their figures."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Integer, bindparam, cast, func, select, update
from sqlalchemy.orm import Session

from accounts.models import User
from background.models import JobRecord
from background.queues import enqueue
from errors import NotFound
from projects.models import Batch, Project
from qa.jobs import run_qa
from qa.models import AnnotatorScore, QARun
from tasks.models import Task

logger = logging.getLogger(__name__)


def start_run(session: Session, project: Project, batch_id: int | None = None, *,
              user: User | None = None, trigger: str = "manual") -> tuple[QARun, JobRecord]:
    """Record a QA run over the job (or one of its batches) and queue it, committing both."""
    if batch_id is not None and session.scalar(
            select(Batch.id).where(Batch.id == batch_id, Batch.project_id == project.id)) is None:
        raise NotFound(f"batch_id: batch {batch_id} is not part of this job")
    run = QARun(project_id=project.id, batch_id=batch_id, trigger=trigger, method=project.qa_method)
    session.add(run)
    session.flush()
    job = enqueue(session, "qa.run", run_qa, run.id, queue_name="qa", created_by_id=user.id if user else None)
    run.job_id = job.id
    session.commit()
    return run, job


_TASK_STATE = (select(Task.batch_id, Task.annotation_count, Task.extra_overlap, Task.is_gold, Project.id.label("project_id"),
                      Project.overlap).join(Project, Project.id == Task.project_id)
               .where(Task.id == bindparam("task_id", type_=Integer)))
# A batch's tasks still short of their annotations, and its accepted annotations.
_BATCH_STATE = (select(func.coalesce(func.sum(cast(Task.annotation_count < bindparam("overlap", type_=Integer)
                                                   + Task.extra_overlap, Integer())), 0),
                       func.coalesce(func.sum(Task.annotation_count), 0))
                .where(Task.batch_id == bindparam("batch_id", type_=Integer), Task.is_gold.is_(False)))


def start_batch_run_if_complete(session: Session, task_id: int) -> QARun | None:
    """After an accepted submission: when it completed the last task of its batch, start the
    batch's QA run. Call after committing the submission, so that of two last submissions at
    once the later one sees the batch complete; the conditional UPDATE lets only one start it.
    Columns are read, not entities: this runs after every submission that completes a task."""
    row = session.connection().execute(_TASK_STATE, {"task_id": task_id}).first()
    if row is None or row.batch_id is None or row.is_gold or row.annotation_count < row.overlap + row.extra_overlap:
        return None
    waiting, annotations = session.connection().execute(
        _BATCH_STATE, {"batch_id": row.batch_id, "overlap": row.overlap}).one()
    if waiting:
        return None
    claimed = session.execute(update(Batch).where(Batch.id == row.batch_id, Batch.qa_seen_annotations < annotations)
                              .values(qa_seen_annotations=annotations)
                              .execution_options(synchronize_session=False)).rowcount == 1
    if not claimed:
        session.rollback()
        return None
    project = session.get(Project, row.project_id)
    run, _job = start_run(session, project, row.batch_id, trigger="batch_complete")
    logger.info("event=qa_batch_complete batch_id=%s run_id=%s", row.batch_id, run.id)
    return run


def run_json(run: QARun) -> dict[str, Any]:
    return {"id": run.id, "project_id": run.project_id, "batch_id": run.batch_id, "job_id": run.job_id,
            "trigger": run.trigger, "method": run.method, "tasks": run.n_tasks,
            "annotations": run.n_annotations, "agreed": run.n_agreed, "extended": run.n_extended,
            "review": run.n_review, "percent_agreement": run.percent_agreement,
            "completed_at": run.completed_at.isoformat() + "Z" if run.completed_at else None}


def run_detail(session: Session, run: QARun) -> dict[str, Any]:
    """A run with its figures and each annotator's scores (by username: staff only)."""
    scores = session.execute(select(AnnotatorScore, User.username).join(User, User.id == AnnotatorScore.annotator_id)
                             .where(AnnotatorScore.run_id == run.id).order_by(AnnotatorScore.annotator_id)).all()
    return {**run_json(run), "metrics": run.metrics,
            "annotators": [{"id": s.annotator_id, "username": name, "annotations": s.annotations,
                            "agreement": s.agreement, "skill": s.skill, "gold_answered": s.gold_answered,
                            "gold_accuracy": s.gold_accuracy} for s, name in scores]}


def latest_runs(session: Session, project: Project) -> list[QARun]:
    """The latest finished run of each batch, and of the whole job (batch None), newest first."""
    latest = (select(func.max(QARun.id)).where(QARun.project_id == project.id, QARun.completed_at.is_not(None))
              .group_by(QARun.batch_id))
    return list(session.scalars(select(QARun).where(QARun.id.in_(latest)).order_by(QARun.id.desc())))
