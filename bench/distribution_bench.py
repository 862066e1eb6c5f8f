"""Benchmark: next task + submit, as annotators do it, on PostgreSQL, beside Label Studio's own
`GET /api/projects/{id}/next` + annotation POST on the same data, in the same run.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 where user postgres may create
databases, as on the development machines):
    .venv/bin/python bench/distribution_bench.py [--annotators 50 200] [--seconds 20] [--tasks 30000]
        [--think 2 5]   # also 200 annotators pausing ~2 s and ~5 s between tasks (an open load)
        [--history 20000]   # each annotator already finished 20,000 tasks (~100 days), as after months

It starts its own Redis, Label Studio and our web app (gunicorn, 3 workers x 4 threads), imports
and publishes one text-classification job of --tasks items (overlap 3), then for each concurrency
level runs that many simulated annotators for --seconds (after 5 s of warm-up, not counted): each
loops "next task" then "submit".
Against Label Studio the same loop uses its `next` endpoint and annotation POST (one token for
all simulated annotators: Label Studio's open-source edition gives no way to get other users'
tokens). The load generator is asyncio with a lean keep-alive HTTP client (`bench/loadgen.py`: httpx
costs ~0.5 ms of CPU per request, taken from the servers it measures) in this process and
shares the 2 cores with the servers; the RQ worker is not running, so Label Studio deliveries queue up (our submit stores the
annotation and enqueues its delivery: that is the request path measured).
Anchors (issue #4): p99 < 50 ms at 200 annotators, and more cycles/s than Label Studio
(measured elsewhere on PostgreSQL + gunicorn: ~7.5 cycles/s flat, p99 20 s at 200).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import Client, HTTPError  # noqa: E402
WEB_PORT, LS_PORT, REDIS_PORT = 5090, 8483, 6483
PG_ADMIN_URL, DB_NAME = "postgresql+psycopg://postgres@127.0.0.1/postgres", "qianling_bench_dist"
WARMUP_SECONDS = 5.0
CHOICE = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["甲"]}}]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(web_pid: int, pg_pids: frozenset[int]) -> dict[str, float]:
    """CPU seconds used so far by our web app (every process of its group), PostgreSQL (the
    server processes in `pg_pids`: the bench database's connections, so other work on a shared
    server is not counted) and this load generator: per cycle, they say where the 2 cores go."""
    used = {"web": 0.0, "postgresql": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        if int(fields[2]) == web_pid:  # process group: gunicorn's master and its workers
            used["web"] += seconds
        elif int(entry.name) in pg_pids:
            used["postgresql"] += seconds
    used["load"] = time.process_time()
    return used


def server_pids(database: str) -> frozenset[int]:
    """The PostgreSQL server processes connected to `database` now."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            return frozenset(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                                          {"name": database}).scalars())
    finally:
        engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _ours(http: Client, project_id: int, lat: list[float]) -> str | None:
    """One cycle against Qianling; None when it went through, else what failed."""
    t0 = time.perf_counter()
    status, reply = await http.request("GET", f"/api/tasks/next?project_id={project_id}")
    lat.append(time.perf_counter() - t0)
    if status != 200 or reply["task"] is None:
        return f"next {status}" if status != 200 else "next: no task"
    t0 = time.perf_counter()
    status, _ = await http.request("POST", f"/api/tasks/{reply['task']['id']}/annotations",
                                   {"result": CHOICE, "lead_time": 5})
    lat.append(time.perf_counter() - t0)
    return None if status == 201 else f"submit {status}"


async def _label_studio(http: Client, project_id: int, lat: list[float]) -> str | None:
    t0 = time.perf_counter()
    status, reply = await http.request("GET", f"/api/projects/{project_id}/next")
    lat.append(time.perf_counter() - t0)
    if status != 200:
        return f"next {status}"
    t0 = time.perf_counter()
    status, _ = await http.request("POST", f"/api/tasks/{reply['id']}/annotations/",
                                   {"result": CHOICE, "lead_time": 5})
    lat.append(time.perf_counter() - t0)
    return None if status == 201 else f"submit {status}"


