"""Label aggregation: one consensus label per task, by majority vote or by Dawid-Skene EM.

Both take the long-format annotation frame of `qa._frame` and return frozen results indexed by
task (order of first appearance). Dawid-Skene follows crowd-kit's `DawidSkene` step for step
(majority-vote initialisation, the same 1e-10 probability floor, the same per-annotation
evidence lower bound as stopping rule) so the two agree to floating-point noise, but works on
integer codes with numpy instead of pandas joins, which makes it more than ten times faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Hashable, Mapping

import numpy as np
import pandas as pd

from qa._frame import Encoded, encode, label_counts, pair_codes

_FLOOR = 1e-10  # crowd-kit's lower bound for probabilities, kept so that results match it
_Anchors = tuple[np.ndarray, np.ndarray] | None  # (task ranks, known class codes) of gold tasks


@dataclass(frozen=True)
class Aggregation:
    """Consensus per task: `labels` (task -> label) and `confidence` (task -> value in [0, 1])."""

    labels: pd.Series
    confidence: pd.Series


@dataclass(frozen=True)
class DawidSkeneResult(Aggregation):
    """Dawid-Skene estimate; `confidence` is the posterior probability of the chosen label.

    `confusion[annotator]` is a (classes x classes) array: row = true class, column = label
    given, both in the order of `classes`; each row sums to 1. `priors` and `posteriors` are
    indexed (and columned) by `classes` too. `iterations` counts the EM rounds run.
    """

    posteriors: pd.DataFrame
    priors: pd.Series
    confusion: Mapping[Hashable, np.ndarray]
    classes: pd.Index
    iterations: int


def majority_vote(df: pd.DataFrame, *, allow_repeats: bool = False) -> Aggregation:
    """Most frequent label per task; `confidence` is its share of the task's labels.

    Ties go to the smallest label (labels ordered as in `qa._frame`: numbers numerically,
    strings lexicographically), so the result never depends on row order. `allow_repeats`
    accepts several labels from one annotator on one task, each counted as a vote.
    """
    enc = encode(df, allow_repeats=allow_repeats)
    counts = label_counts(enc)
    winner = counts.argmax(axis=1)  # argmax keeps the first maximum: the smallest label
    share = counts[np.arange(enc.n_tasks), winner] / counts.sum(axis=1)
    return Aggregation(*_per_task(enc, winner, share))


def dawid_skene(
    df: pd.DataFrame,
    n_iter: int = 100,
    tol: float = 1e-5,
    gold: pd.Series | None = None,
    *,
    allow_repeats: bool = False,
) -> DawidSkeneResult:
    """Dawid & Skene (1979) maximum-likelihood consensus with one confusion matrix per annotator.

    EM starts from majority-vote shares and stops after `n_iter` rounds or once the evidence
    lower bound per annotation improves by less than `tol` (`tol=0` runs until it stops
    improving). `gold` (task -> known label) pins those tasks' posteriors to the known class in
    every round; gold tasks absent from `df` are ignored, gold labels no annotator used are an
    error. `allow_repeats` accepts repeated labels from one annotator on one task (as in Dawid
    & Skene's own data), each counted as an observation. Ties go to the smallest label.
    """
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    enc = encode(df, allow_repeats=allow_repeats)
    layout = _Layout.of(enc)
    anchors = _gold_anchors(enc, layout, gold)
    fit = _fit(enc, layout, anchors, n_iter, tol)
    rank_of_task = layout.rank_of_task
    del layout  # its answer slots hold a code per annotation, which the result no longer needs
    return _result(enc, rank_of_task, fit)


def _per_task(enc: Encoded, winner: np.ndarray, confidence: np.ndarray) -> tuple[pd.Series, pd.Series]:
    index = enc.tasks.rename("task")
    labels = pd.Series(enc.labels.take(winner), index=index, name="label")
    return labels, pd.Series(confidence, index=index, name="confidence")


@dataclass(frozen=True)
class _Layout:
    """Answers arranged so that EM sums run over contiguous arrays, without pandas joins.

    Tasks are ranked by their number of labels, most first; `slots[j]` holds, for the tasks
    ranked 0 .. len(slots[j]) - 1, the code (annotator * n_labels + label) of their j-th
    answer. Per-task sums are then `out[:len(slots[j])] += table.take(slots[j])` over j, and
    per-answer sums are bincounts of each slot. The Python loops run over slots, so their count
    is the largest number of labels on one task: cheap for crowd overlaps (3-10 labels), slow
    if a task carries thousands.
    """

    slots: tuple[np.ndarray, ...]
    task_of_rank: np.ndarray
    rank_of_task: np.ndarray
    observed: np.ndarray  # per answer code: did the annotator ever give that label
    n_annotators: int
    n_labels: int
    n_rows: int

    @classmethod
    def of(cls, enc: Encoded) -> _Layout:
        per_task = np.bincount(enc.task, minlength=enc.n_tasks)
        task_of_rank = np.argsort(-per_task, kind="stable")
        rank_of_task = np.empty(enc.n_tasks, dtype=enc.task.dtype)  # int32 like the codes: gathered per row
        rank_of_task[task_of_rank] = np.arange(enc.n_tasks)
        by_rank = np.argsort(rank_of_task[enc.task], kind="stable")  # row order kept within a task
        sizes = per_task[task_of_rank]
        starts = np.cumsum(sizes) - sizes  # where each rank's rows begin in `by_rank`
        # Sizes fall with rank, so the tasks with a j-th answer are the first `with_answer[j]`
        # ranks, and slot j gathers the rows at starts + j of those ranks.
        with_answer = enc.n_tasks - np.cumsum(np.bincount(sizes))[:-1]
        slots = tuple(_answer_codes(enc, by_rank[starts[:count] + j])
                      for j, count in enumerate(with_answer))
        observed = np.zeros(enc.n_annotators * enc.n_labels, dtype=bool)
        for codes in slots:
            observed[codes] = True
        return cls(slots, task_of_rank, rank_of_task, observed,
                   enc.n_annotators, enc.n_labels, enc.n_rows)


def _answer_codes(enc: Encoded, rows: np.ndarray) -> np.ndarray:
    """Answer code (annotator * n_labels + label) of each of `rows`."""
    return pair_codes(enc.annotator[rows], enc.label[rows], enc.n_labels)


@dataclass(frozen=True)
class _Fit:
    posterior: np.ndarray  # (classes, tasks by rank)
    prior: np.ndarray  # (classes,)
    confusion: np.ndarray  # (classes, annotators * labels): P(label | true class) per annotator
    iterations: int


def _gold_anchors(enc: Encoded, layout: _Layout, gold: pd.Series | None) -> _Anchors:
    if gold is None:
        return None
    if not isinstance(gold, pd.Series):
        raise TypeError(f"gold must be a pandas Series (task -> label), got {type(gold).__name__}")
    if gold.isna().any() or gold.index.has_duplicates:
        raise ValueError("gold must map each task to one known label, without missing values")
    task = enc.tasks.get_indexer(gold.index)
    known = task >= 0
    truth = enc.labels.get_indexer(gold.to_numpy()[known])
    if (truth < 0).any():
        unknown = sorted(set(gold[known][truth < 0]), key=str)
        raise ValueError(f"gold label(s) {unknown[:5]} were never given by any annotator")
    return (layout.rank_of_task[task[known]], truth) if known.any() else None


def _fit(enc: Encoded, layout: _Layout, anchors: _Anchors, n_iter: int, tol: float) -> _Fit:
    posterior = label_counts(enc)[layout.task_of_rank].T.astype(np.float64)
    posterior /= posterior.sum(axis=0)  # majority-vote shares, divided in place to save a copy
    posterior = _anchor(posterior, anchors)
    prior = posterior.mean(axis=1)
    mass, confusion, log_confusion = _m_step(posterior, layout)
    loss, done = -np.inf, 0
    for done in range(1, n_iter + 1):
        del posterior  # the E-step needs only the M-step's output: free the old posterior first
        posterior = _anchor(_e_step(log_confusion, prior, layout), anchors)
        prior = posterior.mean(axis=1)
        mass, confusion, log_confusion = _m_step(posterior, layout)
        new_loss = _lower_bound(posterior, prior, mass, log_confusion, layout.n_rows)
        # crowd-kit's rule, kept verbatim: stop on a gain below tol, a loss included.
        if new_loss - loss < tol:
            break
        loss = new_loss
    return _Fit(posterior, prior, confusion, done)


def _anchor(posterior: np.ndarray, anchors: _Anchors) -> np.ndarray:
    if anchors is not None:
        ranks, truth = anchors
        posterior[:, ranks] = 0.0
        posterior[truth, ranks] = 1.0
    return posterior


def _e_step(log_confusion: np.ndarray, prior: np.ndarray, layout: _Layout) -> np.ndarray:
    """Posterior of each task's true class given the answers, computed in log space."""
    log_prior = np.log(np.maximum(prior, _FLOOR))
    first, rest = layout.slots[0], layout.slots[1:]  # every task has a first answer
    scores = np.empty((layout.n_labels, first.size))
    for true_class in range(layout.n_labels):
        row, table = scores[true_class], log_confusion[true_class]
        np.add(table.take(first), log_prior[true_class], out=row)
        for codes in rest:
            row[: codes.size] += table.take(codes)
    scores -= scores.max(axis=0)  # the largest score becomes exp(0) = 1: no underflow to 0/0
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=0)
    return scores


