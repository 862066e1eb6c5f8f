"""Input validation and integer encoding shared by every metric and aggregator in `qa`.

All public functions take a long-format DataFrame with columns ``task``, ``annotator`` and
``label`` (one row per annotation). This module checks that frame once and turns the three
columns into dense integer codes so the numeric code works on numpy arrays only.

Label order: labels are coded in ascending order of their values (numbers numerically,
strings lexicographically). A categorical ``label`` column is ordered by its categories, which
is how a caller declares an ordinal scale such as ``low < mid < high``.

Codes are int32 (int64 only past 2**31 rows) so that the three code arrays together take half
the memory of the frame's own int64 columns; `pair_codes` widens them before any product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS: tuple[str, str, str] = ("task", "annotator", "label")
# An integer column whose values span at most this many slots per row is coded through a lookup
# table over its range (int32, so 16 bytes per row at most) instead of pandas' hash table, which
# takes about 40 bytes per row and is what used to set the memory peak of every metric.
_LOOKUP_SLOTS_PER_ROW = 4


@dataclass(frozen=True)
class Encoded:
    """A validated annotation frame as integer codes plus the values each code stands for."""

    task: np.ndarray  # code per row (int32, see the module doc), indexes `tasks`
    annotator: np.ndarray  # code per row, indexes `annotators`
    label: np.ndarray  # code per row, indexes `labels`
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


def pair_codes(major: np.ndarray, minor: np.ndarray, n_minor: int) -> np.ndarray:
    """One int64 code per row for the pair (major, minor): major * n_minor + minor, no overflow."""
    codes = major.astype(np.int64)
    codes *= n_minor
    codes += minor
    return codes


def _codes(column: pd.Series, name: str, *, sort: bool) -> tuple[np.ndarray, pd.Index]:
    """Codes of `column` and the value of each code: ascending if `sort`, else first appearance."""
    dtype = np.int32 if len(column) < 2**31 else np.int64
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":  # numpy ints: never missing
        coded = _lookup_codes(column.to_numpy(), dtype, sort=sort)
        if coded is not None:
            return coded
    codes, uniques = pd.factorize(column, sort=sort)
    if (codes < 0).any():
        raise ValueError(
            f"column {name!r} has {int((codes < 0).sum())} missing value(s); drop those rows "
            "instead (a missing annotation is an absent row, not a NaN)"
        )
    return codes.astype(dtype), pd.Index(uniques)


def _lookup_codes(values: np.ndarray, dtype: type[np.integer], *,
                  sort: bool) -> tuple[np.ndarray, pd.Index] | None:
    """`pd.factorize` of integers through a table over their range; None if the range is too wide."""
    low = values.min()
    span = int(values.max()) - int(low) + 1
    if span > _LOOKUP_SLOTS_PER_ROW * values.size:
        return None
    # Subtracted in int64 whatever the column's width; uint64 values past 2**63 wrap around on
    # the cast, but the wrap cancels in the difference, which lies in [0, span).
    offset = np.empty(values.size, dtype=dtype)
    np.subtract(values, low, out=offset, dtype=np.int64, casting="unsafe")
    first_row = np.full(span, values.size, dtype=dtype)  # values.size marks an absent value
    np.minimum.at(first_row, offset, np.arange(values.size, dtype=dtype))
    present = np.flatnonzero(first_row < values.size)  # ascending values
    if not sort:
        present = present[np.argsort(first_row[present])]
    uniques = pd.Index(values[first_row[present]])
    code_of_offset = first_row  # reused: only the present offsets are ever looked up
    code_of_offset[present] = np.arange(present.size, dtype=dtype)
    return code_of_offset[offset], uniques


def _reject_repeats(enc: Encoded) -> None:
    ordered = pair_codes(enc.task, enc.annotator, enc.n_annotators)
    ordered.sort()
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
    flat = np.bincount(pair_codes(enc.task, enc.label, enc.n_labels),
                       minlength=enc.n_tasks * enc.n_labels)
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
