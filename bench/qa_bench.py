"""Benchmark of `qa` against the reference libraries on synthetic crowd labels with known truth.

Builds a seeded data set (default 200,000 tasks x 5 annotators = 1,000,000 annotations, 2,000
annotators of varied accuracy of whom ~10% are spammers answering uniformly at random, 5
classes) and prints, side by side from one run: wall time, peak memory and accuracy against
the truth for our Dawid-Skene and majority vote vs crowd-kit's `DawidSkene(n_iter=100, tol=0)`
and `MajorityVote`, and our Krippendorff's alpha vs the `krippendorff` package (fed value
counts). The anchor targets are printed beside the figures.

Memory is the peak of allocations traced by `tracemalloc` during the call (numpy and pandas
buffers included), measured in a second, separate run so that tracing does not slow the timed
one. Needs the test-only packages crowd-kit and krippendorff. Run from the repository root:

    .venv/bin/python bench/qa_bench.py [--tasks N] [--no-memory]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa._frame import encode, label_counts  # noqa: E402
from qa.aggregate import dawid_skene, majority_vote  # noqa: E402
from qa.metrics import krippendorff_alpha  # noqa: E402

SPEEDUP_TARGET = 10.0
ACCURACY_GAP_TARGET = 0.002
ALPHA_SECONDS_TARGET = 0.2
MEMORY_TARGET = 2.0  # peak within this many times the input table's own memory


def synthetic(n_tasks: int, n_annotators: int = 2000, per_task: int = 5, n_classes: int = 5,
              spammer_share: float = 0.1, seed: int = 20240607) -> tuple[pd.DataFrame, pd.Series]:
    """Long-format labels and the true label per task, drawn from per-annotator confusions."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(n_classes, size=n_tasks, p=_class_shares(n_classes))
    confusion = _confusions(rng, n_annotators, n_classes, spammer_share)
    annotators = _distinct_annotators(rng, n_tasks, n_annotators, per_task)
    task = np.repeat(np.arange(n_tasks), per_task)
    cumulative = confusion.cumsum(axis=2)[annotators.ravel(), truth[task]]
    label = (rng.random(task.size)[:, None] > cumulative[:, :-1]).sum(axis=1)
    frame = pd.DataFrame({"task": task, "annotator": annotators.ravel(), "label": label})
    return frame, pd.Series(truth, index=pd.RangeIndex(n_tasks, name="task"))


def _class_shares(n_classes: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_classes + 1)  # unbalanced classes, as real projects are
    return weights / weights.sum()


def _confusions(rng: np.random.Generator, n_annotators: int, n_classes: int,
                spammer_share: float) -> np.ndarray:
    accuracy = rng.uniform(0.45, 0.95, size=n_annotators)
    errors = rng.dirichlet(np.ones(n_classes - 1), size=(n_annotators, n_classes))
    confusion = np.empty((n_annotators, n_classes, n_classes))
    for true_class in range(n_classes):
        others = [c for c in range(n_classes) if c != true_class]
        confusion[:, true_class, true_class] = accuracy
        confusion[:, true_class, others] = (1.0 - accuracy)[:, None] * errors[:, true_class]
    spammers = rng.random(n_annotators) < spammer_share
    confusion[spammers] = 1.0 / n_classes
    return confusion


def _distinct_annotators(rng: np.random.Generator, n_tasks: int, n_annotators: int,
                         per_task: int) -> np.ndarray:
    drawn = rng.integers(0, n_annotators, size=(n_tasks, per_task))
    while True:  # redraw the few tasks that got one annotator twice
        ordered = np.sort(drawn, axis=1)
        clash = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not clash.any():
            return drawn
        drawn[clash] = rng.integers(0, n_annotators, size=(int(clash.sum()), per_task))


