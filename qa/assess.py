"""One QA assessment of classification labels: consensus, agreement figures and annotator scores.

Pure: a long-format frame in (`task`, `annotator`, `label`), plain results out, ready for
`qa.jobs` to store and the pages to draw. Gold tasks may be in the frame: with Dawid–Skene their
known answers anchor the estimate of each annotator's confusion matrix; they never get a
consensus of their own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qa.aggregate import dawid_skene, majority_vote
from qa.metrics import (
    agreement_matrix,
    fleiss_kappa,
    krippendorff_alpha,
    per_label_agreement,
    percent_agreement,
)

MATRIX_LIMIT = 60  # annotators shown in the heatmap: the busiest ones
CONFUSION_LIMIT = 200  # annotators whose confusion matrices are kept


@dataclass(frozen=True)
class Assessment:
    labels: pd.Series  # task -> consensus label (gold tasks excluded)
    confidence: pd.Series  # task -> [0, 1]
    agreement: pd.Series  # annotator -> share of their labels equal to the consensus
    skill: pd.Series  # annotator -> Dawid–Skene skill (empty for majority vote)
    votes: pd.Series  # task -> labels behind its consensus
    counts: pd.Series  # annotator -> labels they gave (gold tasks excluded)
    metrics: dict[str, Any] = field(default_factory=dict)  # JSON-ready figures for the pages
    results: pd.Series | None = None  # task -> consensus as a Label Studio result (boxes, spans, text)


def assess_labels(df: pd.DataFrame, method: str, gold: pd.Series | None = None) -> Assessment:
    """Consensus by `method` ("dawid_skene" | "majority_vote") over the frame's non-gold tasks."""
    gold = gold if gold is not None else pd.Series(dtype=object)
    is_gold = df["task"].isin(gold.index)
    work = df[~is_gold]
    if work.empty:
        return Assessment(*(pd.Series(dtype=float) for _ in range(6)), metrics={"method": method})
    metrics: dict[str, Any] = {"method": method, **agreement_figures(work)}
    if method == "dawid_skene":
        known = gold[gold.isin(set(df["label"]))]
        fit = dawid_skene(df, gold=known if len(known) else None)
        labels, confidence = fit.labels.drop(known.index, errors="ignore"), fit.confidence
        skill = pd.Series({a: float(np.dot(fit.priors.to_numpy(), np.diag(m))) for a, m in fit.confusion.items()})
        busiest = work["annotator"].value_counts().index[:CONFUSION_LIMIT]
        metrics["classes"] = [str(c) for c in fit.classes]
        metrics["confusion"] = {str(a): _json_matrix(fit.confusion[a]) for a in busiest}
    else:
        fit = majority_vote(work)
        labels, confidence, skill = fit.labels, fit.confidence, pd.Series(dtype=float)
    confidence = confidence.reindex(labels.index)
    metrics["distribution"] = {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}
    metrics["confidence_histogram"] = np.histogram(confidence.to_numpy(float), bins=10, range=(0, 1))[0].tolist()
    return Assessment(labels, confidence, agreement_with(work, labels), skill,
                      work.groupby("task").size(), work.groupby("annotator").size(), metrics)


def agreement_figures(work: pd.DataFrame) -> dict[str, Any]:
    """Percent agreement, Krippendorff's alpha, Fleiss' kappa where it applies, per label, and the
    annotator x annotator matrix of the busiest annotators."""
    pairable = work.groupby("task")["annotator"].transform("size") >= 2
    figures: dict[str, Any] = {"percent_agreement": None, "krippendorff_alpha": None, "fleiss_kappa": None,
                               "per_label": {}, "matrix": {"annotators": [], "values": []}}
    if not pairable.any():
        return figures
    pairs = work[pairable]
    figures["percent_agreement"] = _number(percent_agreement(pairs))
    figures["krippendorff_alpha"] = _number(krippendorff_alpha(pairs))
    try:
        figures["fleiss_kappa"] = _number(fleiss_kappa(pairs))
    except ValueError:  # tasks with different numbers of labels (dynamic overlap): kappa does not apply
        pass
    figures["per_label"] = {str(k): _number(v) for k, v in per_label_agreement(pairs).items()}
    busiest = pairs["annotator"].value_counts().index[:MATRIX_LIMIT]
    matrix = agreement_matrix(pairs[pairs["annotator"].isin(busiest)])
    figures["matrix"] = {"annotators": [str(a) for a in matrix.index],
                         "values": [[_number(v) for v in row] for row in matrix.to_numpy()]}
    return figures


def agreement_with(work: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """Per annotator: the share of their labels that equal the task's consensus."""
    consensus = work["task"].map(labels)
    hits = (work["label"] == consensus).astype(float)
    return hits.groupby(work["annotator"]).mean()


def _number(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 6) + 0.0  # + 0.0: no "-0.0" on the pages


def _json_matrix(matrix: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in matrix]
