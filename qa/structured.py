"""Assessments of boxes, spans and free-text answers, read from Label Studio results.

The counterpart of `qa.assess` (classification) for the other kinds of job: turn each annotation's
result into the long frames `qa.boxes`, `qa.spans` and `qa.text` take, build the consensus back
as a Label Studio result (so it exports and displays like an annotation), and score each annotator
by how well their work matches that consensus. Pure: rows in, `Assessment` out.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qa.assess import Assessment
from qa.boxes import box_agreement, consensus_boxes
from qa.spans import span_agreement, token_consensus
from qa.text import medoid_answers, similarity, text_agreement

CONSENSUS = "__consensus__"  # the consensus, scored against each annotator as one more "annotator"
BOX_COLUMNS = ["task", "annotator", "label", "x", "y", "width", "height"]
SPAN_COLUMNS = ["task", "annotator", "label", "start", "end", "text"]


@dataclass(frozen=True)
class Target:
    """Where a consensus result points: the control's name, its object's name, and the result type."""
    from_name: str
    to_name: str
    type: str


def _regions(result: Any, kind: str) -> list[dict[str, Any]]:
    return [r["value"] for r in result or [] if isinstance(r, dict) and r.get("type") in (kind, kind.removesuffix("labels"))
            and isinstance(r.get("value"), dict)]


def box_frame(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(boxes, empty): one row per drawn box, and the (task, annotator) pairs that drew none."""
    boxes = [(r.task, r.annotator, (v.get("rectanglelabels") or [""])[0], v["x"], v["y"], v["width"], v["height"])
             for r in rows.itertuples() for v in _regions(r.result, "rectanglelabels")]
    frame = pd.DataFrame(boxes, columns=BOX_COLUMNS)
    return frame, _empty(rows, frame)


