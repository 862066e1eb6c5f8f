"""One item to label, and one annotator's submitted annotation of it.

The database, not Label Studio, guarantees the workforce rules: one annotation per annotator per
task (a unique constraint), and at most the job's overlap per task (checked under a row lock).
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, string_enum, utcnow


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("project_id", "content_hash"),
        # The pull queue scans only tasks with a free slot, in id order.
        Index("ix_task_open", "project_id", "id", postgresql_where=text("is_open"),
              sqlite_where=text("is_open")),
        # A job's gold tasks (a few per job), which every QA run grades against and the pull queue
        # mixes in. PostgreSQL uses it for `WHERE is_gold`, not for `WHERE is_gold IS true`.
        Index("ix_task_gold", "project_id", "id", postgresql_where=text("is_gold"), sqlite_where=text("is_gold")),
        # Only pushed tasks have a Label Studio id: an import's new tasks add no entry here.
        Index("ix_task_ls_task_id", "ls_task_id", postgresql_where=text("ls_task_id IS NOT NULL"),
              sqlite_where=text("ls_task_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No separate index on project_id: the unique (project_id, content_hash) index leads with it.
    # On PostgreSQL this key is enforced by triggers instead (migration 0002, schema.TRIGGER_KEYS):
    # PostgreSQL checks a declared key with a query per inserted row, the triggers once per INSERT
    # statement (COPY of 1M tasks: server CPU 19-22 s with the key, 11-14 s with the triggers).
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    # batch_id and upload_id deliberately have no foreign key: each checked key costs a trigger,
    # a lookup and a row lock per inserted task, and imports insert hundreds of thousands of tasks
    # (COPY of 1M tasks into PostgreSQL: 17.9 s with the project and batch keys checked, 11.0 s
    # with the project's alone). Batches are made by the import that fills them
    # (projects.batches) and deleted only once empty.
    batch_id: Mapped[int | None] = mapped_column(index=True)
    upload_id: Mapped[int | None] = mapped_column(default=None)  # provenance only
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The first 16 bytes of the SHA-256 of the canonical JSON of `data` (projects.intake): a
    # quarter of the hex text's size in the unique index, compared byte by byte, not by collation.
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    is_gold: Mapped[bool] = mapped_column(default=False)
    gold_answer: Mapped[Any | None] = mapped_column(JSON, default=None)  # never sent to annotators
    source_line: Mapped[int | None] = mapped_column(default=None)  # line in the uploaded file
    annotation_count: Mapped[int] = mapped_column(default=0)  # accepted annotations
    # Annotators added by QA to a doubtful item (dynamic overlap): it needs overlap + extra_overlap.
    extra_overlap: Mapped[int] = mapped_column(default=0, server_default=text("0"))  # bulk inserts omit it
    # Accepted annotations plus live leases: never above the job's overlap (conditional UPDATEs).
    slots_taken: Mapped[int] = mapped_column(default=0)
    is_open: Mapped[bool] = mapped_column(default=True)  # slots_taken < overlap + extra, kept with it
    ls_task_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnnotationStatus(str, enum.Enum):
    ACCEPTED = "accepted"
    # Submitted after the lease expired and its slot went to someone else: kept, never counted.
    EXTRA = "extra"


class AssignmentStatus(str, enum.Enum):
    LEASED = "leased"
    SUBMITTED = "submitted"
    EXPIRED = "expired"
    SKIPPED = "skipped"


class Assignment(Base):
    """A task handed to one annotator: a lease on one of its k slots until `expires_at`."""

    __tablename__ = "assignment"
    # Every pull asks about the person's own rows: the lease they hold, what they took today (their
    # capacity), what they did in this job (gold rate, caps). Each has an index that starts at the
    # person and reaches those rows directly, so a request costs the same after months of work
    # (`bench/distribution_bench.py --history`); one on the person alone walked all of it.
    __table_args__ = (UniqueConstraint("task_id", "annotator_id"),
                      Index("ix_assignment_live", "status", "expires_at"),
                      Index("ix_assignment_annotator_status", "annotator_id", "status"),
                      Index("ix_assignment_annotator_day", "annotator_id", "leased_at"),
                      Index("ix_assignment_annotator_project", "annotator_id", "project_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    status: Mapped[AssignmentStatus] = mapped_column(string_enum(AssignmentStatus),
                                                     default=AssignmentStatus.LEASED)
    leased_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    skip_reason: Mapped[str | None] = mapped_column(String(300), default=None)


class Annotation(Base):
    __tablename__ = "annotation"
    __table_args__ = (UniqueConstraint("task_id", "annotator_id"),
                      Index("ix_annotation_undelivered", "ls_annotation_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    result: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # Label Studio's result format
    label: Mapped[str | None] = mapped_column(String(200), default=None)  # for classification QA
    lead_time: Mapped[float | None] = mapped_column(default=None)  # seconds in the editor
    gold_correct: Mapped[bool | None] = mapped_column(default=None)  # graded on submit, gold tasks only
    guidelines_version: Mapped[int] = mapped_column(default=1)  # the version it was made under
    status: Mapped[AnnotationStatus] = mapped_column(
        string_enum(AnnotationStatus),
        default=AnnotationStatus.ACCEPTED)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ls_annotation_id: Mapped[int | None] = mapped_column(default=None)  # set once delivered
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    edited_in_ls_at: Mapped[datetime | None] = mapped_column(default=None)  # pulled back by reconcile


class ReconcileFlag(Base):
    """An annotation found in Label Studio that Qianling did not hand out: shown to managers."""

    __tablename__ = "reconcile_flag"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    ls_annotation_id: Mapped[int] = mapped_column(unique=True)
    ls_user_id: Mapped[int | None] = mapped_column(default=None)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
