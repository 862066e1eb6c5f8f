"""Prometheus metrics at `GET /metrics`, in the text exposition format (prometheus-client).

Exposed:
- `qianling_http_request_duration_seconds{endpoint, status}`: request latency histogram, by
  Flask endpoint ("unmatched" for 404s, so stray URLs cannot grow the label set) and status class
  ("2xx", "4xx", ...). Observed in-process by `init_app`'s request hooks.
- Read from Redis at scrape time: `qianling_rq_queue_jobs{queue, state}` (queued, started,
  failed, scheduled, deferred) for every named queue, `qianling_rq_workers{state}`.
- Read from the database at scrape time: `qianling_job_duration_seconds{kind}`, a histogram of
  finished job records' run time (started_at to finished_at of the last attempt; the worker is not
  instrumented, the records are the source of truth), `qianling_jobs{kind, status}`,
  `qianling_annotations_last_minute` (annotations created in the last 60 s: annotations per
  minute), `qianling_annotations_accepted` (accepted annotations in the database).
- `qianling_metrics_source_up{source}`: 0 when Redis or the database could not be read for this
  scrape; the other sources are still reported.

Who may scrape: a client on a loopback address (Prometheus or an agent on the same host), or any
client with an admin's credentials (`Authorization: Bearer qlt_...`, or an admin's browser
session). The view is `@public` for the route audit and makes this check itself. A request that
carries `X-Forwarded-For`, `X-Real-IP` or `Forwarded` counts as remote even from 127.0.0.1: it was
relayed by a reverse proxy on this host, so the real client is somewhere else.

Several processes (gunicorn `--workers N`): each worker only knows its own requests, so set
`PROMETHEUS_MULTIPROC_DIR` to an empty, writable directory in the environment of every web worker
before they start (prometheus-client picks its storage when it is imported), and empty it at each
deployment start. Then `/metrics` aggregates all workers' files through `MultiProcessCollector`.
No `child_exit` hook is needed: there are no per-process live gauges, only the request histogram.
Without the variable a plain per-process registry is used (plus the process collector).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import time
from datetime import timedelta
from typing import Callable, Iterable, Iterator

import redis
from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CollectorRegistry,
    Histogram,
    ProcessCollector,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from rq import Worker
from sqlalchemy import ColumnElement, case, extract, func, select
from sqlalchemy.orm import Session

from accounts.auth import public
from accounts.models import Role
from admin.status import queue_depths
from background.models import JobRecord, JobStatus
from errors import Forbidden
from extensions import db, redis_connection, utcnow
from tasks.models import Annotation, AnnotationStatus

logger = logging.getLogger(__name__)
scrape = Blueprint("metrics", __name__)

# Not in the global registry: each scrape builds its own (see `build_registry`).
REQUEST_SECONDS = Histogram("qianling_http_request_duration_seconds", "HTTP request latency.",
                            ["endpoint", "status"], registry=None)
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
WORKER_STATES = ("idle", "busy", "suspended")
# annotation.created_at has no index; ids grow with time, so the newest ids bound the scan.
RECENT_ID_WINDOW = 100_000
_STARTED = "qianling.metrics_started"
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()  # per request (`g` is per app context)


def _observe(response: Response) -> Response:
    started = request.environ.get(_STARTED)
    if started is not None:
        REQUEST_SECONDS.labels(request.endpoint or "unmatched",
                               f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Time every request, including those the auth guard refuses (hence first in line)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_observe)


def _seconds_between(session: Session, start: ColumnElement, end: ColumnElement) -> ColumnElement:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return extract("epoch", end - start)


class ScrapeCollector:
    """Metrics read from Redis and the database when Prometheus scrapes."""

    def __init__(self, session: Session, connection: redis.Redis) -> None:
        self.session, self.connection = session, connection

    def describe(self) -> list[Metric]:
        return []  # names are only known by collecting; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("qianling_metrics_source_up", "Whether a source could be read for this scrape.",
                               labels=["source"])
        for source, part in (("redis", self._rq), ("database", self._database)):
            metrics, ok = self._safely(source, part)
            yield from metrics
            up.add_metric([source], 1.0 if ok else 0.0)
        yield up

    def _safely(self, source: str, part: Callable[[], Iterable[Metric]]) -> tuple[list[Metric], bool]:
        try:
            return list(part()), True
        except Exception as err:  # one source down must not cost the others
            logger.warning("event=metrics_source_failed source=%s error=%s", source, err)
            if source == "database":
                self.session.rollback()
            return [], False

    def _rq(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("qianling_rq_queue_jobs", "Jobs in each RQ queue and registry.",
                                 labels=["queue", "state"])
        for depth in queue_depths(self.connection):
            for state in ("queued", "started", "failed", "scheduled", "deferred"):
                jobs.add_metric([depth.name, state], getattr(depth, state))
        yield jobs
        states = dict.fromkeys(WORKER_STATES, 0)
        for worker in Worker.all(connection=self.connection):
            state = worker.get_state()
            states[state] = states.get(state, 0) + 1
        workers = GaugeMetricFamily("qianling_rq_workers", "RQ workers by state.", labels=["state"])
        for state, count in states.items():
            workers.add_metric([state], count)
        yield workers

    def _database(self) -> Iterator[Metric]:
        yield self._job_durations()
        by_status = GaugeMetricFamily("qianling_jobs", "Job records by kind and status.", labels=["kind", "status"])
        for kind, status, count in self.session.execute(
                select(JobRecord.kind, JobRecord.status, func.count()).group_by(JobRecord.kind, JobRecord.status)):
            by_status.add_metric([kind, status.value], count)
        yield by_status
        yield from self._annotations()

    def _job_durations(self) -> Metric:
        seconds = _seconds_between(self.session, JobRecord.started_at, JobRecord.finished_at)
        within = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in JOB_BUCKETS]
        rows = self.session.execute(
            select(JobRecord.kind, func.count(), func.sum(seconds), *within)
            .where(JobRecord.status == JobStatus.FINISHED, JobRecord.started_at.is_not(None),
                   JobRecord.finished_at.is_not(None)).group_by(JobRecord.kind)).all()
        histogram = HistogramMetricFamily("qianling_job_duration_seconds",
                                          "Run time of finished background jobs, by kind.", labels=["kind"])
        for kind, count, total, *counts in rows:
            buckets = [(floatToGoString(b), float(c or 0)) for b, c in zip(JOB_BUCKETS, counts)]
            histogram.add_metric([kind], buckets + [("+Inf", float(count))], sum_value=float(total or 0.0))
        return histogram

    def _annotations(self) -> Iterator[Metric]:
        newest = self.session.scalar(select(func.max(Annotation.id))) or 0
        recent = self.session.scalar(select(func.count()).where(
            Annotation.id > newest - RECENT_ID_WINDOW,
            Annotation.created_at >= utcnow() - timedelta(seconds=60))) or 0
        yield GaugeMetricFamily("qianling_annotations_last_minute",
                                "Annotations submitted in the last 60 seconds.", value=recent)
        accepted = self.session.scalar(select(func.count()).where(
            Annotation.status == AnnotationStatus.ACCEPTED)) or 0
        yield GaugeMetricFamily("qianling_annotations_accepted", "Accepted annotations in the database.",
                                value=accepted)


def build_registry(session: Session, connection: redis.Redis) -> CollectorRegistry:
    """A registry for one scrape: every gunicorn worker's files in multiprocess mode, else ours."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
        ProcessCollector(registry=registry)
    registry.register(ScrapeCollector(session, connection))
    return registry


def _from_loopback() -> bool:
    if any(header in request.headers for header in _PROXY_HEADERS):
        return False  # relayed by a proxy on this host: the real client is elsewhere
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:  # a Unix socket has no address
        return False


@scrape.get("/metrics")
@public  # loopback or an admin's credentials, checked below (see the module docstring)
def metrics():
    user = g.get("user")
    if not (_from_loopback() or (user is not None and user.role == Role.ADMIN)):
        raise Forbidden("metrics: scrape from this host, or send an admin's API token")
    registry = build_registry(db.session, redis_connection())
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(registry), content_type=content_type)
