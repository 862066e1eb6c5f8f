"""Bounding-box agreement and consensus: matched F1 and IoU between annotators, fused boxes per task.

Input contract: a long-format DataFrame with columns ``task``, ``annotator``, ``label`` (the box's
class), ``x``, ``y``, ``width`` and ``height``, one row per box, in Label Studio's units (percent of
the image, ``(x, y)`` the top-left corner); extra columns are ignored. An annotator may draw any
number of boxes on a task. One who looked at a task and drew nothing has no row, so callers list
those (task, annotator) pairs in ``empty`` (columns ``task`` and ``annotator``); without it, an
annotator with no box on a task is taken not to have seen the task at all.

Two boxes match when they carry the same label and their IoU reaches the threshold (and is above
0). Between two annotators, boxes are matched one to one: the most matches, then the highest total
IoU (the Hungarian algorithm, `scipy.optimize.linear_sum_assignment`). IoU uses continuous
coordinates (area = width x height, no "+1 pixel" convention); boxes with no area never match.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from qa._checks import empty_pairs, reject, require_columns, weights_of

COLUMNS: tuple[str, ...] = ("task", "annotator", "label", "x", "y", "width", "height")
COORDINATES = ["x", "y", "width", "height"]
_EPS = 1e-9  # slack for comparing weight shares that are sums of floats
_Drawers = dict[Hashable, np.ndarray]  # annotator -> row positions of its boxes on one task


@dataclass(frozen=True)
class BoxAgreement:
    """Pairwise agreement of annotators' boxes.

    `f1`: mean over tasks of the mean matched F1 of the task's annotator pairs, where a pair's F1
    is 2 x matches / (boxes of one + boxes of the other), and 1.0 when neither drew a box (every
    task weighs the same, as in `qa.metrics.percent_agreement`). `mean_iou`: mean IoU of all
    matched box pairs (NaN when nothing matched). `per_label`: label -> F1 pooled over all pairs
    (NaN for a label seen only on tasks with one annotator). `per_task`: task -> mean pair F1,
    NaN on tasks with one annotator; its smallest values are the disputed tasks.
    """

    f1: float
    mean_iou: float
    per_label: pd.Series
    per_task: pd.Series


@dataclass(frozen=True)
class BoxConsensus:
    """Fused boxes and how far the annotators back them.

    `boxes`: columns task, label, x, y, width, height, support (share of the task's annotator
    weight that drew the box) and confidence (support x weighted mean IoU of the drawn boxes with
    the fused one). `confidence`: task -> mean, over the clusters found on the task, of the share
    of weight backing the decision taken (a kept box's confidence, 1 - support for a dropped one);
    1.0 on a task where everybody agreed there is nothing to draw.
    """

    boxes: pd.DataFrame
    confidence: pd.Series


@dataclass(frozen=True)
class _Boxes:
    coords: np.ndarray  # (rows, 4): x, y, width, height
    label: np.ndarray  # label code per row, indexes `labels`
    labels: pd.Index  # label values, ascending
    tasks: dict[Hashable, _Drawers]  # in order of first appearance, then tasks only in `empty`


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` with every box of `b`, as a (len(a), len(b)) array.

    Boxes are rows of (x, y, width, height); a single box may be a flat 4-vector. A pair whose
    union has no area (two zero-size boxes) gets 0.
    """
    a, b = _as_boxes(a, "a"), _as_boxes(b, "b")
    left = np.maximum.outer(a[:, 0], b[:, 0])
    right = np.minimum.outer(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    top = np.maximum.outer(a[:, 1], b[:, 1])
    bottom = np.minimum.outer(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(right - left, 0.0, None) * np.clip(bottom - top, 0.0, None)
    union = np.add.outer(a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_boxes(a: pd.DataFrame, b: pd.DataFrame, iou_threshold: float = 0.5) -> pd.DataFrame:
    """Optimal one-to-one matching of two annotators' boxes on one task.

    `a` and `b` need columns label, x, y, width and height. Returns one row per matched pair:
    `a` and `b` (the index labels of the matched rows) and their `iou`.
    """
    _check_threshold(iou_threshold)
    first, second = (_checked(frame, COLUMNS[2:], name) for name, frame in (("a", a), ("b", b)))
    labels = pd.Index(pd.concat([first["label"], second["label"]]).unique())
    rows_a, rows_b, overlap = _match(
        first[COORDINATES].to_numpy(float), labels.get_indexer(first["label"]),
        second[COORDINATES].to_numpy(float), labels.get_indexer(second["label"]), iou_threshold)
    return pd.DataFrame({"a": first.index[rows_a], "b": second.index[rows_b], "iou": overlap})


def box_agreement(df: pd.DataFrame, iou_threshold: float = 0.5, *,
                  empty: pd.DataFrame | None = None) -> BoxAgreement:
    """Matched F1, mean IoU, per-label F1 and per-task F1 over annotator pairs within tasks."""
    _check_threshold(iou_threshold)
    boxes = _load(df, empty)
    size = len(boxes.labels)
    matched, drawn, overlaps, per_task = np.zeros(size), np.zeros(size), [np.empty(0)], []
    for drawers in boxes.tasks.values():
        scores = []
        for rows_a, rows_b in itertools.combinations(drawers.values(), 2):
            first, _, overlap = _match(boxes.coords[rows_a], boxes.label[rows_a],
                                       boxes.coords[rows_b], boxes.label[rows_b], iou_threshold)
            hits = np.bincount(boxes.label[rows_a[first]], minlength=size)
            both = np.bincount(boxes.label[np.concatenate([rows_a, rows_b])], minlength=size)
            matched, drawn = matched + hits, drawn + both
            overlaps.append(overlap)
            scores.append(2.0 * hits.sum() / both.sum() if both.sum() else 1.0)
        per_task.append(np.mean(scores) if scores else np.nan)
    task_f1 = pd.Series(per_task, index=pd.Index(list(boxes.tasks), name="task"), name="f1")
    if task_f1.isna().all():
        raise ValueError("no task has two or more annotators, so there is no pair of annotations "
                         "to compare; agreement needs overlapping annotators")
    ious = np.concatenate(overlaps)
    per_label = np.divide(2.0 * matched, drawn, out=np.full(size, np.nan), where=drawn > 0)
    return BoxAgreement(
        f1=float(task_f1.mean()),
        mean_iou=float(ious.mean()) if ious.size else float("nan"),
        per_label=pd.Series(per_label, index=boxes.labels.rename("label"), name="f1"),
        per_task=task_f1,
    )


def consensus_boxes(df: pd.DataFrame, weights: pd.Series | None = None, iou_threshold: float = 0.5,
                    min_support: float = 0.5, *, empty: pd.DataFrame | None = None) -> BoxConsensus:
    """Fuse the annotators' boxes of each task into consensus boxes.

    Per task, the boxes of the highest-weight annotator seed one cluster each; every other
    annotator in order of decreasing weight (ties: order of first appearance) has its boxes
    matched one to one against the clusters' current fused boxes, and an unmatched box seeds a
    new cluster, so an annotator adds at most one box to a cluster. A cluster's box is the
    weight-averaged coordinates of its members; clusters with support >= `min_support` are kept.
    `weights` (annotator -> positive skill) defaults to 1 for everybody.
    """
    _check_threshold(iou_threshold)
    if not 0.0 < min_support <= 1.0:
        raise ValueError(f"min_support must be in (0, 1], got {min_support!r}")
    boxes = _load(df, empty)
    skill = weights_of(weights, dict.fromkeys(a for drawers in boxes.tasks.values() for a in drawers))
    rows, backing = [], []
    for task, drawers in boxes.tasks.items():
        total = sum(skill[annotator] for annotator in drawers)
        fused = [_fuse(boxes, cluster, skill, total)
                 for cluster in _clusters(boxes, drawers, skill, iou_threshold)]
        keep = [box.support >= min_support - _EPS for box in fused]
        rows += [(task, boxes.labels[box.label], *box.coords, box.support, box.confidence)
                 for box, kept in zip(fused, keep) if kept]
        decisions = [box.confidence if kept else 1.0 - box.support for box, kept in zip(fused, keep)]
        backing.append(float(np.mean(decisions)) if decisions else 1.0)
    columns = ["task", "label", *COORDINATES, "support", "confidence"]
    index = pd.Index(list(boxes.tasks), name="task")
    return BoxConsensus(pd.DataFrame(rows, columns=columns), pd.Series(backing, index=index, name="confidence"))


def _match(coords_a: np.ndarray, label_a: np.ndarray, coords_b: np.ndarray, label_b: np.ndarray,
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (in a, in b) of the optimally matched pairs and their IoU."""
    if len(coords_a) == 0 or len(coords_b) == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0)
    overlap = iou(coords_a, coords_b)
    allowed = (label_a[:, None] == label_b[None, :]) & (overlap >= threshold) & (overlap > 0)
    # Each match is worth more than any sum of IoUs over fewer matches, so the assignment has
    # the most matches first and the highest total IoU among those.
    worth = np.where(allowed, overlap + min(overlap.shape) + 1.0, 0.0)
    first, second = linear_sum_assignment(worth, maximize=True)
    keep = allowed[first, second]
    return first[keep], second[keep], overlap[first[keep], second[keep]]


def _clusters(boxes: _Boxes, drawers: _Drawers, skill: dict[Hashable, float],
              threshold: float) -> list[dict[Hashable, int]]:
    clusters: list[dict[Hashable, int]] = []  # annotator -> row of its box in the cluster
    for annotator in sorted(drawers, key=lambda name: -skill[name]):  # stable: ties keep order
        rows = drawers[annotator]
        centres = np.array([_fused_coords(boxes, cluster, skill) for cluster in clusters]).reshape(-1, 4)
        codes = np.array([boxes.label[next(iter(cluster.values()))] for cluster in clusters], dtype=np.int64)
        into, chosen, _ = _match(centres, codes, boxes.coords[rows], boxes.label[rows], threshold)
        for cluster, position in zip(into, chosen):
            clusters[cluster][annotator] = int(rows[position])
        clusters += [{annotator: int(row)} for row in np.delete(rows, chosen)]
    return clusters


def _fused_coords(boxes: _Boxes, cluster: dict[Hashable, int], skill: dict[Hashable, float]) -> np.ndarray:
    members = list(cluster.values())
    return np.average(boxes.coords[members], axis=0, weights=[skill[name] for name in cluster])


class _Fused(NamedTuple):
    label: int  # label code
    coords: list[float]
    support: float
    confidence: float


def _fuse(boxes: _Boxes, cluster: dict[Hashable, int], skill: dict[Hashable, float], total: float) -> _Fused:
    members, weight = list(cluster.values()), np.array([skill[name] for name in cluster])
    coords = _fused_coords(boxes, cluster, skill)
    tightness = float(np.average(iou(coords, boxes.coords[members])[0], weights=weight))
    support = float(weight.sum() / total)
    return _Fused(int(boxes.label[members[0]]), coords.tolist(), support, support * tightness)


def _load(df: pd.DataFrame, empty: pd.DataFrame | None) -> _Boxes:
    frame = _checked(df, COLUMNS, "annotation frame", allow_no_rows=empty is not None)
    label, labels = pd.factorize(frame["label"], sort=True)
    tasks: dict[Hashable, _Drawers] = {}
    for (task, annotator), rows in frame.groupby(["task", "annotator"], sort=False).indices.items():
        tasks.setdefault(task, {})[annotator] = rows
    for task, annotator in empty_pairs(empty, tasks, "drew boxes"):
        tasks.setdefault(task, {})[annotator] = np.empty(0, dtype=np.intp)
    if not tasks:
        raise ValueError("no boxes and no `empty` (task, annotator) pairs: nothing to compare")
    return _Boxes(frame[COORDINATES].to_numpy(np.float64), label.astype(np.int64), pd.Index(labels), tasks)


def _checked(df: pd.DataFrame, columns: tuple[str, ...], what: str, *,
             allow_no_rows: bool = False) -> pd.DataFrame:
    """`df`'s columns with coordinates as float64; ValueError naming the column and first bad row."""
    require_columns(df, columns, what, ("box", "boxes"), "drew nothing", allow_no_rows)
    for name in columns:
        if name not in COORDINATES:
            reject(df[name].isna(), df[name], name, "has a missing value")
    coords = df[COORDINATES].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    for name in COORDINATES:
        reject(~np.isfinite(coords[name]), df[name], name, "is missing, not a number or infinite")
    for name in ("width", "height"):
        reject(coords[name] < 0, df[name], name, "is negative")
    return df[[name for name in columns if name not in COORDINATES]].assign(**coords)


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {threshold!r}")


def _as_boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    array = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} must hold boxes as rows of (x, y, width, height); got shape {array.shape}")
    return array
