"""Recovering work a dead worker left behind.

A worker killed outright (kill -9, a lost machine) leaves its job in RQ's started registry, where
RQ would only notice it after the job's timeout (an hour for imports). A starting worker runs
`recover_orphans` first: every started job whose worker is gone (its process dead on this host, or
its heartbeat stale elsewhere) is put back on its queue. Jobs are written to resume or converge —
imports continue from their committed rows, QA runs and dataset builds rewrite their results —
so running one again completes the work without duplicating it.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta, timezone

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy.orm import Session

from background.models import JobRecord, JobStatus
from background.queues import QUEUES

logger = logging.getLogger(__name__)
STALE_HEARTBEAT = timedelta(minutes=2)


def worker_alive(connection: Redis, name: str | None) -> bool:
    """Whether the worker that took a job is still there."""
    if not name:
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
    if worker is None:
        return False
    if worker.hostname == socket.gethostname() and worker.pid:
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
        return True
    beat = worker.last_heartbeat
    if beat is None:
        return False
    beat = beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - beat < STALE_HEARTBEAT


def process_alive(host_pid: str | None) -> bool:
    """Whether "<host>:<pid>" names a living process on this host (other hosts: assume so)."""
    if not host_pid or ":" not in host_pid:
        return False
    host, pid = host_pid.rsplit(":", 1)
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def still_running(session: Session, job_id: str) -> bool:
    """Whether the process running a job-record job still lives (its work horse can outlive a
    killed worker, and two runs at once must never happen)."""
    if not job_id.startswith("ql-") or not job_id[3:].isdigit():
        return False
    record = session.get(JobRecord, int(job_id[3:]))
    return record is not None and record.status == JobStatus.STARTED and process_alive(record.runner)


def recover_orphans(connection: Redis, session: Session) -> list[str]:
    """Put back on their queues the started jobs of dead workers; return their ids."""
    recovered = []
    for name in QUEUES:
        registry = StartedJobRegistry(name, connection=connection)
        # No cleanup pass: it would move abandoned jobs to the failed registry, out of our reach.
        for job_id in registry.get_job_ids(cleanup=False):
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            if worker_alive(connection, job.worker_name) or still_running(session, job_id):
                continue
            registry.remove_executions(job)
            Queue(name, connection=connection).enqueue_job(job)
            recovered.append(job_id)
            logger.warning("event=job_recovered job_id=%s queue=%s dead_worker=%s", job_id, name, job.worker_name)
    return recovered