def _m_step(posterior: np.ndarray, layout: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected answer counts per true class, the confusion matrices they imply, and their log."""
    size = layout.n_annotators * layout.n_labels
    mass = np.zeros((layout.n_labels, size))
    for true_class in range(layout.n_labels):
        weights = posterior[true_class]
        for codes in layout.slots:
            mass[true_class] += np.bincount(codes, weights=weights[: codes.size], minlength=size)
    # Answers an annotator never gave stay impossible (crowd-kit has no row for them); the
    # others are floored so that one unseen (class, label) cell cannot veto a class.
    confusion = np.where(layout.observed, np.maximum(mass, _FLOOR), 0.0)
    cube = confusion.reshape(layout.n_labels, layout.n_annotators, layout.n_labels)
    cube /= cube.sum(axis=2, keepdims=True)
    return mass, confusion, np.log(np.where(layout.observed, confusion, 1.0))


def _lower_bound(posterior: np.ndarray, prior: np.ndarray, mass: np.ndarray,
                 log_confusion: np.ndarray, n_rows: int) -> float:
    """crowd-kit's evidence lower bound per annotation (its prior term counts per answer)."""
    log_prior = np.log(np.maximum(prior, _FLOOR))
    expected = float((mass * log_confusion).sum() + mass.sum(axis=1) @ log_prior)
    return (expected + _entropy(posterior)) / n_rows


def _entropy(posterior: np.ndarray) -> float:
    """Entropy of the posteriors floored at _FLOOR, built a class row at a time to save memory."""
    terms, floored = np.empty_like(posterior), np.empty_like(posterior[0])
    for row, out in zip(posterior, terms):
        np.maximum(row, _FLOOR, out=floored)
        np.log(floored, out=out)
        out *= floored
    return -float(terms.sum())


def _result(enc: Encoded, rank_of_task: np.ndarray, fit: _Fit) -> DawidSkeneResult:
    posterior = fit.posterior[:, rank_of_task]
    winner = posterior.argmax(axis=0)  # first maximum: ties go to the smallest label
    labels, confidence = _per_task(enc, winner, posterior[winner, np.arange(enc.n_tasks)])
    classes = enc.labels.rename("label")
    cube = fit.confusion.reshape(enc.n_labels, enc.n_annotators, enc.n_labels)
    per_annotator = np.ascontiguousarray(cube.transpose(1, 0, 2))
    return DawidSkeneResult(
        labels=labels,
        confidence=confidence,
        posteriors=pd.DataFrame(posterior.T, index=labels.index, columns=classes, copy=False),
        priors=pd.Series(fit.prior, index=classes, name="prior"),
        confusion=MappingProxyType(dict(zip(enc.annotators, per_annotator))),
        classes=classes,
        iterations=fit.iterations,
    )