def measure(fn: Callable[[], Any], memory: bool) -> tuple[Any, float, float | None]:
    """Result, seconds, and peak traced MiB (None when memory is skipped) of `fn()`."""
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    if not memory:
        return result, seconds, None
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def quietly(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run a reference library without letting its pandas deprecation warnings flood output."""
    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    return run


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return share_equal(labels, truth)


def row(name: str, seconds: float, peak: float | None, extra: str) -> str:
    memory = "skipped" if peak is None else f"{peak:8.1f} MiB"
    return f"  {name:<34} {seconds:8.3f} s   {memory:>12}   {extra}"


def bench_aggregation(frame: pd.DataFrame, truth: pd.Series, memory: bool) -> dict[str, float | None]:
    from crowdkit.aggregation import DawidSkene, MajorityVote

    workers = frame.rename(columns={"annotator": "worker"})
    ours_ds, ours_ds_s, ours_ds_mem = measure(lambda: dawid_skene(frame, n_iter=100, tol=0.0), memory)
    ck_ds, ck_ds_s, ck_ds_mem = measure(quietly(lambda: DawidSkene(n_iter=100, tol=0.0).fit(workers)), memory)
    ours_mv, ours_mv_s, ours_mv_mem = measure(lambda: majority_vote(frame), memory)
    ck_mv, ck_mv_s, ck_mv_mem = measure(quietly(lambda: MajorityVote().fit(workers)), memory)
    acc = {name: accuracy(labels, truth) for name, labels in [
        ("ours_ds", ours_ds.labels), ("ck_ds", ck_ds.labels_), ("ours_mv", ours_mv.labels), ("ck_mv", ck_mv.labels_)]}
    print("Aggregation (accuracy against the synthetic truth)")
    print(row(f"qa dawid_skene ({ours_ds.iterations} it.)", ours_ds_s, ours_ds_mem, f"acc {acc['ours_ds']:.5f}"))
    print(row(f"crowd-kit DawidSkene ({len(ck_ds.loss_history_)} it.)", ck_ds_s, ck_ds_mem, f"acc {acc['ck_ds']:.5f}"))
    print(row("qa majority_vote", ours_mv_s, ours_mv_mem, f"acc {acc['ours_mv']:.5f}"))
    print(row("crowd-kit MajorityVote", ck_mv_s, ck_mv_mem, f"acc {acc['ck_mv']:.5f}"))
    speedup, gap = ck_ds_s / ours_ds_s, abs(acc["ours_ds"] - acc["ck_ds"])
    print(f"  DS speed-up vs crowd-kit: {speedup:.1f}x   (target >= {SPEEDUP_TARGET:.0f}x: "
          f"{'met' if speedup >= SPEEDUP_TARGET else 'MISSED'})")
    print(f"  DS accuracy gap vs crowd-kit: {gap:.5f}   (target <= {ACCURACY_GAP_TARGET}: "
          f"{'met' if gap <= ACCURACY_GAP_TARGET else 'MISSED'}); same label on "
          f"{share_equal(ours_ds.labels, ck_ds.labels_):.4%} of tasks")
    untied = untied_tasks(frame)
    print(f"  MV same label as crowd-kit on {share_equal(ours_mv.labels[untied], ck_mv.labels_):.4%} of the "
          f"{untied.size:,} untied tasks, {share_equal(ours_mv.labels, ck_mv.labels_):.4%} of all (crowd-kit "
          f"breaks ties by value-count order, qa by smallest label); speed-up {ck_mv_s / ours_mv_s:.1f}x")
    return {"dawid_skene": ours_ds_mem, "majority_vote": ours_mv_mem}


def share_equal(ours: pd.Series, reference: pd.Series) -> float:
    return float((ours.to_numpy() == reference.reindex(ours.index).to_numpy()).mean())


def untied_tasks(frame: pd.DataFrame) -> pd.Index:
    enc = encode(frame)
    counts = label_counts(enc)
    top = counts.max(axis=1, keepdims=True)
    return enc.tasks[(counts == top).sum(axis=1) == 1]


def bench_alpha(frame: pd.DataFrame, memory: bool) -> float | None:
    import krippendorff

    value_counts = label_counts(encode(frame))  # the package's input, built outside its timing
    ours, ours_s, ours_mem = measure(lambda: krippendorff_alpha(frame, level="nominal"), memory)
    ref, ref_s, ref_mem = measure(
        lambda: krippendorff.alpha(value_counts=value_counts, level_of_measurement="nominal"), memory)
    print("Krippendorff's alpha, nominal (ours timed from the raw frame, validation included)")
    print(row("qa krippendorff_alpha", ours_s, ours_mem, f"alpha {ours:.9f}"))
    print(row("krippendorff.alpha(value_counts)", ref_s, ref_mem, f"alpha {float(ref):.9f}"))
    print(f"  |difference| {abs(ours - float(ref)):.2e}   (target 1e-6); qa time target < "
          f"{ALPHA_SECONDS_TARGET} s: {'met' if ours_s < ALPHA_SECONDS_TARGET else 'MISSED'}")
    return ours_mem


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200_000, help="number of tasks (5 labels each)")
    parser.add_argument("--annotators", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240607)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    args = parser.parse_args(argv)
    frame, truth = synthetic(args.tasks, n_annotators=args.annotators, seed=args.seed)
    print(f"{len(frame):,} annotations: {args.tasks:,} tasks x 5, {args.annotators:,} annotators "
          f"(~10% spammers), 5 classes, seed {args.seed}; numpy {np.__version__}, pandas {pd.__version__}")
    table = frame.memory_usage(deep=True).sum() / 2**20
    print(f"Peak memory: tracemalloc peak during a separate, untimed run of the same call; the input "
          f"table itself holds {table:.1f} MiB, so the target is < {MEMORY_TARGET * table:.1f} MiB.\n")
    peaks = {"krippendorff_alpha": bench_alpha(frame, memory=not args.no_memory)}
    print()
    peaks.update(bench_aggregation(frame, truth, memory=not args.no_memory))
    if not args.no_memory:
        print("\nMemory (target: peak within 2x the input table)")
        for name, peak in peaks.items():
            print(f"  qa {name:<20} {peak:6.1f} MiB = {peak / table:.2f}x the table: "
                  f"{'met' if peak <= MEMORY_TARGET * table else 'MISSED'}")


if __name__ == "__main__":
    main()
