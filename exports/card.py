"""The dataset card, the buyer's "quality passport": what a version holds and how good it is.

`CardStats` counts while the items stream past (labels, splits, confidence, annotators per item);
`quality_figures` reads the jobs' QA runs, gold answers, guideline versions and dates; `card_markdown`
renders the JSON card for people. Nothing in the card depends on when it was built, so rebuilding
the same version writes the same bytes.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from exports.formats import SPLITS, ItemBatch
from projects.models import Batch, Project
from qa.models import QARun
from tasks.models import Annotation, AnnotationStatus, Task

BINS = 10


@dataclass
class CardStats:
    """Counts over the exported items, one `add` per batch of them."""

    items: int = 0
    labels: Counter = field(default_factory=Counter)
    splits: Counter = field(default_factory=Counter)
    votes: Counter = field(default_factory=Counter)  # annotators per item -> items
    histogram: list[int] = field(default_factory=lambda: [0] * BINS)
    reviewed: int = 0

    def add(self, batch: ItemBatch, methods: list[str]) -> None:
        """Count a batch of items; `methods[i]` is how item i's consensus was reached."""
        self.add_columns(pa.array(batch.labels, pa.string()), np.array([SPLITS.index(s) for s in batch.splits], np.int8),
                         pa.array(batch.annotators, pa.int64()), pa.array(batch.confidences, pa.float64()),
                         pa.array(methods, pa.string()))

    def add_columns(self, labels: pa.Array, splits: np.ndarray, votes: pa.Array, confidences: pa.Array,
                    methods: pa.Array) -> None:
        """Count items given as columns: labels, splits (positions in SPLITS), annotators per item,
        confidences (as rounded for the files), how each consensus was reached."""
        self.items += len(labels)
        self.labels.update(_counts(labels))
        self.splits.update({SPLITS[code]: count for code, count in enumerate(np.bincount(splits, minlength=3).tolist())
                            if count})
        self.votes.update(_counts(votes))
        bins = np.minimum((confidences.to_numpy(zero_copy_only=False) * BINS).astype(np.int64), BINS - 1)
        self.histogram = [have + more for have, more in zip(self.histogram, np.bincount(bins, minlength=BINS).tolist())]
        self.reviewed += _counts(methods).get("review", 0)


def _counts(values: pa.Array) -> dict[Any, int]:
    """How often each value (nulls left out) occurs in a column."""
    found = pc.value_counts(values.drop_null())
    return dict(zip(found.field("values").to_pylist(), found.field("counts").to_pylist()))


def quality_figures(session: Session, projects: list[Project]) -> dict[str, Any]:
    """Agreement (the latest run of each batch, weighted by items), gold accuracy, annotators,
    guideline versions and the dates of the work, over the given jobs."""
    ids = [p.id for p in projects]
    latest = select(func.max(QARun.id)).where(QARun.project_id.in_(ids), QARun.completed_at.is_not(None),
                                              QARun.batch_id.is_not(None)).group_by(QARun.batch_id)
    runs = list(session.scalars(select(QARun).where(QARun.id.in_(latest)).order_by(QARun.id)))
    if not runs:  # no batch runs (e.g. tasks outside batches): the latest whole-job runs
        runs = list(session.scalars(select(QARun).where(QARun.id.in_(
            select(func.max(QARun.id)).where(QARun.project_id.in_(ids), QARun.completed_at.is_not(None))
            .group_by(QARun.project_id)))))
    gold_answered, gold_right = session.execute(
        select(func.count(Annotation.id), func.coalesce(func.sum(cast(Annotation.gold_correct, Integer())), 0))
        .join(Task, Task.id == Annotation.task_id)
        .where(Task.project_id.in_(ids), Annotation.gold_correct.is_not(None))).one()
    accepted = (Annotation.status == AnnotationStatus.ACCEPTED) & Task.project_id.in_(ids)
    annotators, first, last = session.execute(
        select(func.count(func.distinct(Annotation.annotator_id)), func.min(Annotation.created_at),
               func.max(Annotation.created_at)).join(Task, Task.id == Annotation.task_id).where(accepted)).one()
    versions = sorted(session.scalars(select(func.distinct(Annotation.guidelines_version))
                                      .join(Task, Task.id == Annotation.task_id).where(accepted)))
    batches = session.scalar(select(func.count(Batch.id)).where(Batch.project_id.in_(ids))) or 0
    return {"agreement": _weighted(runs), "methods": sorted({r.method for r in runs}),
            "gold": {"answered": int(gold_answered),
                     "accuracy": round(int(gold_right) / int(gold_answered), 6) if gold_answered else None},
            "annotators": int(annotators), "guideline_versions": versions, "batches": int(batches),
            "work_from": first.date().isoformat() if first else None,
            "work_to": last.date().isoformat() if last else None}


