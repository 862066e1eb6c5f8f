"""Benchmark: dataset export to JSONL and Parquet, beside Label Studio's own JSON export, in one run.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 where user postgres may create databases):
    .venv/bin/python bench/export_bench.py [--items 1000000] [--repeats 3] [--ls-tasks 50000] [--skip-ls] [--pg-url URL]

Every case of ours runs in a fresh subprocess:
  items:generator   the items alone (text classification: ~60-character Chinese letters, one of 5
                    labels, a confidence, 3 annotators) in ItemBatches of 10,000, columns as the
                    build streams them from its query: the writers' input, in their figures
  writer:jsonl, writer:parquet  the product's JSONL / Parquet writer (FORMATS[...].batches) fed that
                    generator, at --items/10 and --items, to show memory stays flat; rows/s is
                    items written / wall seconds, generator included (it is also shown without)
  build:postgresql  the product's build, VersionBuilder(...).write(...) with the default formats
                    (jsonl + parquet, from one pass of the query) and the card and manifest,
                    streaming one job's agreed items from a fresh PostgreSQL database seeded by
                    COPY (not timed); rows = items x formats
  build:parquet     the same build with Parquet alone (the target's format); rows = items
                    Both build cases run --repeats times (each in a fresh subprocess, the same
                    database): best and median are printed; "pg cpu" is the CPU seconds of the
                    PostgreSQL backends serving the build (its session's and the connection its
                    reader opens, read from /proc/<pid>/stat every 0.1 s while it runs, when the
                    server is on this machine; parallel workers not included)
  labelstudio:json  Label Studio's synchronous JSON export (GET /api/projects/{id}/export) of
                    --ls-tasks tasks with one annotation each, from a server started on port 8484
                    (SQLite and Django's development server, as `label-studio start` runs it)
Memory: growth = VmHWM at the end - VmRSS when timing starts (/proc/<pid>/status), as in
intake_bench; for Label Studio its server's, the high-water mark reset before the export. The
database server's memory is not included. "cpu" is the process's CPU seconds (all its threads):
beside wall time it shows when other work on the machine slowed a case down; the load average
is printed at the start and the end for the same reason.
Anchors (issue): >= 200,000 rows/s to Parquet; peak memory < 500 MB whatever the size; Label
Studio measured elsewhere at ~600-870 rows/s for 50,000 annotated tasks.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # why: run as a script, bench/ would be sys.path[0] instead
LS_PORT, LS_NAME, DB_NAME = 8484, "bench-labelstudio-export", "qianling_bench_export"
PARQUET_TARGET, MEMORY_LIMIT_MIB, LS_ANCHOR = 200_000, 500, "LS measured ~600-870"
BATCH = 10_000  # items per ItemBatch, as the build's query chunks (exports.rows.CHUNK)
LABELS = ("城市管理", "生态环境", "交通运输", "住房建设", "市场监管")
PLACES = ["小区门口", "地铁站旁", "学校附近", "菜市场", "老旧小区", "工业园区", "公园东门", "高速出口"]
PROBLEMS = ["路灯坏了好几天", "夜间施工噪音扰民", "餐馆油烟直排", "井盖缺失存在安全隐患",
            "公交末班车太早", "垃圾清运不及时", "违章停车堵塞消防通道", "供暖温度不达标"]
ASKS = ["请相关部门尽快处理。", "希望能给个答复，谢谢！", "已经反映多次，仍未解决。", "请派人现场查看，盼复。"]
DETAILS = ["附近居民反映已有一段时间，影响日常出行和休息。", "老人和孩子经过时很不方便，大家都很担心。",
           "周边商户也有意见，希望尽快协调解决此事。", "之前打过热线电话，说会转办，但一直没有下文。"]


def _pool() -> list[str]:
    """Letters of ~50 characters; each item adds its number (~60 in all), so no two are alike."""
    rng = random.Random(20240601)
    return [f"{rng.choice(PLACES)}{rng.choice(PROBLEMS)}，{rng.choice(ASKS)}{rng.choice(DETAILS)}"
            for _ in range(997)]


def make_batches(count: int) -> Iterator:
    """`count` agreed text-classification items, 80/10/10 over the splits, the same every run, as
    the build hands them to the writers: ItemBatches of BATCH items (one per chunk of query rows),
    each distinct result one shared object (the build parses each distinct result text once).
    Per item only table look-ups, so the figures are the writers' more than this generator's."""
    from exports.formats import ItemBatch

    pool = _pool()
    results = {label: [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
               for label in LABELS}
    splits = ("train",) * 8 + ("validation", "test")
    labels = [LABELS[number * 7919 % 31 % 5] for number in range(31)]  # uneven shares, as real jobs have
    confidences = [round(0.6 + number * 37 % 401 / 1000, 6) for number in range(401)]
    for start in range(1, count + 1, BATCH):
        numbers = range(start, min(start + BATCH, count + 1))
        batch_labels = [labels[number % 31] for number in numbers]
        yield ItemBatch(list(numbers), [{"text": f"{pool[number % 997]}（来信编号{number}）"} for number in numbers],
                        [splits[number % 10] for number in numbers], batch_labels,
                        [results[label] for label in batch_labels], [confidences[number % 401] for number in numbers],
                        [3] * len(numbers))


def make_items(count: int) -> Iterator:
    """The items of make_batches one at a time (for seeding the database and Label Studio)."""
    from exports.formats.items import each_item

    return each_item(make_batches(count))


def chunks(items: Iterator, size: int) -> Iterator[list]:
    return iter(lambda: list(islice(items, size)), [])


def status_kib(field: str, pid: int | str = "self") -> int:
    """VmRSS (now) or VmHWM (high-water mark) of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith(f"{field}:")).split()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _begin() -> tuple[int, float, float]:
    """Where a timed part begins: VmRSS, the wall clock and this process's CPU clock."""
    return status_kib("VmRSS"), time.perf_counter(), time.process_time()


