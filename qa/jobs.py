"""Background QA runs: assess a batch's (or a job's) complete tasks, store the consensus, act on it.

A run reads the accepted labels of every complete task in its scope, computes consensus and
agreement (`qa.assess`), then in one transaction: replaces the consensus of those tasks (except
items a reviewer already decided: that decision is final), stores each annotator's scores, and
routes doubtful items — one more annotator each while the job's `max_overlap` allows (dynamic
overlap), else the review queue. Idempotent: the run's rows are replaced as a whole, and an item
sent out for more work is no longer complete, so a rerun after a crash or a retry converges to the
same state and never extends an item twice.
"""
from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.orm import Session

from accounts.models import User
from background.runner import report_progress
from extensions import db, utcnow
from projects.label_config import parse
from projects.models import Project
from qa.assess import Assessment, assess_labels
from qa.gold import gold_records, pause_if_below_bar
from qa.models import (
    AnnotatorScore,
    Consensus,
    ConsensusStatus,
    QARun,
    ReviewItem,
    ReviewStatus,
)
from qa.structured import Target, assess_answers, assess_boxes, assess_spans
from tasks.models import Annotation, AnnotationStatus, Task
from tasks.results import gold_label

logger = logging.getLogger(__name__)


def complete_tasks(project: Project, batch_id: int | None):
    """The run's scope: non-gold tasks of the job (or batch) with all the annotators they need."""
    query = select(Task.id).where(Task.project_id == project.id, Task.is_gold.is_(False),
                                  Task.annotation_count >= project.overlap + Task.extra_overlap)
    return query.where(Task.batch_id == batch_id) if batch_id is not None else query


def load_labels(session: Session, project: Project, batch_id: int | None) -> tuple[pd.DataFrame, pd.Series]:
    """Long-format labels of the scope's tasks plus its annotators' gold answers, and the gold
    answers themselves (task -> label), which anchor Dawid–Skene."""
    scope = complete_tasks(project, batch_id).subquery()
    accepted = and_(Annotation.status == AnnotationStatus.ACCEPTED, Annotation.label.is_not(None))
    rows = session.execute(select(Annotation.task_id, Annotation.annotator_id, Annotation.label)
                           .where(accepted, Annotation.task_id.in_(select(scope.c.id)))
                           .order_by(Annotation.task_id, Annotation.annotator_id)).all()
    labels = pd.DataFrame(rows, columns=["task", "annotator", "label"])
    gold_rows = session.execute(
        select(Annotation.task_id, Annotation.annotator_id, Annotation.label, Task.gold_answer)
        .join(Task, Task.id == Annotation.task_id)
        .where(accepted, Task.project_id == project.id, Task.is_gold,  # ix_task_gold's predicate, as written
               Annotation.annotator_id.in_(labels["annotator"].unique().tolist()))).all()
    config = parse(project.label_config)
    answers = {row.task_id: gold_label(config, row.gold_answer) for row in gold_rows}
    gold = pd.Series({t: a for t, a in answers.items() if a is not None}, dtype=object)
    gold_frame = pd.DataFrame([(r.task_id, r.annotator_id, r.label) for r in gold_rows if r.task_id in gold.index],
                              columns=["task", "annotator", "label"])
    frames = [f for f in (labels, gold_frame) if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else labels), gold


def load_results(session: Session, project: Project, batch_id: int | None) -> pd.DataFrame:
    """The scope's accepted annotations as (task, annotator, result), for boxes, spans and text."""
    scope = complete_tasks(project, batch_id).subquery()
    rows = session.execute(select(Annotation.task_id, Annotation.annotator_id, Annotation.result)
                           .where(Annotation.status == AnnotationStatus.ACCEPTED,
                                  Annotation.task_id.in_(select(scope.c.id)))
                           .order_by(Annotation.task_id, Annotation.annotator_id)).all()
    return pd.DataFrame(rows, columns=["task", "annotator", "result"])


STRUCTURED = {"bbox": ("RectangleLabels", "rectanglelabels"), "ner": ("Labels", "labels"),
              "free_text": ("TextArea", "textarea")}


def assess_scope(session: Session, project: Project, batch_id: int | None) -> tuple[Assessment, int]:
    """The scope's assessment by the job's kind, and how many annotations it read."""
    config = parse(project.label_config)
    kind = STRUCTURED.get(config.task_type)
    if kind is None:
        frame, gold = load_labels(session, project, batch_id)
        return assess_labels(frame, project.qa_method, gold), int((~frame["task"].isin(gold.index)).sum())
    rows = load_results(session, project, batch_id)
    if rows.empty:
        return assess_labels(pd.DataFrame(columns=["task", "annotator", "label"]), project.qa_method), 0
    control = next(c for c in config.controls if c.tag == kind[0])
    target = Target(control.name, control.to_names[0], kind[1])
    if config.task_type == "bbox":
        return assess_boxes(rows, target), len(rows)
    if config.task_type == "free_text":
        return assess_answers(rows, target), len(rows)
    field = next(o.data_field for o in config.objects if o.name == control.to_names[0])
    texts = pd.Series(dict(session.execute(select(Task.id, Task.data).where(Task.id.in_(rows["task"].unique().tolist()))).all()))
    return assess_spans(rows, texts.map(lambda data: str(data.get(field, ""))), target), len(rows)


