"""Input checks shared by the box, span and free-text assessments in `qa` (`boxes`, `spans`,
`text`): bad values named by column and row, the (task, annotator) pairs who marked nothing, and
annotator weights."""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd


def reject(bad: pd.Series, values: pd.Series, name: str, problem: str) -> None:
    """ValueError naming the column, the problem, how many rows and the first, if any row is bad."""
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        # Slicing then tolist() gives plain Python values: the message shows 9, not np.int64(9).
        row, value = bad.index[first : first + 1].tolist()[0], values.iloc[first : first + 1].tolist()[0]
        raise ValueError(f"column {name!r} {problem} in {int(bad.sum())} row(s), first at row {row!r} (value {value!r})")


def empty_pairs(empty: pd.DataFrame | None, tasks: Mapping[Hashable, Mapping[Hashable, Any]],
                drew: str) -> list[tuple[Hashable, Hashable]]:
    """The (task, annotator) pairs of `empty` (who worked a task and marked nothing), checked:
    no missing values, and none that also appears in `tasks` (task -> annotator -> their marks)."""
    if empty is None:
        return []
    if not isinstance(empty, pd.DataFrame):
        raise TypeError(f"empty must be a DataFrame with columns task, annotator, got {type(empty).__name__}")
    for name in ("task", "annotator"):
        if name not in empty.columns:
            raise ValueError(f"empty is missing column {name!r}; expected columns task, annotator")
        reject(empty[name].isna(), empty[name], name, "of `empty` has a missing value")
    pairs = list(zip(empty["task"], empty["annotator"]))
    clash = [(task, annotator) for task, annotator in pairs if annotator in tasks.get(task, {})]
    if clash:
        raise ValueError(f"empty lists {len(clash)} (task, annotator) pair(s) that also {drew}, "
                         f"e.g. task={clash[0][0]!r}, annotator={clash[0][1]!r}")
    return pairs


def weights_of(weights: pd.Series | None, annotators: dict[Hashable, None]) -> dict[Hashable, float]:
    """Annotator -> positive finite weight; 1.0 for everybody when `weights` is None."""
    if weights is None:
        return dict.fromkeys(annotators, 1.0)
    if not isinstance(weights, pd.Series):
        raise TypeError(f"weights must be a pandas Series (annotator -> weight), got {type(weights).__name__}")
    if weights.index.has_duplicates:
        raise ValueError("weights must give each annotator one value; its index has duplicates")
    absent = [name for name in annotators if name not in weights.index]
    if absent:
        raise ValueError(f"weights has no value for annotator(s) {absent[:5]}")
    values = pd.to_numeric(weights, errors="coerce").astype(np.float64)
    for name in annotators:
        if not (np.isfinite(values[name]) and values[name] > 0):
            given = weights.loc[[name]].tolist()[0]  # a plain value: 0, not np.float64(0.0)
            raise ValueError(f"weights must be positive and finite; annotator {name!r} has {given!r}")
    return {name: float(values[name]) for name in annotators}


def require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str, units: tuple[str, str],
                    nothing: str, allow_no_rows: bool) -> None:
    """TypeError unless a DataFrame; ValueError naming missing columns, or no rows (unless allowed)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [name for name in columns if name not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; expected one row per {units[0]} with "
                         f"columns {list(columns)} (got {list(df.columns)})")
    if len(df) == 0 and not allow_no_rows:
        raise ValueError(f"{what} has no {units[1]}; list the (task, annotator) pairs that {nothing} in `empty`")
