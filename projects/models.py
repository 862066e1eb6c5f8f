"""The labeling job a manager defines, mirrored as one Label Studio project."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, utcnow


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
    guidelines: Mapped[str] = mapped_column(Text, default="")
    label_config: Mapped[str] = mapped_column(Text)
    overlap: Mapped[int] = mapped_column(default=3)  # annotators per task (k)
    # Least share of a task's votes the winning label needs for the item to count as agreed
    # (0.6: 2 of 3 or 3 of 5 pass, a 2-2 tie does not).
    consensus_threshold: Mapped[float] = mapped_column(default=0.6)
    status: Mapped[ProjectStatus] = mapped_column(
        Enum(ProjectStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=ProjectStatus.DRAFT)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    ls_project_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