def run_qa(run_id: int) -> dict[str, Any]:
    """Run QA run `run_id` to completion; return its summary."""
    with db.new_session() as session:
        run = session.get(QARun, run_id)
        if run is None:
            raise LookupError(f"QA run {run_id} does not exist")
        project = session.get(Project, run.project_id)
        report_progress(0, 3, "reading annotations, computing consensus and agreement")
        assessment, n_annotations = assess_scope(session, project, run.batch_id)
        report_progress(2, 3, "storing results")
        Outcome(session, project, run, assessment).store()
        run.method = assessment.metrics.get("method", project.qa_method)
        run.n_annotations = n_annotations
        run.completed_at = utcnow()
        session.commit()
        report_progress(3, 3, "done")
        logger.info("event=qa_done run_id=%s tasks=%s agreed=%s extended=%s review=%s", run_id,
                    run.n_tasks, run.n_agreed, run.n_extended, run.n_review)
        return {"run_id": run_id, "tasks": run.n_tasks, "agreed": run.n_agreed,
                "extended": run.n_extended, "review": run.n_review}


class Outcome:
    """Writes one assessment: consensus rows, routing of doubtful items, annotator scores."""

    def __init__(self, session: Session, project: Project, run: QARun, assessment: Assessment):
        self.session, self.project, self.run, self.assessment = session, project, run, assessment

    def store(self) -> None:
        decided = set(self.session.scalars(select(Consensus.task_id).where(
            Consensus.project_id == self.project.id, Consensus.status == ConsensusStatus.REVIEWED,
            Consensus.task_id.in_(select(complete_tasks(self.project, self.run.batch_id).subquery().c.id)))))
        statuses = self._route([t for t in self.assessment.labels.index if t not in decided])
        self._replace_consensus(statuses)
        self._store_scores()
        counts = pd.Series(list(statuses.values()), dtype=object).value_counts()
        self.run.n_tasks = len(self.assessment.labels)
        self.run.n_agreed = int(counts.get(ConsensusStatus.AGREED, 0)) + len(decided & set(self.assessment.labels.index))
        self.run.n_extended = int(counts.get(ConsensusStatus.EXTENDED, 0))
        self.run.n_review = int(counts.get(ConsensusStatus.REVIEW, 0))
        self.run.percent_agreement = self.assessment.metrics.get("percent_agreement")
        self.run.metrics = self.assessment.metrics

    def _route(self, task_ids: list[int]) -> dict[int, ConsensusStatus]:
        """Each task's status; doubtful ones get one more annotator or a review item."""
        confidence = self.assessment.confidence
        doubtful = [t for t in task_ids if confidence[t] < self.project.consensus_threshold]
        statuses = {t: ConsensusStatus.AGREED for t in task_ids}
        if not doubtful:
            return statuses
        extra = dict(self.session.execute(select(Task.id, Task.extra_overlap).where(Task.id.in_(doubtful))).all())
        ceiling = self.project.max_overlap or self.project.overlap
        extend = [t for t in doubtful if self.project.overlap + extra[t] < ceiling]
        review = [t for t in doubtful if t not in set(extend)]
        if extend:
            needed = self.project.overlap + Task.extra_overlap + 1
            self.session.execute(update(Task).where(Task.id.in_(extend)).values(
                extra_overlap=Task.extra_overlap + 1, is_open=Task.slots_taken < needed)
                .execution_options(synchronize_session=False))
        for t in review:
            self._open_review(t, 1.0 - float(confidence[t]))
        statuses.update({t: ConsensusStatus.EXTENDED for t in extend})
        statuses.update({t: ConsensusStatus.REVIEW for t in review})
        return statuses

    def _open_review(self, task_id: int, disputed: float) -> None:
        item = self.session.scalar(select(ReviewItem).where(ReviewItem.task_id == task_id))
        if item is None:
            self.session.add(ReviewItem(task_id=task_id, project_id=self.project.id, run_id=self.run.id,
                                        disputed=disputed))
        elif item.status == ReviewStatus.OPEN:
            item.run_id, item.disputed = self.run.id, disputed

    def _replace_consensus(self, statuses: dict[int, ConsensusStatus]) -> None:
        ids = list(statuses)
        for start in range(0, len(ids), 5000):
            self.session.execute(delete(Consensus).where(Consensus.task_id.in_(ids[start:start + 5000])))
        now, labels, confidence, votes = utcnow(), self.assessment.labels, self.assessment.confidence, self.assessment.votes
        results = self.assessment.results
        rows = [{"task_id": int(t), "project_id": self.project.id, "run_id": self.run.id,
                 "label": None if labels[t] is None else str(labels[t]),
                 "result": results[t] if results is not None else [], "confidence": float(confidence[t]), "votes": int(votes[t]),
                 "method": self.assessment.metrics.get("method", self.project.qa_method), "status": status, "updated_at": now}
                for t, status in statuses.items()]
        for start in range(0, len(rows), 5000):
            self.session.execute(insert(Consensus), rows[start:start + 5000])

    def _store_scores(self) -> None:
        self.session.execute(delete(AnnotatorScore).where(AnnotatorScore.run_id == self.run.id))
        agreement, skill = self.assessment.agreement, self.assessment.skill
        records = gold_records(self.session, self.project.id, [int(a) for a in agreement.index])
        counts = self.assessment.counts
        rows = []
        for annotator in agreement.index:
            answered, right = records.get(int(annotator), (0, 0))
            rows.append({"run_id": self.run.id, "annotator_id": int(annotator),
                         "annotations": int(counts[annotator]),
                         "agreement": float(agreement[annotator]),
                         "skill": float(skill[annotator]) if annotator in skill.index else None,
                         "gold_answered": answered, "gold_accuracy": right / answered if answered else None})
        if rows:
            self.session.execute(insert(AnnotatorScore), rows)
        for user in self.session.scalars(select(User).where(User.id.in_(list(records)))):
            pause_if_below_bar(self.session, user, self.project)
