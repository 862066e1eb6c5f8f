"""Background QA runs: read a job's annotations, measure agreement, store each task's consensus.

Idempotent: a run's consensus rows are replaced as a whole in one transaction, so a rerun (after
a worker died, or a retry) stores the same results and never duplicates them.
"""
from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import delete, select

from background.runner import report_progress
from extensions import db, utcnow
from projects.models import Project
from qa.aggregate import majority_vote
from qa.metrics import percent_agreement
from qa.models import Consensus, QARun
from tasks.models import Annotation, AnnotationStatus, Task

logger = logging.getLogger(__name__)


def load_labels(session, project_id: int) -> pd.DataFrame:
    """Long-format labels (task, annotator, label) of the job's completed, non-gold tasks."""
    rows = session.execute(
        select(Annotation.task_id, Annotation.annotator_id, Annotation.label)
        .join(Task, Task.id == Annotation.task_id)
        .join(Project, Project.id == Task.project_id)
        .where(Task.project_id == project_id, Task.is_gold.is_(False),
               Task.annotation_count >= Project.overlap, Annotation.label.is_not(None),
               Annotation.status == AnnotationStatus.ACCEPTED)
        .order_by(Annotation.task_id, Annotation.annotator_id)).all()
    return pd.DataFrame(rows, columns=["task", "annotator", "label"])


def run_qa(run_id: int) -> dict[str, int]:
    """Compute percent agreement and majority-vote consensus for a QA run; return its summary."""
    with db.new_session() as session:
        run = session.get(QARun, run_id)
        if run is None:
            raise LookupError(f"QA run {run_id} does not exist")
        project = session.get(Project, run.project_id)
        labels = load_labels(session, run.project_id)
        report_progress(1, 3, "computing agreement")
        session.execute(delete(Consensus).where(Consensus.run_id == run_id))
        consensus_rows = []
        if not labels.empty:
            votes = majority_vote(labels)
            counts = labels.groupby("task").size()
            consensus_rows = [
                Consensus(run_id=run_id, task_id=int(task), label=str(label),
                          confidence=float(votes.confidence[task]), votes=int(counts[task]),
                          agreed=bool(votes.confidence[task] >= project.consensus_threshold))
                for task, label in votes.labels.items()]
            session.add_all(consensus_rows)
        # Every loaded task reached the overlap, so with k >= 2 each has pairs to compare.
        run.percent_agreement = percent_agreement(labels) if project.overlap > 1 and len(labels) else None
        run.n_tasks, run.n_annotations = len(consensus_rows), len(labels)
        run.n_agreed = sum(1 for row in consensus_rows if row.agreed)
        run.completed_at = utcnow()
        session.commit()
        logger.info("event=qa_done run_id=%s tasks=%s agreed=%s agreement=%s",
                    run_id, run.n_tasks, run.n_agreed, run.percent_agreement)
        return {"run_id": run_id, "tasks": run.n_tasks, "agreed": run.n_agreed}
