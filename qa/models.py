"""Stored QA: runs over a batch or a job, each task's current consensus, annotator scores per run,
and the review queue where a reviewer's decision is final."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, string_enum, utcnow


class QARun(Base):
    """One QA pass over the complete tasks of a batch (or, with no batch, of the whole job)."""

    __tablename__ = "qa_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id", ondelete="SET NULL"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job_record.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual | batch_complete
    method: Mapped[str] = mapped_column(String(40), default="majority_vote")
    n_tasks: Mapped[int] = mapped_column(default=0)
    n_annotations: Mapped[int] = mapped_column(default=0)
    n_agreed: Mapped[int] = mapped_column(default=0)
    n_extended: Mapped[int] = mapped_column(default=0)  # sent out to more annotators
    n_review: Mapped[int] = mapped_column(default=0)  # sent to the review queue
    # The run's headline agreement: percent agreement for labels; for boxes, spans and free text
    # the measure named by metrics["agreement_measure"] (box F1, span F1, edit similarity).
    percent_agreement: Mapped[float | None] = mapped_column(default=None)
    # Everything else the pages show: alpha, kappa, per-label agreement, the annotator matrix,
    # Dawid–Skene confusion matrices. Written once when the run completes.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class ConsensusStatus(str, enum.Enum):
    AGREED = "agreed"  # confidence reached the job's threshold: goes into datasets
    EXTENDED = "extended"  # too doubtful: handed to more annotators (dynamic overlap)
    REVIEW = "review"  # too doubtful and no more annotators allowed: waiting for a reviewer
    REVIEWED = "reviewed"  # a reviewer decided: final, later runs never change it


class Consensus(Base):
    """A task's current final label: rewritten by each QA run that covers it, until reviewed."""

    __tablename__ = "consensus"
    __table_args__ = (Index("ix_consensus_project_status", "project_id", "status"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("qa_run.id", ondelete="SET NULL"))
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    result: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # Label Studio format
    confidence: Mapped[float]
    votes: Mapped[int]
    method: Mapped[str] = mapped_column(String(40))
    status: Mapped[ConsensusStatus] = mapped_column(string_enum(ConsensusStatus))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnnotatorScore(Base):
    """How one annotator did in one run: agreement with the consensus, skill, gold accuracy."""

    __tablename__ = "annotator_score"
    __table_args__ = (UniqueConstraint("run_id", "annotator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("qa_run.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    annotations: Mapped[int]
    agreement: Mapped[float | None]  # share of their labels equal to the consensus
    skill: Mapped[float | None]  # Dawid–Skene: prior-weighted diagonal of their confusion matrix
    gold_answered: Mapped[int] = mapped_column(default=0)  # in the whole job, up to this run
    gold_accuracy: Mapped[float | None] = mapped_column(default=None)


class ReviewStatus(str, enum.Enum):
    OPEN = "open"
    DECIDED = "decided"


class ReviewItem(Base):
    """A disputed task waiting for a reviewer; the most disputed are shown first."""

    __tablename__ = "review_item"
    __table_args__ = (Index("ix_review_open", "project_id", "status", "disputed"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("qa_run.id", ondelete="SET NULL"))
    disputed: Mapped[float]  # 1 - consensus confidence: higher comes first
    status: Mapped[ReviewStatus] = mapped_column(string_enum(ReviewStatus), default=ReviewStatus.OPEN)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    label: Mapped[str | None] = mapped_column(String(200), default=None)  # the decision
    result: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    note: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
