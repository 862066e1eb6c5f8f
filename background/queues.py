"""Queues and enqueueing: commit the job record first, then hand RQ its id.

Every enqueue names its queue, timeout, TTLs and retry policy here, in one place. The RQ job id is
derived from the record id, so submitting the same record twice (a retry of the request, or a
re-queue after Redis lost its data) never runs the work twice concurrently.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Callable

from flask import current_app
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy.orm import Session

from background.models import JobRecord, JobStatus
from extensions import redis_connection

logger = logging.getLogger(__name__)

# Named for the kind of work, so a deployment can give each its own workers. A worker takes them
# in this order: the database's upkeep (a minute's worth, which every request depends on, see
# background.upkeep), then work somebody waits for; delivering annotations to Label Studio
# (nobody waits for it, and a crowd's backlog must not hold up a manager's reconcile or QA run)
# last, in runs of at most a minute (tasks.jobs), so that a backlog never holds the worker long.
QUEUES: dict[str, dict[str, Any]] = {
    "upkeep": {"timeout": 1800},
    "intake": {"timeout": 3600},
    "labelstudio": {"timeout": 600},
    "qa": {"timeout": 1800},
    "exports": {"timeout": 3600},
    "deliveries": {"timeout": 3600},
}
RETRY = Retry(max=3, interval=[5, 30, 120])


def queue(name: str) -> Queue:
    if name not in QUEUES:
        raise KeyError(f"unknown queue {name!r}; known: {', '.join(QUEUES)}")
    return Queue(name, connection=redis_connection(), is_async=current_app.config["QUEUE_ASYNC"])


def enqueue(session: Session, kind: str, func: Callable[..., Any], *args: Any, queue_name: str,
            created_by_id: int | None = None) -> JobRecord:
    """Record the work, commit, then queue it; return the record (its id is the handle)."""
    record = JobRecord(kind=kind, func=f"{func.__module__}.{func.__qualname__}", args=list(args),
                       queue=queue_name, created_by_id=created_by_id)
    session.add(record)
    session.commit()
    submit(record)
    return record


def submit(record: JobRecord) -> None:
    """Put the record's work on its queue unless RQ already has it waiting or running."""
    q = queue(record.queue)
    try:
        existing = Job.fetch(record.rq_id, connection=q.connection)
        if existing.get_status(refresh=True) in ("queued", "started", "deferred", "scheduled"):
            return
    except NoSuchJobError:
        pass
    logger.info("event=enqueue job_id=%s kind=%s queue=%s", record.id, record.kind, record.queue)
    q.enqueue("background.runner.execute", record.id, job_id=record.rq_id,
              job_timeout=QUEUES[record.queue]["timeout"], result_ttl=86400, failure_ttl=7 * 86400,
              ttl=7 * 86400, retry=RETRY)


def enqueue_tracked_by_row(queue_name: str, func: Callable[..., Any], *args: Any, job_id: str) -> None:
    """Queue idempotent work whose own database row already says whether it is done (an
    annotation awaiting delivery): no job record, so the hot path writes nothing extra. A sweep
    over those rows re-queues anything Redis lost."""
    queue(queue_name).enqueue(f"{func.__module__}.{func.__qualname__}", *args, job_id=job_id,
                              job_timeout=QUEUES[queue_name]["timeout"], result_ttl=3600,
                              failure_ttl=7 * 86400, ttl=7 * 86400, retry=RETRY)


def _coalesce_key(key: str) -> str:
    return f"qianling:coalesce:{key}"


def enqueue_coalesced(queue_name: str, func: Callable[..., Any], *args: Any, key: str) -> bool:
    """Queue idempotent catch-up work (deliver a job's pending annotations) unless a run for `key`
    is already waiting; return whether one was queued. The run calls `coalesced_run_started(key)`
    before it looks for work, so whatever was committed before this call is seen by the waiting
    run or by a new one. Redis losing the key only costs one extra (idempotent) run."""
    if not redis_connection().set(_coalesce_key(key), "1", nx=True, ex=QUEUES[queue_name]["timeout"]):
        return False
    try:
        enqueue_tracked_by_row(queue_name, func, *args, job_id=f"{key}-{uuid.uuid4().hex[:12]}")
    except Exception:
        redis_connection().delete(_coalesce_key(key))
        raise
    return True


def coalesced_run_started(key: str) -> None:
    """Called by a coalesced run before it reads what to do: later requests queue a new run."""
    redis_connection().delete(_coalesce_key(key))


def requeue_unfinished(session: Session) -> int:
    """Submit again every record not yet finished or failed (e.g. after Redis lost its data)."""
    from sqlalchemy import select

    pending = session.scalars(select(JobRecord).where(JobRecord.status.in_(
        [JobStatus.QUEUED, JobStatus.STARTED, JobStatus.RETRYING]))).all()
    for record in pending:
        submit(record)
    return len(pending)