def _weighted(runs: list[QARun]) -> dict[str, Any]:
    """Run figures averaged with each run's item count as its weight."""
    def mean(values: list[tuple[float | None, int]]) -> float | None:
        known = [(v, w) for v, w in values if v is not None and w]
        total = sum(w for _, w in known)
        return round(sum(v * w for v, w in known) / total, 6) if total else None

    labels = sorted({label for r in runs for label in r.metrics.get("per_label", {})})
    return {"percent_agreement": mean([(r.percent_agreement, r.n_tasks) for r in runs]),
            "krippendorff_alpha": mean([(r.metrics.get("krippendorff_alpha"), r.n_tasks) for r in runs]),
            "per_label": {label: mean([(r.metrics.get("per_label", {}).get(label), r.n_tasks) for r in runs])
                          for label in labels},
            "runs": len(runs)}


def build_card(name: str, projects: list[Project], task_type: str, label_set: list[str],
               stats: CardStats, figures: dict[str, Any], options: dict[str, Any], license: str,
               description: str) -> dict[str, Any]:
    """The machine-readable card of a version. Its version number is not in it: the number is a
    name given afterwards, and the files of two versions built from the same inputs are identical."""
    return {
        "name": name, "description": description, "license": license,
        "domain": sorted({p.domain for p in projects}), "task_type": task_type,
        "labels": label_set, "label_distribution": dict(sorted(stats.labels.items())),
        "items": stats.items, "splits": {s: stats.splits.get(s, 0) for s in ("train", "validation", "test")},
        "annotators": figures["annotators"],
        "overlap": {"configured": sorted({p.overlap for p in projects}),
                    "used": {str(k): v for k, v in sorted(stats.votes.items())}},
        "agreement": figures["agreement"], "aggregation": figures["methods"],
        "reviewed_items": stats.reviewed,
        "confidence_histogram": {"bins": [round(i / BINS, 1) for i in range(BINS + 1)], "counts": stats.histogram},
        "gold": figures["gold"], "guideline_versions": figures["guideline_versions"],
        "provenance": {"jobs": [{"id": p.id, "title": p.title} for p in projects], "batches": figures["batches"],
                       "work_from": figures["work_from"], "work_to": figures["work_to"]},
        "build": {key: options[key] for key in sorted(options)},
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The card for people: the same facts as the JSON, as a README."""
    agreement = card["agreement"]
    lines = [f"# {card['name']}", "", card["description"] or "", "",
             "## 数据概况 / Overview", "",
             f"- 领域 / Domain: {', '.join(card['domain'])}", f"- 任务类型 / Task type: {card['task_type']}",
             f"- 条目 / Items: {card['items']} (train {card['splits']['train']}, validation "
             f"{card['splits']['validation']}, test {card['splits']['test']})",
             f"- 标注员 / Annotators: {card['annotators']}",
             f"- 每条标注人数 / Annotators per item: {_pairs(card['overlap']['used'])}",
             f"- 许可 / License: {card['license'] or '—'}", "",
             "## 质量 / Quality", "",
             f"- 合成方法 / Aggregation: {', '.join(card['aggregation']) or '—'}; reviewed by experts: {card['reviewed_items']}",
             f"- 百分比一致 / Percent agreement: {_fmt(agreement['percent_agreement'])}",
             f"- Krippendorff α: {_fmt(agreement['krippendorff_alpha'])}",
             f"- 金标准确率 / Gold accuracy: {_fmt(card['gold']['accuracy'])} over {card['gold']['answered']} answers",
             f"- 置信度分布 / Confidence histogram (0–1, 10 bins): {card['confidence_histogram']['counts']}", "",
             "| 标签 / Label | 条目 / Items | 一致性 / Agreement |", "|---|---:|---:|"]
    for label in card["labels"]:
        lines.append(f"| {_cell(label)} | {card['label_distribution'].get(label, 0)} | "
                     f"{_fmt(agreement['per_label'].get(label))} |")
    provenance = card["provenance"]
    lines += ["", "## 来源 / Provenance", "",
              *[f"- 任务 / Job #{job['id']}: {job['title']}" for job in provenance["jobs"]],
              f"- 批次 / Batches: {provenance['batches']}; 标注时间 / Work: {provenance['work_from']} – {provenance['work_to']}",
              f"- 标注规范版本 / Guideline versions: {', '.join(map(str, card['guideline_versions'])) or '—'}", ""]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _pairs(used: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v} items" for k, v in used.items()) or "—"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
