"""Benchmark: projects.intake.read_items against plain pandas.read_csv on large Chinese CSVs.

Run from the repository root:  .venv/bin/python bench/intake_parse_bench.py [--rows 100000 1000000]

Writes seeded CSVs (市民来信-style questions, ~1% quoted multi-line cells) to a temporary
directory, then parses each file once per case, every case in a fresh subprocess, and prints
rows/s and memory.  "peak" is the subprocess's high-water resident set after parsing (VmHWM,
the ru_maxrss figure); "baseline" is its resident set (VmRSS) after the imports, just before
parsing; both from /proc/self/status.  "growth" = peak - baseline errs high (it includes any
import-time transient above the baseline), never low; the kernel's RSS counters lag by up to
~0.25 MiB per thread, so treat |growth| < 1 MiB as zero.  Every worker imports pandas and projects.intake
alike, so baselines match.
Cases: read_items (iterated, nothing kept), pandas.read_csv (the whole DataFrame, default options).
Targets: read_items >= 50,000 rows/s, and flat memory (growth at the largest size no more
than at the smallest + 16 MiB).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_ROWS_PER_S = 50_000
FLAT_SLACK_KIB = 16 * 1024
CASES = ("read_items", "pandas.read_csv")
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


def worker(case: str, path: Path) -> None:
    """Runs in a fresh interpreter; prints one JSON line of figures."""
    sys.path.insert(0, str(ROOT))  # why: run as a script, bench/ would be sys.path[0] instead
    # every case imports both before the baseline, so baselines are comparable
    import pandas

    from projects import intake

    baseline = _rss_kib("VmRSS")
    started = time.perf_counter()
    rows = _parse(case, path, pandas, intake)
    seconds = time.perf_counter() - started
    peak = _rss_kib("VmHWM")
    print(json.dumps({"rows": rows, "seconds": seconds, "baseline_kib": baseline, "peak_kib": peak}))


def measure(case: str, path: Path) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", case, str(path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(size: int, case: str, figures: dict[str, float]) -> None:
    rate = figures["rows"] / figures["seconds"]
    growth = figures["peak_kib"] - figures["baseline_kib"]
    print(f"{size:>9,} {case:<18} {int(figures['rows']):>9,} {figures['seconds']:>8.2f}s "
          f"{rate:>11,.0f} {figures['baseline_kib'] / 1024:>9.0f} {figures['peak_kib'] / 1024:>9.0f} "
          f"{growth / 1024:>9.1f}")


def verdict(results: dict[tuple[int, str], dict[str, float]], sizes: list[int]) -> None:
    growth = {size: results[size, "read_items"]["peak_kib"] - results[size, "read_items"]["baseline_kib"]
              for size in sizes}
    slowest = min(results[size, "read_items"]["rows"] / results[size, "read_items"]["seconds"]
                  for size in sizes)
    flat = growth[max(sizes)] <= growth[min(sizes)] + FLAT_SLACK_KIB
    print(f"\ntarget: read_items >= {TARGET_ROWS_PER_S:,} rows/s -> slowest {slowest:,.0f} rows/s: "
          f"{'PASS' if slowest >= TARGET_ROWS_PER_S else 'FAIL'}")
    print(f"target: flat memory -> read_items RSS growth {growth[min(sizes)] / 1024:.1f} MiB at "
          f"{min(sizes):,} rows, {growth[max(sizes)] / 1024:.1f} MiB at {max(sizes):,} rows: "
          f"{'PASS' if flat else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return
    results: dict[tuple[int, str], dict[str, float]] = {}
    print("memory: fresh subprocess per case; baseline = VmRSS after imports, peak = VmHWM (ru_maxrss) "
          "after parsing, growth = peak - baseline")
    print(f"{'file rows':>9} {'case':<18} {'parsed':>9} {'time':>9} {'rows/s':>11} "
          f"{'base MiB':>9} {'peak MiB':>9} {'grow MiB':>9}")
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as directory:
        for size in args.rows:
            path = Path(directory) / f"letters_{size}.csv"
            write_csv(path, size)
            for case in CASES:
                results[size, case] = measure(case, path)
                report(size, case, results[size, case])
    verdict(results, args.rows)


if __name__ == "__main__":
    main()
