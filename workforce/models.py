"""Workforce tables: an annotator's profile (languages, capacity, paused or not), the skills they
hold, and the qualification exams that award skills, with every attempt at one."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, string_enum, utcnow

DEFAULT_DAILY_CAPACITY = 200  # tasks a day


class ProfileStatus(str, enum.Enum):
    ACTIVE = "active"
    PAUSED = "paused"  # handed no work until resumed


class AnnotatorProfile(Base):
    """What the platform knows about one annotator beyond their account."""

    __tablename__ = "annotator_profile"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    daily_capacity: Mapped[int] = mapped_column(default=DEFAULT_DAILY_CAPACITY)
    status: Mapped[ProfileStatus] = mapped_column(string_enum(ProfileStatus), default=ProfileStatus.ACTIVE)
    pause_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    # The manager who paused them; None when QA paused them automatically.
    paused_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SkillSource(str, enum.Enum):
    MANAGER = "manager"  # set by hand
    EXAM = "exam"  # awarded by passing a qualification exam


class Skill(Base):
    """A named skill (the names jobs list in `required_skills`) at a level from 0 to 5; 0 holds
    the name without qualifying for its jobs."""

    __tablename__ = "skill"
    # The unique index leads with user_id, so it also serves "this person's skills".
    __table_args__ = (UniqueConstraint("user_id", "name"),
                      CheckConstraint("level BETWEEN 0 AND 5", name="level_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    level: Mapped[int] = mapped_column(default=1)
    source: Mapped[SkillSource] = mapped_column(string_enum(SkillSource), default=SkillSource.MANAGER)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Exam(Base):
    """A qualification exam built from one job's gold tasks; passing it awards `skill` at `level`."""

    __tablename__ = "exam"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    skill: Mapped[str] = mapped_column(String(60))
    level: Mapped[int] = mapped_column(default=1)
    pass_mark: Mapped[float] = mapped_column(default=0.8)  # least share of right answers, 0..1
    cooldown_hours: Mapped[int] = mapped_column(default=24)  # wait after a failed attempt
    task_ids: Mapped[list[int]] = mapped_column(JSON)  # the questions: gold tasks of the job, in order
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExamAttempt(Base):
    """One sitting of an exam: open from the moment the questions are shown until answered."""

    __tablename__ = "exam_attempt"
    __table_args__ = (
        Index("ix_exam_attempt_exam_id_user_id", "exam_id", "user_id"),
        # At most one open attempt per person and exam, however many tabs ask at once.
        Index("uq_exam_attempt_open", "exam_id", "user_id", unique=True,
              sqlite_where=text("finished_at IS NULL"), postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exam.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # task id -> LS result
    score: Mapped[float | None] = mapped_column(default=None)  # share of right answers
    passed: Mapped[bool | None] = mapped_column(default=None)


class Team(Base):
    """A named group of annotators (a site, a shift) that batches can be handed to at once."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class TeamMember(Base):
    __tablename__ = "team_member"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
