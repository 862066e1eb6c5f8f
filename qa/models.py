"""Stored QA results: one run over a job's annotations, and each task's consensus from it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, utcnow


class QARun(Base):
    __tablename__ = "qa_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job_record.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(40), default="majority_vote")
    n_tasks: Mapped[int] = mapped_column(default=0)
    n_annotations: Mapped[int] = mapped_column(default=0)
    n_agreed: Mapped[int] = mapped_column(default=0)
    percent_agreement: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class Consensus(Base):
    __tablename__ = "consensus"
    __table_args__ = (UniqueConstraint("run_id", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("qa_run.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float]
    votes: Mapped[int]
    agreed: Mapped[bool]  # confidence reached the job's consensus threshold