def _figures(rows: int, begun: tuple[int, float, float]) -> dict:
    baseline, wall, cpu = begun
    return {"rows": rows, "seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "baseline_kib": baseline, "peak_kib": status_kib("VmHWM")}


def _writer(case: str, count: int, out: Path) -> dict:
    from exports.formats import FormatSpec, writer_for

    spec = FormatSpec(kind="classification", fields=("text",), labels=LABELS)
    write = writer_for(case.removeprefix("writer:"), spec.kind) if case != "items:generator" else None
    begun = _begin()
    if write is None:
        sum(len(batch) for batch in make_batches(count))
    else:
        write.batches(make_batches(count), out / case.removeprefix("writer:"), spec)
    return _figures(count, begun)


class _BackendCpu:
    """CPU seconds of the PostgreSQL backends serving the bench's database while a build runs: the
    session's own and any the build opens (the ADBC reader has a connection of its own). Each is
    read from /proc every INTERVAL seconds by a thread with a monitoring connection of its own (not
    counted); up to one interval of a backend that ends between two readings is missed. None when
    the server is not on this machine."""

    INTERVAL = 0.1

    def __init__(self, url: str) -> None:
        import threading

        import psycopg

        self.monitor = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        self.start, self.last = self._read(), {}
        self.stop, self.thread = threading.Event(), threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _read(self) -> dict[int, float]:
        pids = [pid for (pid,) in self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        found = {}
        for pid in pids:
            try:
                found[pid] = _cpu_seconds(pid)
            except OSError:
                pass
        return found

    def _watch(self) -> None:
        while not self.stop.wait(self.INTERVAL):
            self.last.update(self._read())

    def seconds(self) -> float | None:
        self.stop.set()
        self.thread.join()
        self.last.update(self._read())
        self.monitor.close()
        if not self.last and not self.start:
            return None
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())


def _build(url: str, out: Path, formats: list[str] | None) -> dict:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from exports.build import VersionBuilder
    from exports.service import _options  # the product's own defaults and checks
    from extensions import make_engine
    from projects.media import MediaStore
    from projects.models import Project

    session = Session(make_engine(url))
    options = _options({}, "classification")
    if formats:  # the service always adds JSONL; the builder takes what it is given
        options["formats"] = formats
    builder = VersionBuilder(session, [session.scalars(select(Project)).one()], options, "bench-secret",
                             MediaStore(out / "media"))
    (out / "version").mkdir(parents=True)
    session.connection()  # the session's backend, there when the watch begins
    backend, begun = _BackendCpu(url), _begin()
    builder.write(out / "version", "市民来信分类", "CC-BY-4.0", "export bench")
    figures = _figures(builder.stats.items * len(options["formats"]), begun)
    figures["pg_cpu"] = backend.seconds()
    session.close()
    return figures


def worker(case: str, count: int, out: Path, url: str) -> None:
    """Runs in a fresh interpreter; prints one JSON line of figures."""
    # every case imports the same before its baseline, so baselines are comparable
    import pyarrow.parquet  # noqa: F401

    import exports.build
    import exports.service  # noqa: F401

    if case.startswith("build:"):
        figures = _build(url, out, None if case == "build:postgresql" else [case.removeprefix("build:")])
    else:
        figures = _writer(case, count, out)
    print(json.dumps(figures))


def measure(case: str, count: int, out: Path, url: str = "") -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", case, str(count), str(out), url]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def database(admin_url: str, create: bool = True) -> str:
    """Drop DB_NAME on the server of `admin_url`, then (`create`) make it afresh at the latest schema; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from schema import upgrade

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        if create:
            conn.execute(text(f"CREATE DATABASE {DB_NAME}"))
    admin.dispose()
    url = make_url(admin_url).set(database=DB_NAME).render_as_string(hide_password=False)
    if create:
        upgrade(url)
    return url


def seed(url: str, count: int) -> None:
    """One text-classification job with `count` tasks (the benchmark's items), each with an agreed
    consensus, inserted by COPY as imports and QA runs do it in bulk."""
    from sqlalchemy.orm import Session

    from accounts.service import create_user
    from extensions import make_engine, utcnow
    from projects.bulk import insert_tasks, timestamp, to_json
    from projects.service import create_project

    engine, now = make_engine(url), utcnow()
    with Session(engine) as session:
        user = create_user(session, "bench", "bench@bench.local", "bench-password", "manager")
        project = create_project(session, user, {"title": "市民来信分类 export bench", "overlap": 3, "template": {
            "type": "text_classification", "choices": list(LABELS)}})
        stamp = timestamp(session, now)
        for chunk in chunks(make_items(count), 100_000):
            insert_tasks(session, [(project.id, None, None, to_json(item.data), item.id.to_bytes(16, "big"), False,
                                    None, item.id, 3, 3, False, stamp) for item in chunk])
        dbapi = session.connection().connection.driver_connection
        with dbapi.cursor() as read, dbapi.cursor() as write:
            read.execute("SELECT id FROM task WHERE project_id = %s ORDER BY source_line", (project.id,))
            with write.copy("COPY consensus (task_id, project_id, label, result, confidence, votes, method, status, "
                            "updated_at) FROM STDIN") as copy:
                for (task_id,), item in zip(read, make_items(count), strict=True):
                    copy.write_row((task_id, project.id, item.label, to_json(item.result), item.confidence,
                                    item.annotators, "majority_vote", "agreed", now))
        session.commit()
    # autovacuum would analyze the new rows soon after a real import: do not time its lag
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE task, consensus")
    engine.dispose()


def _ls_import(http, project: int, tasks: int) -> None:
    """Tasks with one annotation each, in chunks (never retried: a failed import may have saved rows)."""
    for chunk in chunks(make_items(tasks), 5000):
        body = [{"data": item.data, "annotations": [{"result": item.result}]} for item in chunk]
        http.post(f"/api/projects/{project}/import", json=body).raise_for_status()


def label_studio_export(tasks: int) -> dict:
    """Start a fresh Label Studio, fill a project, time its synchronous JSON export."""
    import httpx

    from ops import procs, services
    from ops.procs import RUN
    from ops.secrets import load
    from projects.label_config import text_classification

    secrets, data_dir = load(), RUN / "ls-bench-export"
    procs.stop(LS_NAME)
    shutil.rmtree(data_dir, ignore_errors=True)  # a fresh server: the preset token, no earlier projects
    url = services.start_label_studio(LS_NAME, LS_PORT, data_dir, secrets)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Token {secrets['LABEL_STUDIO_TOKEN']}"},
                          timeout=1800) as http:
            project = http.post("/api/projects", json={"title": "export bench", "label_config": text_classification(
                list(LABELS))}).raise_for_status().json()["id"]
            started = time.perf_counter()
            _ls_import(http, project, tasks)
            print(f"{'':>9} (imported {tasks:,} annotated tasks into Label Studio in "
                  f"{time.perf_counter() - started:.1f}s, not timed)", flush=True)
            pid = procs.running_pid(LS_NAME)
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset its VmHWM: count the export alone
            baseline, start, cpu = status_kib("VmRSS", pid), time.perf_counter(), _cpu_seconds(pid)
            reply = http.get(f"/api/projects/{project}/export", params={"exportType": "JSON",
                                                                         "download_all_tasks": "true"})
            seconds = time.perf_counter() - start
            exported = reply.raise_for_status().json()
            if sum(len(task["annotations"]) for task in exported) != tasks:
                raise SystemExit(f"Label Studio exported {len(exported)} tasks, expected {tasks} with annotations")
            return {"rows": len(exported), "seconds": seconds, "cpu": _cpu_seconds(pid) - cpu,
                    "baseline_kib": baseline, "peak_kib": status_kib("VmHWM", pid)}
    finally:
        procs.stop(LS_NAME)
        shutil.rmtree(data_dir, ignore_errors=True)


def report(size: int, case: str, figures: dict) -> dict:
    figures = {**figures, "case": case, "size": size, "rate": figures["rows"] / figures["seconds"],
               "growth_mib": (figures["peak_kib"] - figures["baseline_kib"]) / 1024}
    pg_cpu = f"{figures['pg_cpu']:>7.1f}s" if figures.get("pg_cpu") is not None else f"{'':>8}"
    print(f"{size:>9,} {case:<20} {int(figures['rows']):>9,} {figures['seconds']:>8.2f}s {figures['cpu']:>7.1f}s "
          f"{pg_cpu} {figures['rate']:>11,.0f} "
          f"{figures['baseline_kib'] / 1024:>9.0f} {figures['peak_kib'] / 1024:>9.0f} {figures['growth_mib']:>9.1f}",
          flush=True)
    return figures


def anchor(figures: dict) -> str:
    memory = "PASS" if figures["growth_mib"] < MEMORY_LIMIT_MIB else "FAIL"
    if figures["case"] == "labelstudio:json":
        return f"{LS_ANCHOR} rows/s (server's memory growth)"
    if figures["case"] == "items:generator":
        return "(the writers' input, included in their figures)"
    if figures["case"] in ("writer:parquet", "build:parquet"):
        speed = "PASS" if figures["rate"] >= PARQUET_TARGET else "FAIL"
        return f">= {PARQUET_TARGET:,} rows/s {speed}; < {MEMORY_LIMIT_MIB} MB {memory}"
    return f"< {MEMORY_LIMIT_MIB} MB {memory}" + (" (rows = items x formats)" if figures["case"].startswith("build") else "")


def summary(results: list[dict]) -> None:
    print(f"\n{'measure':<34} {'rows/s':>11} {'peak memory':>12}  anchor")
    for figures in results:
        name = f"{figures['case']} @ {figures['size']:,}"
        print(f"{name:<34} {figures['rate']:>11,.0f} {figures['growth_mib']:>8.1f} MiB  {anchor(figures)}")
        if "repeats" in figures:
            print(f"{'':<4}({figures['repeats']})")
    generator = next(f for f in results if f["case"] == "items:generator")
    for case in ("writer:jsonl", "writer:parquet"):
        small, large = (f for f in results if f["case"] == case)
        own = large["rows"] / (large["seconds"] - generator["seconds"] * large["rows"] / generator["rows"])
        print(f"{case}: memory growth {small['growth_mib']:.1f} MiB at {small['size']:,} items, "
              f"{large['growth_mib']:.1f} MiB at {large['size']:,}; {own:,.0f} rows/s without the generator's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each build case (best and median shown)")
    parser.add_argument("--ls-tasks", type=int, default=50_000)
    parser.add_argument("--skip-ls", action="store_true", help="skip Label Studio's export")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1/postgres",
                        help="a PostgreSQL server where the role may create databases")
    parser.add_argument("--worker", nargs=4, metavar=("CASE", "ITEMS", "OUT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), Path(args.worker[2]), args.worker[3])
        return
    print(f"load average {_load()} on {os.cpu_count()} cores (shared: other work slows wall time, less so cpu)")
    print(f"{'items':>9} {'case':<20} {'rows':>9} {'time':>9} {'cpu':>8} {'pg cpu':>8} {'rows/s':>11} "
          f"{'base MiB':>9} {'peak MiB':>9} {'grow MiB':>9}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as directory:
        results.append(report(args.items, "items:generator", measure("items:generator", args.items, Path(directory))))
        for case in ("writer:jsonl", "writer:parquet"):
            for size in (args.items // 10, args.items):
                out = Path(directory) / f"{case[7:]}-{size}"
                results.append(report(size, case, measure(case, size, out)))
                shutil.rmtree(out)
        results += build_from_database(args.pg_url, args.items, args.repeats, Path(directory) / "build")
    if not args.skip_ls:
        results.append(report(args.ls_tasks, "labelstudio:json", label_studio_export(args.ls_tasks)))
    summary(results)
    print(f"load average at the end {_load()}")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def build_from_database(admin_url: str, items: int, repeats: int, out: Path) -> list[dict]:
    """Seed a fresh database (not timed), then time each build case `repeats` times, each in a
    fresh subprocess; the best run of each (its median beside it); drop the database after."""
    try:
        url = database(admin_url)
        started = time.perf_counter()
        seed(url, items)
        print(f"{'':>9} (seeded {items:,} tasks + consensus rows in {time.perf_counter() - started:.1f}s, not timed)",
              flush=True)
        best = []
        for case in ("build:postgresql", "build:parquet"):
            runs = []
            for _ in range(repeats):
                runs.append(report(items, case, measure(case, items, out, url)))
                shutil.rmtree(out)
            best.append(best_and_median(runs))
        return best
    finally:
        database(admin_url, create=False)


def best_and_median(runs: list[dict]) -> dict:
    """The fastest run, with the median rate, wall and CPU seconds of all of them (printed as its repeats)."""
    ordered = sorted(runs, key=lambda figures: figures["seconds"])
    middle = ordered[len(ordered) // 2]
    return {**ordered[0], "repeats": f"best of {len(runs)}; median {middle['rate']:,.0f} rows/s, "
                                      f"{middle['seconds']:.1f}s wall, {middle['cpu']:.1f}s cpu"}


if __name__ == "__main__":
    main()
