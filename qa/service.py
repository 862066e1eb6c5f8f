"""QA operations for routes: start a run over a job, read its results."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from accounts.models import User
from background.models import JobRecord
from background.queues import enqueue
from projects.models import Project
from qa.jobs import run_qa
from qa.models import QARun


def start_run(session: Session, user: User, project: Project) -> tuple[QARun, JobRecord]:
    """Record a QA run for the job and queue it (committing both)."""
    run = QARun(project_id=project.id)
    session.add(run)
    session.flush()
    job = enqueue(session, "qa.run", run_qa, run.id, queue_name="qa", created_by_id=user.id)
    run.job_id = job.id
    session.commit()
    return run, job


def run_json(run: QARun) -> dict[str, Any]:
    return {"id": run.id, "project_id": run.project_id, "job_id": run.job_id, "method": run.method,
            "tasks": run.n_tasks, "annotations": run.n_annotations, "agreed": run.n_agreed,
            "percent_agreement": run.percent_agreement,
            "completed_at": run.completed_at.isoformat() + "Z" if run.completed_at else None}
