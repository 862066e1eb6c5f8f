"""Inter-annotator agreement metrics over a long-format annotation frame.

Each function takes a DataFrame with columns ``task``, ``annotator`` and ``label`` (one row per
annotation) and raises ValueError on unusable input (see `qa._frame.encode`). Statistics that are
mathematically undefined for valid input, such as a kappa when a single category is used
throughout (chance agreement is then 1, so kappa is 0/0), return NaN rather than raising, so a
report over many projects does not stop on one degenerate project.

Everything is computed from integer codes with vectorised numpy: per-task label counts
(`label_counts`) for the count-based measures, and an explicit list of annotation pairs only
where annotator identity matters (`agreement_matrix`).
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np
import pandas as pd

from qa._frame import Encoded, encode, label_counts, numeric_labels, pair_codes, pairable_counts

Level = Literal["nominal", "ordinal", "interval", "ratio"]
Weights = Literal["linear", "quadratic"] | None


def percent_agreement(df: pd.DataFrame) -> float:
    """Mean, over tasks with at least two labels, of the share of annotator pairs that agree.

    Every such task weighs the same whatever its number of labels (this is Fleiss' P-bar when
    all tasks have the same number of labels). Tasks labelled once are ignored.
    """
    counts, totals = pairable_counts(encode(df))
    return float(np.mean(_agreeing_share(counts, totals)))


def per_label_agreement(df: pd.DataFrame) -> pd.Series:
    """Specific agreement per label: 2 x agreeing pairs on the label / pair-ends with the label.

    Over tasks with at least two labels, a label given n times in a task of m labels forms
    n(n-1)/2 agreeing pairs and sits at n(m-1) pair-ends. With two annotators and two labels this
    is the classic positive/negative specific agreement 2a / (2a + b + c). A label that occurs
    only in tasks labelled once gets NaN.
    """
    enc = encode(df)
    counts, totals = pairable_counts(enc)
    agreeing_ends = (counts * (counts - 1)).sum(axis=0)
    all_ends = (counts * (totals - 1)[:, None]).sum(axis=0)
    return pd.Series(_ratio(agreeing_ends, all_ends), index=enc.labels, name="specific_agreement")


def agreement_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Annotator x annotator share of agreeing labels over the tasks the two both labelled.

    NaN where two annotators share no task; the diagonal is 1.0 (an annotator always agrees
    with itself). Rows and columns follow the annotators' order of first appearance.
    """
    enc = encode(df)
    left, right = _pairs_within_tasks(enc.task)
    size = enc.n_annotators
    key = pair_codes(enc.annotator[left], enc.annotator[right], size)
    agree = (enc.label[left] == enc.label[right]).astype(np.float64)
    shared = np.bincount(key, minlength=size * size)
    agreed = np.bincount(key, weights=agree, minlength=size * size)
    share = _ratio(agreed, shared).reshape(size, size)
    np.fill_diagonal(share, 1.0)
    names = enc.annotators
    return pd.DataFrame(share, index=names.rename("annotator"), columns=names.rename("other"))


