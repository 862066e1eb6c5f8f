"""A built dataset file and the grants that let buyers download it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, utcnow


class Dataset(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    qa_run_id: Mapped[int] = mapped_column(ForeignKey("qa_run.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job_record.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(20), default="jsonl")
    file_name: Mapped[str | None] = mapped_column(String(200), default=None)  # under DATA_DIR/datasets
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    n_items: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    built_at: Mapped[datetime | None] = mapped_column(default=None)


class DatasetGrant(Base):
    __tablename__ = "dataset_grant"
    __table_args__ = (UniqueConstraint("dataset_id", "buyer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
