"""The system's state for admins: services, RQ workers, queue depths, failed jobs; and re-queueing.

This is the "RQ dashboard" without an extra package: everything is read from RQ's own Redis keys
(workers, queues, registries) and from our job records. Registry counts are read without RQ's
clean-up pass, so looking at the page never moves jobs between registries.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import redis
from rq import Queue, Worker
from rq.registry import FailedJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from background.models import JobRecord, JobStatus
from background.queues import QUEUES, submit
from errors import Conflict, NotFound
from logs import redact

logger = logging.getLogger(__name__)
FAILED_SHOWN = 20


@dataclass(frozen=True)
class QueueDepth:
    name: str
    queued: int
    started: int
    failed: int
    scheduled: int
    deferred: int


def queue_depths(connection: redis.Redis) -> list[QueueDepth]:
    """Each named queue's waiting jobs and its registries' sizes."""
    depths = []
    for name in QUEUES:
        q = Queue(name, connection=connection)
        depths.append(QueueDepth(
            name, q.count,
            q.started_job_registry.get_job_count(cleanup=False),
            q.failed_job_registry.get_job_count(cleanup=False),
            q.scheduled_job_registry.get_job_count(cleanup=False),
            q.deferred_job_registry.get_job_count(cleanup=False)))
    return depths


def workers(connection: redis.Redis) -> list[dict[str, Any]]:
    """The RQ workers registered in Redis, with their state and current job."""
    found = []
    for worker in sorted(Worker.all(connection=connection), key=lambda w: w.name):
        found.append({"name": worker.name, "state": worker.get_state(), "hostname": worker.hostname,
                      "pid": worker.pid, "queues": worker.queue_names(),
                      "current_job": worker.get_current_job_id(),
                      "last_heartbeat": worker.last_heartbeat,
                      "successful": worker.successful_job_count, "failed": worker.failed_job_count})
    return found


def failed_records(session: Session, limit: int = FAILED_SHOWN) -> list[JobRecord]:
    """The latest failed job records, newest first."""
    return list(session.scalars(select(JobRecord).where(JobRecord.status == JobStatus.FAILED)
                                .order_by(JobRecord.finished_at.desc(), JobRecord.id.desc()).limit(limit)))


def shown_error(record: JobRecord) -> str:
    """A record's error as admins see it: redacted like the logs (it may quote a URL or a token)."""
    return redact(record.error or "")


def failed_job_json(record: JobRecord) -> dict[str, Any]:
    return {**record.to_json(), "queue": record.queue, "error": shown_error(record)}


def services() -> dict[str, Any]:
    """Database, Redis and Label Studio, probed by `system.services` (the same checks and reasons)."""
    from system import (
        services as probe_services,  # a view function; the caller is an admin
    )
    body, _status = probe_services()
    return body


def redis_overview(connection: redis.Redis) -> dict[str, Any]:
    """Workers and queues, or the reason Redis could not be read (the page still renders)."""
    try:
        return {"up": True, "workers": workers(connection),
                "queues": [asdict(d) for d in queue_depths(connection)]}
    except redis.RedisError as err:
        logger.warning("event=admin_redis_unreadable error=%s", err)
        return {"up": False, "reason": f"{type(err).__name__}: {err}", "workers": [], "queues": []}


def requeue_failed(session: Session, record_id: int, connection: redis.Redis) -> JobRecord:
    """Run a failed job record's work again: reset the record, commit, then submit it to RQ."""
    record = session.get(JobRecord, record_id)
    if record is None:
        raise NotFound(f"job {record_id} not found")
    if record.status != JobStatus.FAILED:
        raise Conflict(f"job {record_id} is {record.status.value}; only failed jobs can be re-queued")
    record.status, record.progress, record.message = JobStatus.QUEUED, 0.0, "requeued by an admin"
    record.error, record.started_at, record.finished_at = None, None, None
    session.commit()  # the record first, then the queue (a fast worker must find it queued)
    # RQ's failed registry still lists the old run under the same job id; it is no longer failed.
    FailedJobRegistry(record.queue, connection=connection).remove(record.rq_id)
    logger.info("event=job_requeued job_id=%s kind=%s queue=%s", record.id, record.kind, record.queue)
    submit(record)
    return record


def worker_json(worker: dict[str, Any]) -> dict[str, Any]:
    heartbeat: datetime | None = worker["last_heartbeat"]
    return {**worker, "last_heartbeat": heartbeat.isoformat() if heartbeat else None}
