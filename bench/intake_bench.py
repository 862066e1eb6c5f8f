"""Benchmark: data intake, from a large Chinese CSV to tasks in the job, beside pandas.read_csv.

Run from the repository root:
    .venv/bin/python bench/intake_bench.py [--rows 100000 1000000] [--pg-url URL] [--ls-push ROWS]
                                           [--cases CASE ...]

Writes seeded CSVs (市民来信-style letters, ~1% quoted multi-line cells) to a temporary directory
and runs every case in a fresh subprocess:
  read_items         parsing and validation only (projects.intake), nothing kept
  ingest:sqlite      the platform's whole import job (parse, validate, dedupe, batch, insert) into
                     a fresh SQLite database, as `POST /api/projects/<id>/uploads` runs it
  ingest:postgresql  the same into a fresh PostgreSQL database (--pg-url names a server where
                     the role may create databases; default: the local one, user postgres)
  push:labelstudio   publishing the ingested SQLite job's first --ls-push rows to a Label Studio
                     server started for the benchmark (reported separately, as the issue asks)
  pandas.read_csv    the whole file into a DataFrame, default options: the yardstick
Memory: "baseline" is VmRSS after imports and set-up, "peak" the high-water mark (VmHWM, the
ru_maxrss figure) at the end plus that of the largest child process (SQLite's imports parse a
large file in a process of its own: the bench notes the processes started through
subprocess.Popen and samples their VmHWM every 20 ms; the two peaks added, as if they coincided), "growth" = peak - baseline; from /proc. The database servers' own memory is not included. CPU: "cpu" is
this process's and its ended children's user + system time in the timed part (all threads);
"db cpu" that of the PostgreSQL backends serving the
benchmark's database (not the server's WAL writer, checkpointer or the kernel's I/O), read from
/proc, so only for a server on this machine. On a shared machine the CPU figures move less than
the wall-clock ones; when other work holds one of two cores, wall time nears cpu + db cpu.
Targets (issue #3): platform-side ingest >= 50,000 rows/s; flat memory (growth at the largest size
no more than at the smallest + 16 MiB).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_ROWS_PER_S = 50_000
FLAT_SLACK_KIB = 16 * 1024
CASES = ("read_items", "ingest:sqlite", "ingest:postgresql", "pandas.read_csv")
CONFIG = ('<View><Text name="text" value="$问题"/><Choices name="label" toName="text">'
          '<Choice value="城市管理局"/><Choice value="交通运输局"/></Choices></View>')
PLACES = ["小区门口", "地铁站旁", "学校附近", "菜市场", "老旧小区", "工业园区", "公园东门", "高速出口"]
PROBLEMS = ["路灯坏了好几天", "夜间施工噪音扰民", "餐馆油烟直排", "井盖缺失存在安全隐患",
            "公交末班车太早", "垃圾清运不及时", "违章停车堵塞消防通道", "供暖温度不达标"]
ASKS = ["请相关部门尽快处理。", "希望能给个答复，谢谢！", "已经反映多次，仍未解决。", "请派人现场查看，盼复。"]
DEPARTMENTS = ["城市管理局", "生态环境局", "交通运输局", "住房和城乡建设局", "市场监督管理局"]


def write_csv(path: Path, rows: int, seed: int = 20240601) -> None:
    """A UTF-8 CSV of citizens' letters; seeded so every run parses the same bytes."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["编号", "问题", "部门", "来信日期"])
        for number in range(1, rows + 1):
            question = f"{rng.choice(PLACES)}{rng.choice(PROBLEMS)}，{rng.choice(ASKS)}"
            if rng.random() < 0.01:  # a few letters span lines, as pasted text does in Excel
                question += f"\r\n补充：{rng.choice(PROBLEMS)}，地址见附件, 电话已留"
            writer.writerow([number, question, rng.choice(DEPARTMENTS),
                             f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"])


def _parse(case: str, path: Path, pandas: Any, intake: Any) -> int:
    if case == "pandas.read_csv":
        return len(pandas.read_csv(path))
    with path.open("rb") as stream:
        results = intake.read_items(stream, path.name, required_fields=["问题"])
        return sum(1 for result in results if not isinstance(result, intake.RowError))


def _rss_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (high-water) in KiB on Linux; ru_maxrss elsewhere."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1])


_CHILD_PEAKS: dict[int, int] = {}  # child pid -> its VmHWM in KiB, last seen
_CHILDREN: list[subprocess.Popen] = []
_SAMPLING = threading.Event()  # set: stop sampling


def _note_children() -> None:
    """Keep every Popen this process makes in _CHILDREN (getrusage's figure for children counts
    the memory a child had before it exec'd: the parent's)."""
    made = subprocess.Popen.__init__

    def noting(self, *args, **kwargs):
        made(self, *args, **kwargs)
        _CHILDREN.append(self)
    subprocess.Popen.__init__ = noting


def _sample_children() -> None:
    """Record the VmHWM of the children in _CHILDREN until _SAMPLING is set."""
    while not _SAMPLING.wait(0.02):
        for child in list(_CHILDREN):
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
                line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
            except (OSError, StopIteration):  # ended; a zombie has no VmHWM line
                continue
            _CHILD_PEAKS[child.pid] = int(line.split()[1])


def _cpu_seconds() -> float:
    times = os.times()  # children: those ended and waited for, as the import's parsing process is
    return times.user + times.system + times.children_user + times.children_system


def _server_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL process serving `database_url`'s database (not
    this query's own); {} for other databases, or a server whose /proc this machine lacks."""
    if not database_url.startswith("postgresql"):
        return {}
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    ticks, found = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        try:  # fields 14 and 15 (utime, stime) after the ")" that ends the command name
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _platform(database_url: str, data_dir: Path):
    """An app on `database_url` with inline jobs, and a manager with a job; (app, user, project)."""
    import fakeredis

    from accounts.service import create_user
    from app import create_app
    from extensions import db
    from projects.service import create_project
    from schema import upgrade

    upgrade(database_url)
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": database_url, "QUEUE_ASYNC": False,
                      "DATA_DIR": data_dir, "LABEL_STUDIO_URL": os.environ.get("BENCH_LS_URL", ""),
                      "LABEL_STUDIO_TOKEN": os.environ.get("BENCH_LS_TOKEN", "")})
    app.extensions["qianling.redis"] = fakeredis.FakeRedis()
    app.app_context().push()
    user = create_user(db.session, "bench", "bench@bench.local", "bench-password", "manager")
    project = create_project(db.session, user, {"title": "intake bench", "label_config": CONFIG})
    db.session.commit()
    return app, user, project