async def run_level(cycle, base_url: str, server_pid: int, tokens: list[str], project_id: int, seconds: float,
                    think: float = 0.0, warmup: float = WARMUP_SECONDS) -> dict:
    """Each simulated annotator loops next + submit for `seconds`; with `think` > 0 it first pauses
    a random time (exponential, mean `think` s) as a person reading the task would (an open
    load of about annotators / think cycles/s), else it asks again at once (a closed loop).

    Every annotator has its own keep-alive connection. Cycles started in the first `warmup`
    seconds are not counted (the web workers may still be importing the app when its port opens)."""
    latencies: list[float] = []
    cycles = 0
    failures: Counter[str] = Counter()
    rng = random.Random(7)
    clients = [Client(base_url, {"Authorization": token}) for token in tokens]
    counted_from = time.monotonic() + warmup
    deadline = counted_from + seconds
    last_end = counted_from

    async def annotator(http: Client) -> None:
        nonlocal cycles, last_end
        try:
            while time.monotonic() < deadline:
                if think:
                    await asyncio.sleep(rng.expovariate(1 / think))
                    if time.monotonic() >= deadline:
                        break
                counted = time.monotonic() >= counted_from
                timings: list[float] = []
                try:
                    failed = await cycle(http, project_id, timings)
                except HTTPError as err:
                    failed = f"connection: {err}"
                if counted:
                    last_end = max(last_end, time.monotonic())
                    latencies.extend(timings)
                    cycles += failed is None
                    if failed:
                        failures[failed] += 1
                if failed:
                    await asyncio.sleep(0.05)
        finally:
            await http.close()

    async def meter() -> dict[str, float]:
        await asyncio.sleep(counted_from - time.monotonic())
        pg_pids = server_pids(DB_NAME)  # the web workers' pooled connections are open by now
        before = cpu_seconds(server_pid, pg_pids)
        await asyncio.sleep(deadline - time.monotonic())
        after = cpu_seconds(server_pid, pg_pids)
        return {name: after[name] - before[name] for name in before}

    cpu, *_ = await asyncio.gather(meter(), *(annotator(http) for http in clients))
    elapsed = max(last_end, deadline) - counted_from  # not the idle pauses past the deadline
    per_cycle = {name: 1000 * used / max(1, cycles) for name, used in cpu.items()}
    return {"cycles_per_s": cycles / elapsed, "p50_ms": 1000 * percentile(latencies, 0.50),
            "p99_ms": 1000 * percentile(latencies, 0.99), "requests": len(latencies),
            "errors": sum(failures.values()), "failures": failures, "cpu_ms_per_cycle": per_cycle}


def setup(tasks: int, annotators: int, workers: int = 3, threads: int = 4, history: int = 0):
    """Start the services, create the job and the annotators; return what the load needs."""
    from ops import procs, services
    from ops.procs import RUN
    from ops.secrets import load

    secrets = load()
    redis_url = services.start_redis("bench-redis", REDIS_PORT)
    # A fresh database numbers its jobs from 1 again: jobs an earlier run left waiting in this
    # Redis (no worker runs here) would share their ids and keep the new ones from being queued.
    import redis
    redis.Redis.from_url(redis_url).flushdb()
    ls_url = services.start_label_studio("bench-labelstudio-dist", LS_PORT, RUN / "ls-bench-dist", secrets)
    db_url = fresh_database()
    env = services.app_env({"QIANLING_SECRET_KEY": secrets["QIANLING_SECRET_KEY"], "DATABASE_URL": db_url,
                            "REDIS_URL": redis_url, "LABEL_STUDIO_URL": ls_url,
                            "LABEL_STUDIO_TOKEN": secrets["LABEL_STUDIO_TOKEN"],
                            "QIANLING_DATA_DIR": str(RUN / "bench-dist-data")})
    project_id, ls_project, tokens = seed(env, tasks, annotators, history)
    web = services.start_web("bench-web", WEB_PORT, env, workers=workers, threads=threads)
    return web, ls_url, secrets["LABEL_STUDIO_TOKEN"], project_id, ls_project, tokens, procs


def fresh_database() -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB_NAME}"))
    admin.dispose()
    url = f"postgresql+psycopg://postgres@127.0.0.1/{DB_NAME}"
    from schema import upgrade
    upgrade(url)
    return url


def seed(env: dict[str, str], tasks: int, annotators: int, history: int = 0) -> tuple[int, int, list[str]]:
    import io
    import os

    os.environ.update(env)
    from accounts.models import Role, User
    from accounts.service import create_user, issue_token
    from app import create_app
    from extensions import db
    from projects import imports, jobs, service
    from workforce.models import AnnotatorProfile

    app = create_app({"QUEUE_ASYNC": False})
    with app.app_context():
        manager = create_user(db.session, "bench-manager", "m@bench.local", "bench-password", "manager")
        project = service.create_project(db.session, manager, {
            "title": "分发基准 distribution bench", "overlap": 3,
            "template": {"type": "text_classification", "choices": ["甲", "乙"]}})
        db.session.commit()
        rows = "text\n" + "".join(f"基准任务 {i}\n" for i in range(tasks))
        imports.receive(db.session, manager, project, io.BytesIO(rows.encode()), "bench.csv")
        jobs.publish_to_label_studio(project.id)
        db.session.refresh(project)
        users = [User(username=f"ann{i}", email=f"ann{i}@bench.local", role=Role.ANNOTATOR,
                      display_name=f"ann{i}", password_hash="!") for i in range(annotators)]
        db.session.add_all(users)
        db.session.flush()
        # Simulated annotators work far past a person's daily capacity (200 tasks by default).
        db.session.add_all([AnnotatorProfile(user_id=u.id, daily_capacity=1_000_000) for u in users])
        tokens = [f"Bearer {issue_token(db.session, u)}" for u in users]
        db.session.commit()
        if history:
            give_history(db.session, manager, [u.id for u in users], history)
        return project.id, project.ls_project_id, tokens


