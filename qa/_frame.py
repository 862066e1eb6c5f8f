"""Input validation and integer encoding shared by every metric and aggregator in `qa`.

All public functions take a long-format DataFrame with columns ``task``, ``annotator`` and
``label`` (one row per annotation). This module checks that frame once and turns the three
columns into dense integer codes so the numeric code works on numpy arrays only.

Label order: labels are coded in ascending order of their values (numbers numerically,
strings lexicographically). A categorical ``label`` column is ordered by its categories, which
is how a caller declares an ordinal scale such as ``low < mid < high``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS: tuple[str, str, str] = ("task", "annotator", "label")


@dataclass(frozen=True)
class Encoded:
    """A validated annotation frame as integer codes plus the values each code stands for."""

    task: np.ndarray  # int64 code per row, indexes `tasks`
    annotator: np.ndarray  # int64 code per row, indexes `annotators`
    label: np.ndarray  # int64 code per row, indexes `labels`
    tasks: pd.Index  # task values in order of first appearance
    annotators: pd.Index  # annotator values in order of first appearance
    labels: pd.Index  # label values, ascending

    @property
    def n_rows(self) -> int:
        return int(self.task.size)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_annotators(self) -> int:
        return len(self.annotators)

    @property
    def n_labels(self) -> int:
        return len(self.labels)


def encode(df: pd.DataFrame, *, allow_repeats: bool = False) -> Encoded:
    """Validate `df` and encode it; raise ValueError naming the problem if it is unusable.

    `allow_repeats` lets one annotator label the same task several times (every row is a vote);
    only the aggregators expose it, because pairwise agreement is undefined for such rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [name for name in COLUMNS if name not in df.columns]
    if missing:
        raise ValueError(
            f"annotation frame is missing column(s) {missing}; expected long format with "
            f"columns {list(COLUMNS)}, one row per annotation (got {list(df.columns)})"
        )
    if len(df) == 0:
        raise ValueError("annotation frame is empty; need at least one (task, annotator, label) row")
    task, tasks = _codes(df["task"], "task", sort=False)
    annotator, annotators = _codes(df["annotator"], "annotator", sort=False)
    label, labels = _codes(df["label"], "label", sort=True)
    enc = Encoded(task, annotator, label, tasks, annotators, labels)
    if not allow_repeats:
        _reject_repeats(enc)
    return enc


def _codes(column: pd.Series, name: str, *, sort: bool) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(column, sort=sort)
    if (codes < 0).any():
        raise ValueError(
            f"column {name!r} has {int((codes < 0).sum())} missing value(s); drop those rows "
            "instead (a missing annotation is an absent row, not a NaN)"
        )
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def _reject_repeats(enc: Encoded) -> None:
    key = enc.task * enc.n_annotators + enc.annotator
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size == 0:
        return
    task, annotator = divmod(int(repeated[0]), enc.n_annotators)
    # Slicing then tolist() gives plain Python values, so the message shows 2, not np.int64(2).
    example = (enc.tasks[task : task + 1].tolist()[0], enc.annotators[annotator : annotator + 1].tolist()[0])
    raise ValueError(
        f"found {np.unique(repeated).size} duplicate (task, annotator) pair(s), e.g. task="
        f"{example[0]!r}, annotator={example[1]!r}; each annotator may label a task only once"
    )


def label_counts(enc: Encoded) -> np.ndarray:
    """Task x label matrix of how many annotations gave each label to each task (int64)."""
    flat = np.bincount(enc.task * enc.n_labels + enc.label, minlength=enc.n_tasks * enc.n_labels)
    return flat.reshape(enc.n_tasks, enc.n_labels)


def pairable_counts(enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """Label counts and label totals of the tasks with at least two labels (float64).

    A task labelled once has no pair of annotations to compare, so every pairwise measure
    ignores it; if no task is left the frame cannot measure agreement at all.
    """
    counts = label_counts(enc)
    totals = counts.sum(axis=1)
    keep = totals >= 2
    if not keep.any():
        raise ValueError(
            "no task has labels from two or more annotators, so there is no pair of "
            "annotations to compare; agreement needs overlapping annotators"
        )
    return counts[keep].astype(np.float64), totals[keep].astype(np.float64)


def numeric_labels(enc: Encoded, purpose: str) -> np.ndarray:
    """Label values as float64, or ValueError when `purpose` needs numbers and labels are not."""
    values = pd.to_numeric(pd.Series(np.asarray(enc.labels, dtype=object)), errors="coerce")
    if values.isna().any():
        raise ValueError(
            f"{purpose} needs numeric labels; got values such as {enc.labels[:3].tolist()}"
        )
    return values.to_numpy(dtype=np.float64)
