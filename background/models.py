"""The job record: the database's account of one piece of queued work, the source of truth.

Redis holds only the queue. A record says what to run (a dotted function and its plain
arguments), where it stands and how far it got, so it can be shown over the API and re-queued if
Redis loses its data.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, string_enum, utcnow


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    STARTED = "started"
    RETRYING = "retrying"
    FINISHED = "finished"
    FAILED = "failed"


class JobRecord(Base):
    __tablename__ = "job_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)  # e.g. "qa.run", shown to users
    func: Mapped[str] = mapped_column(String(120))  # dotted path of the job function
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    queue: Mapped[str] = mapped_column(String(40))
    status: Mapped[JobStatus] = mapped_column(
        string_enum(JobStatus),
        default=JobStatus.QUEUED, index=True)
    progress: Mapped[float] = mapped_column(default=0.0)  # 0..1
    message: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    # "<host>:<pid>" of the process running the latest attempt: recovery leaves a job alone
    # while that process lives, even if the worker that started it was killed.
    runner: Mapped[str | None] = mapped_column(String(300), default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def rq_id(self) -> str:
        return f"ql-{self.id}"

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() + "Z" if value else None
        return {"id": self.id, "kind": self.kind, "status": self.status.value,
                "progress": round(self.progress, 4), "message": self.message, "error": self.error,
                "attempts": self.attempts, "created_at": iso(self.created_at),
                "started_at": iso(self.started_at), "finished_at": iso(self.finished_at)}