def give_history(session, manager, user_ids: list[int], per_annotator: int) -> None:
    """Every annotator finished `per_annotator` tasks of an earlier job, 200 a day on the days
    before today (20,000 is about 100 working days): what an annotation base's database holds
    after months, where a query that walks a person's whole history slows every request."""
    import io

    from sqlalchemy import text

    from projects import imports, service

    earlier = service.create_project(session, manager, {
        "title": "往期任务 earlier work", "overlap": 1,
        "template": {"type": "text_classification", "choices": ["甲", "乙"]}})
    session.commit()
    rows = "text\n" + "".join(f"往期任务 {i}\n" for i in range(per_annotator))
    imports.receive(session, manager, earlier, io.BytesIO(rows.encode()), "earlier.csv")
    t0 = time.perf_counter()
    made = session.execute(text("""
        INSERT INTO assignment (task_id, annotator_id, project_id, status, leased_at, expires_at, finished_at)
        SELECT t.id, u.id, t.project_id, 'submitted', t.at, t.at + interval '1 hour', t.at + interval '5 minutes'
        FROM (SELECT id, project_id, timezone('utc', now())
                     - interval '1 day' * (1 + (row_number() OVER (ORDER BY id) - 1) / 200) AS at
              FROM task WHERE project_id = :project) AS t
        CROSS JOIN unnest(CAST(:users AS integer[])) AS u(id)"""), {"project": earlier.id, "users": user_ids}).rowcount
    assert made == per_annotator * len(user_ids), f"history: {made} assignments made"
    session.commit()
    session.execute(text("ANALYZE assignment"))
    session.commit()
    print(f"history: {per_annotator:,} finished tasks for each of {len(user_ids)} annotators "
          f"({per_annotator * len(user_ids):,} assignments) in {time.perf_counter() - t0:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tasks", type=int, default=30000)
    parser.add_argument("--skip-label-studio", action="store_true")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes of our web app")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--history", type=int, default=0,
                        help="tasks each annotator finished before (200 a day), as after months of work")
    parser.add_argument("--think", type=float, nargs="*", default=[],
                        help="also run 200-annotator levels at human pace: mean seconds between tasks")
    args = parser.parse_args()
    web, ls_url, ls_token, project_id, ls_project, tokens, procs = setup(
        args.tasks, max(args.annotators), args.workers, args.threads, args.history)
    web_pid, ls_pid = procs.running_pid("bench-web"), procs.running_pid("bench-labelstudio-dist")
    try:
        print(f"{'system':<30} {'annotators':>10} {'cycles/s':>9} {'p50 ms':>8} {'p99 ms':>9} "
              f"{'requests':>9} {'errors':>7}   CPU ms per cycle: web / PostgreSQL / load generator")
        for level in args.annotators:
            ours = asyncio.run(run_level(_ours, web, web_pid, tokens[:level], project_id, args.seconds))
            show("Qianling next+submit (PG)", level, ours)
        for think in args.think:  # the same crowd at human pace: latency when the server is not saturated
            level = max(args.annotators)
            ours = asyncio.run(run_level(_ours, web, web_pid, tokens[:level], project_id, args.seconds, think))
            show(f"Qianling, think {think:g} s", level, ours)
        # Label Studio last: it goes on working through the requests that timed out for a long
        # while, which would take the cores from a level run after it.
        for level in [] if args.skip_label_studio else args.annotators:
            theirs = asyncio.run(run_level(_label_studio, ls_url, ls_pid, [f"Token {ls_token}"] * level,
                                           ls_project, args.seconds))
            show("Label Studio next+annotate", level, theirs)
        print("\nanchors: p99 < 50 ms at 200 annotators; more cycles/s than Label Studio "
              "(Label Studio on PostgreSQL + gunicorn, measured elsewhere: ~7.5 cycles/s, p99 20 s at 200)")
    finally:
        for name in ("bench-web", "bench-labelstudio-dist", "bench-redis"):
            procs.stop(name)


def show(name: str, level: int, figures: dict) -> None:
    cpu = figures["cpu_ms_per_cycle"]
    print(f"{name:<30} {level:>10} {figures['cycles_per_s']:>9.1f} {figures['p50_ms']:>8.1f} "
          f"{figures['p99_ms']:>9.1f} {figures['requests']:>9} {figures['errors']:>7}   "
          f"{cpu['web']:.2f} / {cpu['postgresql']:.2f} / {cpu['load']:.2f}")
    if figures["failures"]:
        print("    failed cycles: " + ", ".join(f"{what} x{count}" for what, count in figures["failures"].most_common(5)))


if __name__ == "__main__":
    main()