def cohen_kappa(df: pd.DataFrame, weights: Weights = None) -> float:
    """Cohen's kappa of exactly two annotators over the tasks both labelled.

    `weights`: None (any disagreement counts 1), "linear" or "quadratic". Weighted distances are
    ranks in the sorted set of labels the two gave on their shared tasks (as scikit-learn and
    R irr do), not differences of the label values.
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    enc = encode(df)
    if enc.n_annotators != 2:
        raise ValueError(
            f"Cohen's kappa compares exactly two annotators; found {enc.n_annotators}: "
            f"{enc.annotators[:5].tolist()}{' ...' if enc.n_annotators > 5 else ''}"
        )
    first, second = _paired_labels(enc)
    _, ranks = np.unique(np.concatenate([first, second]), return_inverse=True)
    size = int(ranks.max()) + 1
    joint = np.bincount(ranks[: first.size] * size + ranks[first.size :], minlength=size * size)
    observed = joint.reshape(size, size) / first.size
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    distance = _rank_distance(size, weights)
    return _one_minus_ratio((distance * observed).sum(), (distance * expected).sum())


def fleiss_kappa(df: pd.DataFrame) -> float:
    """Fleiss' kappa; every task must carry the same number (>= 2) of labels.

    Annotator identities do not matter (Fleiss' raters may differ between tasks), only the
    counts per task and label. With two labels per task this is Scott's pi.
    """
    counts = label_counts(encode(df)).astype(np.float64)
    totals = counts.sum(axis=1)
    if totals.min() != totals.max():
        raise ValueError(
            "Fleiss' kappa needs the same number of labels on every task; found tasks with "
            f"{int(totals.min())} to {int(totals.max())} labels (krippendorff_alpha accepts "
            "unequal or missing labels)"
        )
    if totals[0] < 2:
        raise ValueError("Fleiss' kappa needs at least two labels per task; every task has one")
    observed = float(np.mean(_agreeing_share(counts, totals)))
    shares = counts.sum(axis=0) / counts.sum()
    return _one_minus_ratio(1.0 - observed, 1.0 - float((shares**2).sum()))


def krippendorff_alpha(df: pd.DataFrame, level: Level = "nominal") -> float:
    """Krippendorff's alpha at the given level of measurement; missing labels are allowed.

    Built from the label coincidence matrix of the pairable tasks (two or more labels), so its
    cost is one bincount over the rows plus a (tasks x labels) matrix product. "ordinal" ranks
    labels in ascending order; "interval" and "ratio" need numeric labels.
    """
    if level not in _DISTANCES:
        raise ValueError(f"level must be one of {sorted(_DISTANCES)}, got {level!r}")
    enc = encode(df)
    counts, totals = pairable_counts(enc)
    weighted = counts / (totals - 1.0)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    marginals = coincidence.sum(axis=0)
    distance = _DISTANCES[level](enc, marginals)
    chance = (np.outer(marginals, marginals) - np.diag(marginals)) / (marginals.sum() - 1.0)
    return _one_minus_ratio((coincidence * distance).sum(), (chance * distance).sum())


def _agreeing_share(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    return (counts * (counts - 1.0)).sum(axis=1) / (totals * (totals - 1.0))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(np.shape(numerator), np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)


def _one_minus_ratio(disagreement: float, chance_disagreement: float) -> float:
    # No disagreement is possible by chance (one category only): the coefficient is 0/0.
    if chance_disagreement == 0:
        return float("nan")
    return float(1.0 - disagreement / chance_disagreement)


def _pairs_within_tasks(task: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (i, j), i != j, of every ordered pair of rows that share a task."""
    order = np.argsort(task, kind="stable")
    sizes = np.bincount(task)
    first = np.cumsum(sizes) - sizes
    row_size = sizes[task[order]]
    left = np.repeat(np.arange(task.size), row_size)
    offset = np.arange(left.size) - np.repeat(np.cumsum(row_size) - row_size, row_size)
    right = np.repeat(first[task[order]], row_size) + offset
    keep = left != right
    return order[left[keep]], order[right[keep]]


def _paired_labels(enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
    grid = np.full((2, enc.n_tasks), -1, dtype=np.int64)
    grid[enc.annotator, enc.task] = enc.label
    both = (grid >= 0).all(axis=0)
    if not both.any():
        raise ValueError("the two annotators share no task, so Cohen's kappa has nothing to compare")
    return grid[0, both], grid[1, both]


def _rank_distance(size: int, weights: Weights) -> np.ndarray:
    gap = np.abs(np.subtract.outer(np.arange(size), np.arange(size))).astype(np.float64)
    if weights is None:
        return (gap > 0).astype(np.float64)
    return gap if weights == "linear" else gap**2


def _nominal(enc: Encoded, marginals: np.ndarray) -> np.ndarray:
    return 1.0 - np.eye(enc.n_labels)


def _ordinal(enc: Encoded, marginals: np.ndarray) -> np.ndarray:
    # Krippendorff's ordinal metric: the coincidence mass lying between two ranks, inclusive,
    # less half of each end, squared; ranks follow the label order of `encode`.
    ranks = np.arange(enc.n_labels)
    low, high = np.minimum.outer(ranks, ranks), np.maximum.outer(ranks, ranks)
    cumulative = np.cumsum(marginals)
    between = cumulative[high] - cumulative[low] + marginals[low]
    return (between - (marginals[low] + marginals[high]) / 2.0) ** 2


def _interval(enc: Encoded, marginals: np.ndarray) -> np.ndarray:
    values = numeric_labels(enc, "interval alpha")
    return np.subtract.outer(values, values) ** 2


def _ratio_level(enc: Encoded, marginals: np.ndarray) -> np.ndarray:
    values = numeric_labels(enc, "ratio alpha")
    total, gap = np.add.outer(values, values), np.subtract.outer(values, values)
    # Two zeros are identical on a ratio scale: distance 0, not 0/0.
    return np.divide(gap, total, out=np.zeros_like(gap), where=total != 0) ** 2


_DISTANCES: dict[str, Callable[[Encoded, np.ndarray], np.ndarray]] = {
    "nominal": _nominal,
    "ordinal": _ordinal,
    "interval": _interval,
    "ratio": _ratio_level,
}
