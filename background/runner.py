"""What RQ actually runs: `execute(record_id)` loads the job record and calls its function.

It keeps the record's status true (started, retrying, finished, failed) and lets the job report
progress through `report_progress`, without the job functions knowing about RQ. A failure is
recorded and then re-raised, so RQ's retries and failed registry see it.
"""
from __future__ import annotations

import importlib
import logging
import os
import socket
import time
from contextvars import ContextVar
from typing import Any, Callable

from flask import current_app
from rq import get_current_job

from background.models import JobRecord, JobStatus
from extensions import db, utcnow

logger = logging.getLogger(__name__)
_current: ContextVar[tuple[int, list[float]] | None] = ContextVar("qianling_job", default=None)
PROGRESS_EVERY = 0.5  # seconds between progress writes, so reporting stays cheap


def _resolve(dotted: str) -> Callable[..., Any]:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _update(record_id: int, **fields: Any) -> None:
    with db.new_session() as session:
        record = session.get(JobRecord, record_id)
        if record is None:
            return
        for key, value in fields.items():
            setattr(record, key, value)
        session.commit()


def execute(record_id: int) -> Any:
    """Run the work a job record describes; record how it went."""
    with db.new_session() as session:
        record = session.get(JobRecord, record_id)
        if record is None:
            raise LookupError(f"job record {record_id} does not exist")
        if record.status == JobStatus.FINISHED:
            return None  # submitted twice; the work is done
        func, args = _resolve(record.func), list(record.args)
        record.status, record.started_at, record.error = JobStatus.STARTED, utcnow(), None
        record.runner = f"{socket.gethostname()}:{os.getpid()}"
        record.attempts += 1
        kind = record.kind
        session.commit()
    token = _current.set((record_id, [0.0]))
    logger.info("event=job_start job_id=%s kind=%s", record_id, kind)
    try:
        result = func(*args)
    except Exception as err:
        job = get_current_job()
        # Inline (unqueued) runs are never retried, whatever the job's retry policy says.
        retrying = current_app.config["QUEUE_ASYNC"] and bool(job and job.retries_left)
        status = JobStatus.RETRYING if retrying else JobStatus.FAILED
        _update(record_id, status=status, error=f"{type(err).__name__}: {err}", finished_at=utcnow())
        logger.warning("event=job_failed job_id=%s kind=%s retrying=%s error=%s", record_id, kind, retrying, err)
        raise
    finally:
        _current.reset(token)
    _update(record_id, status=JobStatus.FINISHED, progress=1.0, finished_at=utcnow())
    logger.info("event=job_done job_id=%s kind=%s", record_id, kind)
    return result


def report_progress(done: int, total: int, message: str = "") -> None:
    """Record how far the running job is; a no-op outside a job. Throttled."""
    state = _current.get()
    if state is None:
        return
    record_id, last = state
    now = time.monotonic()
    if now - last[0] < PROGRESS_EVERY and done < total:
        return
    last[0] = now
    _update(record_id, progress=min(1.0, done / total) if total else 0.0, message=message[:500])