def _ingest(path: Path, database_url: str) -> int:
    from extensions import db
    from projects import imports

    global _START, _BASELINE, _CPU, _SERVER
    _app, user, project = _platform(database_url, path.parent / f"data-{time.monotonic_ns()}")
    _SERVER, _CPU = _server_cpu(database_url), _cpu_seconds()  # time the import, not the set-up
    _BASELINE, _START = _rss_kib("VmRSS"), time.perf_counter()
    with path.open("rb") as stream:
        upload, _job = imports.receive(db.session, user, project, stream, path.name)
    db.session.refresh(upload)
    if upload.phase.value != "done":
        raise SystemExit(f"import ended {upload.phase.value}: {upload.errors[:3]}")
    return upload.created


def _push(path: Path, database_url: str, rows: int) -> int:
    """Publish a job of `rows` ingested items to Label Studio; only the push is timed."""
    from projects.jobs import publish_to_label_studio

    head = path.with_name(f"head_{rows}.csv")
    head.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:rows + 1]),
                    encoding="utf-8")  # a few multi-line cells may shorten it a little
    _ingest(head, database_url)
    global _START, _BASELINE, _CPU
    _CPU, _BASELINE, _START = _cpu_seconds(), _rss_kib("VmRSS"), time.perf_counter()
    return publish_to_label_studio(1)


def worker(case: str, path: Path, database_url: str) -> None:
    """Runs in a fresh interpreter; prints one JSON line of figures."""
    sys.path.insert(0, str(ROOT))  # why: run as a script, bench/ would be sys.path[0] instead
    # every case imports the same modules before the baseline, so baselines are comparable
    import pandas

    import app  # noqa: F401
    from projects import intake

    global _START, _BASELINE, _CPU
    _note_children()
    threading.Thread(target=_sample_children, daemon=True).start()
    _CPU, _BASELINE, _START = _cpu_seconds(), _rss_kib("VmRSS"), time.perf_counter()
    if case.startswith("ingest:"):
        rows = _ingest(path, database_url)
    elif case.startswith("push:"):
        rows = _push(path, database_url, int(os.environ["BENCH_PUSH_ROWS"]))
    else:
        rows = _parse(case, path, pandas, intake)
    seconds, cpu = time.perf_counter() - _START, _cpu_seconds() - _CPU
    _SAMPLING.set()
    peak = _rss_kib("VmHWM") + max(_CHILD_PEAKS.values(), default=0)
    server = _server_cpu(database_url) if _SERVER is not None else {}
    server_cpu = sum(t - _SERVER.get(pid, 0.0) for pid, t in server.items()) if server else None
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu, "server_cpu": server_cpu,
                      "baseline_kib": _BASELINE, "peak_kib": peak}))


