"""The labeling job a manager defines (mirrored as one Label Studio project), its guideline
versions, the batches its items are cut into, and the uploads that brought the items in."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, string_enum, utcnow


class ProjectStatus(str, enum.Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class Project(Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(60), default="general")
    label_config: Mapped[str] = mapped_column(Text)
    guidelines_version: Mapped[int] = mapped_column(default=1)  # the current GuidelineVersion
    overlap: Mapped[int] = mapped_column(default=3)  # annotators per task (k)
    lease_seconds: Mapped[int] = mapped_column(default=900)  # how long a handed-out task is reserved
    batch_size: Mapped[int] = mapped_column(default=100)
    batch_group_field: Mapped[str | None] = mapped_column(String(100), default=None)
    gold_share: Mapped[float] = mapped_column(default=0.0)  # share of gold tasks in the stream
    # Per-annotator caps on a job: a number of tasks, or a share of the job's annotations.
    max_tasks_per_annotator: Mapped[int | None] = mapped_column(default=None)
    max_share_per_annotator: Mapped[float | None] = mapped_column(default=None)
    # Least share of a task's votes the winning label needs for the item to count as agreed
    # (0.6: 2 of 3 or 3 of 5 pass, a 2-2 tie does not).
    consensus_threshold: Mapped[float] = mapped_column(default=0.6)
    min_gold_accuracy: Mapped[float] = mapped_column(default=0.0)  # annotators below are paused
    min_gold_answers: Mapped[int] = mapped_column(default=10)  # ...once they answered this many gold tasks
    qa_method: Mapped[str] = mapped_column(String(20), default="majority_vote")  # or dawid_skene
    # Dynamic overlap: a doubtful item gets one more annotator at a time up to this many, then
    # goes to review. None: doubtful items go straight to review.
    max_overlap: Mapped[int | None] = mapped_column(default=None)
    deadline: Mapped[datetime | None] = mapped_column(default=None)
    piece_rate: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))  # CNY per accepted task
    required_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ProjectStatus] = mapped_column(string_enum(ProjectStatus), default=ProjectStatus.DRAFT)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    ls_project_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GuidelineVersion(Base):
    """Guidelines are versioned: each annotation records the version it was made under."""

    __tablename__ = "guideline_version"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    text: Mapped[str] = mapped_column(Text, default="")  # Markdown
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    """A slice of a job's items, the unit of distribution: by size, optionally per group value."""

    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("project_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]  # 1, 2, ... within the job
    group_value: Mapped[str | None] = mapped_column(String(200), default=None)
    size: Mapped[int] = mapped_column(default=0)
    # A manager assigned this batch by hand: only its members (BatchMember) are handed its tasks.
    restricted: Mapped[bool] = mapped_column(default=False)
    # Accepted annotations the last automatic QA run of this batch was started for: a completed
    # batch starts a run only when this grows, so concurrent last submissions start one run.
    qa_seen_annotations: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchMember(Base):
    __tablename__ = "batch_member"
    __table_args__ = (UniqueConstraint("batch_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)


class UploadPhase(str, enum.Enum):
    RECEIVED = "received"
    IMPORTING = "importing"
    DONE = "done"
    REJECTED = "rejected"  # bad rows and the manager chose all-or-nothing: nothing stored


class Upload(Base):
    """One uploaded data file and how its import went; resumable from `rows_committed`."""

    __tablename__ = "upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_as: Mapped[str] = mapped_column(String(255))  # file name under DATA_DIR/uploads
    size_bytes: Mapped[int] = mapped_column(default=0)
    format: Mapped[str] = mapped_column(String(10))
    gold_field: Mapped[str | None] = mapped_column(String(100), default=None)
    skip_bad_rows: Mapped[bool] = mapped_column(default=False)
    phase: Mapped[UploadPhase] = mapped_column(string_enum(UploadPhase), default=UploadPhase.RECEIVED)
    rows_total: Mapped[int] = mapped_column(default=0)  # rows seen by validation
    rows_committed: Mapped[int] = mapped_column(default=0)  # rows fully handled by the import
    created: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)  # the first ones, for the report
    duplicate_rows: Mapped[list[str]] = mapped_column(JSON, default=list)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job_record.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def report(self) -> dict[str, Any]:
        return {"id": self.id, "filename": self.filename, "format": self.format,
                "phase": self.phase.value, "rows": self.rows_total, "rows_committed": self.rows_committed,
                "created": self.created,
                "duplicates": self.duplicates, "duplicate_rows": self.duplicate_rows,
                "error_count": self.error_count, "errors": self.errors, "job_id": self.job_id}


class MediaUse(Base):
    """A stored image (projects.media, by its content-addressed name) that a job's tasks show,
    recorded when a zip import of the job finishes. Who may fetch an image follows from the jobs
    it is in (projects.service.may_see_media): the name alone, a hash, opens nothing."""

    __tablename__ = "media_use"

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)
