"""Scale-out as documented in RELIABILITY.md: two RQ workers (and the web app's several gunicorn
workers) against one PostgreSQL and one Redis share the queued work, each job runs once."""
from __future__ import annotations

import redis
from rq.job import Job
from sqlalchemy import select

from background.models import JobRecord, JobStatus
from demo.slice import Client
from extensions import db
from ops import procs, services
from tests.integration.test_platform_end_to_end import _new_manager

UPLOADS = 6


def test_two_workers_share_the_queues_and_run_each_job_once(live_platform, platform_env, pg_app):
    services.start_worker("test-worker-2", platform_env)
    try:
        with Client(live_platform, *_new_manager(pg_app)) as manager:
            project = manager.post("/api/projects", json={"title": "扩容 scale-out", "overlap": 1, "template": {
                "type": "text_classification", "choices": ["甲", "乙"]}})
            uploads = []
            for n in range(UPLOADS):  # distinct rows per file, enough for each import to take a moment
                rows = "text\n" + "".join(f"文件{n}第{i}条\n" for i in range(20_000))
                uploads.append(manager.post(f"/api/projects/{project['id']}/uploads",
                                            files={"file": (f"part{n}.csv", rows.encode(), "text/csv")}))
            for upload in uploads:
                manager.wait(upload["job"]["id"], timeout=300)
            reports = [manager.get(u["upload_url"]) for u in uploads]
    finally:
        procs.stop("test-worker-2")
    assert [r["created"] for r in reports] == [20_000] * UPLOADS
    with pg_app.app_context():
        records = db.session.scalars(select(JobRecord).where(JobRecord.id.in_([u["job"]["id"] for u in uploads]))).all()
    assert all(r.status == JobStatus.FINISHED and r.attempts == 1 for r in records)
    connection = redis.Redis.from_url(platform_env["REDIS_URL"])
    workers = {Job.fetch(r.rq_id, connection=connection).worker_name for r in records}
    assert len(workers) == 2, workers  # both workers took some of the work