# set where the timed part begins (_SERVER: the database server's CPU then, for ingest cases)
_START, _BASELINE, _CPU, _SERVER = 0.0, 0, 0.0, None


def measure(case: str, path: Path, database_url: str = "", env: dict[str, str] | None = None) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", case, str(path), database_url]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"{case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(size: int, case: str, figures: dict[str, float]) -> None:
    rate = figures["rows"] / figures["seconds"]
    growth = figures["peak_kib"] - figures["baseline_kib"]
    server = "-" if figures.get("server_cpu") is None else f"{figures['server_cpu']:.2f}s"
    print(f"{size:>9,} {case:<18} {int(figures['rows']):>9,} {figures['seconds']:>8.2f}s "
          f"{rate:>11,.0f} {figures['cpu']:>7.2f}s {server:>8} {figures['baseline_kib'] / 1024:>9.0f} "
          f"{figures['peak_kib'] / 1024:>9.0f} {growth / 1024:>9.1f}")


def verdict(results: dict[tuple[int, str], dict[str, float]], sizes: list[int]) -> None:
    for case in [c for c in CASES if c != "pandas.read_csv" and (sizes[0], c) in results]:
        growth = {size: results[size, case]["peak_kib"] - results[size, case]["baseline_kib"] for size in sizes}
        slowest = min(results[size, case]["rows"] / results[size, case]["seconds"] for size in sizes)
        flat = growth[max(sizes)] <= growth[min(sizes)] + FLAT_SLACK_KIB
        print(f"{case:<18} >= {TARGET_ROWS_PER_S:,} rows/s: slowest {slowest:,.0f} rows/s "
              f"{'PASS' if slowest >= TARGET_ROWS_PER_S else 'FAIL'}; flat memory: growth "
              f"{growth[min(sizes)] / 1024:.1f} MiB at {min(sizes):,} rows, {growth[max(sizes)] / 1024:.1f} MiB "
              f"at {max(sizes):,} rows {'PASS' if flat else 'FAIL'}")


def fresh_postgres(admin_url: str, name: str) -> str:
    """Create an empty database `name` on the server of `admin_url`; return its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def start_label_studio() -> dict[str, str]:
    from ops import services
    from ops.procs import RUN
    from ops.secrets import load

    secrets = load()
    url = services.start_label_studio("bench-labelstudio", 8482, RUN / "ls-bench", secrets)
    return {"BENCH_LS_URL": url, "BENCH_LS_TOKEN": secrets["LABEL_STUDIO_TOKEN"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1/postgres",
                        help="a PostgreSQL server to create the benchmark database on ('' to skip)")
    parser.add_argument("--ls-push", type=int, default=20_000, help="rows to publish to Label Studio (0: skip)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES),
                        help="run only these cases (default: all)")
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "PATH", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), args.worker[2])
        return
    sys.path.insert(0, str(ROOT))
    results: dict[tuple[int, str], dict[str, float]] = {}
    print(f"{'file rows':>9} {'case':<18} {'rows':>9} {'time':>9} {'rows/s':>11} {'cpu':>8} {'db cpu':>8} "
          f"{'base MiB':>9} {'peak MiB':>9} {'grow MiB':>9}")
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as directory:
        for size in args.rows:
            path = Path(directory) / f"letters_{size}.csv"
            write_csv(path, size)
            for case in [c for c in CASES if c in args.cases]:
                if case == "ingest:postgresql" and not args.pg_url:
                    continue
                url = {"ingest:sqlite": f"sqlite:///{directory}/ingest_{size}.db",
                       "ingest:postgresql": fresh_postgres(args.pg_url, "qianling_bench") if args.pg_url
                       and case == "ingest:postgresql" else ""}.get(case, "")
                results[size, case] = measure(case, path, url)
                report(size, case, results[size, case])
        if args.ls_push:
            try:
                env = {**start_label_studio(), "BENCH_PUSH_ROWS": str(args.ls_push)}
                figures = measure("push:labelstudio", Path(directory) / f"letters_{args.rows[0]}.csv",
                                  f"sqlite:///{directory}/push.db", env)
                report(args.ls_push, "push:labelstudio", figures)
            finally:
                from ops import procs
                procs.stop("bench-labelstudio")
    print()
    verdict(results, args.rows)


if __name__ == "__main__":
    main()