def span_frame(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    spans = [(r.task, r.annotator, (v.get("labels") or [""])[0], int(v["start"]), int(v["end"]), v.get("text", ""))
             for r in rows.itertuples() for v in _regions(r.result, "labels")]
    frame = pd.DataFrame(spans, columns=SPAN_COLUMNS)
    return frame, _empty(rows, frame)


def answer_frame(rows: pd.DataFrame) -> pd.DataFrame:
    answers = [(r.task, r.annotator, "\n".join(v.get("text") or []))
               for r in rows.itertuples() for v in _regions(r.result, "textarea")[:1]]
    return pd.DataFrame(answers, columns=["task", "annotator", "label"])


def _empty(rows: pd.DataFrame, drawn: pd.DataFrame) -> pd.DataFrame:
    seen = set(zip(drawn["task"], drawn["annotator"]))
    pairs = [(t, a) for t, a in zip(rows["task"], rows["annotator"]) if (t, a) not in seen]
    return pd.DataFrame(pairs, columns=["task", "annotator"])


def assess_boxes(rows: pd.DataFrame, target: Target) -> Assessment:
    """Consensus boxes (clusters of matched boxes) and box F1 / IoU agreement."""
    frame, empty = box_frame(rows)
    fused = consensus_boxes(frame, empty=empty)
    results = _grouped(fused.boxes, rows, lambda b: {"x": b.x, "y": b.y, "width": b.width, "height": b.height,
                                                     "rotation": 0, "rectanglelabels": [b.label]}, target)
    figures: dict[str, Any] = {"method": "box_clustering", "agreement_measure": "box F1 (IoU ≥ 0.5)"}
    if _pairable(rows):
        agreement = box_agreement(frame, empty=empty)
        figures.update(agreement=_number(agreement.f1), mean_iou=_number(agreement.mean_iou),
                       per_label={str(k): _number(v) for k, v in agreement.per_label.items()})
    scores = _scores(frame, empty, fused.boxes, lambda f, e: box_agreement(f, empty=e).f1)
    return _assessment(rows, results, fused.confidence, scores, figures, fused.boxes["label"])


def assess_spans(rows: pd.DataFrame, texts: pd.Series, target: Target) -> Assessment:
    """Token-level consensus spans and exact span F1 agreement."""
    frame, empty = span_frame(rows)
    voted = token_consensus(frame, texts, empty=empty)
    results = _grouped(voted.spans, rows, lambda s: {"start": int(s.start), "end": int(s.end), "text": s.text,
                                                     "labels": [s.label]}, target)
    figures: dict[str, Any] = {"method": "token_vote", "agreement_measure": "span F1 (exact)"}
    if _pairable(rows):
        agreement = span_agreement(frame, empty=empty)
        figures.update(agreement=_number(agreement.f1),
                       per_label={str(k): _number(v) for k, v in agreement.per_label.items()})
    scores = _scores(frame, empty, voted.spans.drop(columns=["confidence"]), lambda f, e: span_agreement(f, empty=e).f1)
    return _assessment(rows, results, voted.confidence, scores, figures, voted.spans["label"])


def assess_answers(rows: pd.DataFrame, target: Target) -> Assessment:
    """The medoid answer per task, with exact-match and edit-similarity agreement."""
    frame = answer_frame(rows)
    medoid = medoid_answers(frame)
    results = pd.Series({t: [{"from_name": target.from_name, "to_name": target.to_name, "type": target.type,
                              "value": {"text": [answer]}}] for t, answer in medoid.labels.items()}, dtype=object)
    figures: dict[str, Any] = {"method": "medoid", "agreement_measure": "edit similarity"}
    if _pairable(rows):
        agreement = text_agreement(frame)
        figures.update(agreement=_number(agreement.similarity), exact_match=_number(agreement.exact))
    consensus = frame["task"].map(medoid.labels)
    scores = pd.Series([similarity(a, b) for a, b in zip(frame["label"], consensus)], index=frame.index)
    scores = scores.groupby(frame["annotator"]).mean()
    return _assessment(rows, results, medoid.confidence, scores, figures, pd.Series(dtype=object))


def _pairable(rows: pd.DataFrame) -> bool:
    return bool((rows.groupby("task").size() >= 2).any())


def _grouped(regions: pd.DataFrame, rows: pd.DataFrame, value: Callable[[Any], dict[str, Any]],
             target: Target) -> pd.Series:
    """Task -> its consensus as a Label Studio result (every task of `rows`, [] when none)."""
    found: dict[Any, list[dict[str, Any]]] = {task: [] for task in rows["task"].unique()}
    for region in regions.itertuples():
        found[region.task].append({"from_name": target.from_name, "to_name": target.to_name, "type": target.type,
                                   "value": value(region)})
    return pd.Series(found, dtype=object)


def _scores(frame: pd.DataFrame, empty: pd.DataFrame, consensus: pd.DataFrame,
            agreement: Callable[[pd.DataFrame, pd.DataFrame], float]) -> pd.Series:
    """Per annotator: agreement of their work with the consensus, as if it were one more annotator."""
    fused = consensus.assign(annotator=CONSENSUS)[[c for c in frame.columns if c in consensus.columns or c == "annotator"]]
    scores = {}
    for annotator in pd.unique(pd.concat([frame["annotator"], empty["annotator"]])):
        mine = frame[frame["annotator"] == annotator]
        tasks = set(mine["task"]) | set(empty.loc[empty["annotator"] == annotator, "task"])
        theirs = fused[fused["task"].isin(tasks)]
        drawn = {annotator: set(mine["task"]), CONSENSUS: set(theirs["task"])}
        pairs = [(t, who) for t in tasks for who in drawn if t not in drawn[who]]
        both = pd.concat([mine, theirs[mine.columns]], ignore_index=True)
        scores[annotator] = agreement(both, pd.DataFrame(pairs, columns=["task", "annotator"]))
    return pd.Series(scores, dtype=float)


def _assessment(rows: pd.DataFrame, results: pd.Series, confidence: pd.Series, scores: pd.Series,
                figures: dict[str, Any], labels: pd.Series) -> Assessment:
    confidence = confidence.reindex(results.index).fillna(1.0)
    figures["distribution"] = {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}
    figures["confidence_histogram"] = np.histogram(confidence.to_numpy(float), bins=10, range=(0, 1))[0].tolist()
    figures["percent_agreement"] = figures.get("agreement")
    return Assessment(labels=pd.Series(None, index=results.index, dtype=object), confidence=confidence,
                      agreement=scores, skill=pd.Series(dtype=float), votes=rows.groupby("task").size(),
                      counts=rows.groupby("annotator").size(), metrics=figures, results=results)


def _number(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 6) + 0.0
