"""Agreement and consensus of named-entity spans: exact-match span F1 and token-level majority.

Input contract: a long-format DataFrame with columns ``task``, ``annotator``, ``label`` (the
entity type), ``start`` and ``end`` (character offsets into the task's text, end exclusive,
counted in Unicode code points as Python slices them), one row per span; an optional ``text``
column holds the covered text and is checked against the task text where that is given. Extra
columns are ignored. An annotator who read a task and marked nothing has no row, so callers list
those (task, annotator) pairs in ``empty`` (columns ``task`` and ``annotator``); without it, an
annotator with no span on a task is taken not to have seen the task.

Two spans match only when start, end and label are all equal. Pairwise span F1 equals positive
specific agreement (Hripcsak & Rothschild 2005), so it is symmetric in the two annotators.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qa._checks import empty_pairs, reject, require_columns, weights_of

COLUMNS: tuple[str, ...] = ("task", "annotator", "label", "start", "end")
_EPS = 1e-9  # slack for comparing weight shares that are sums of floats
_CJK = "\u2e80-\u2fdf\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# One CJK ideograph; else a run of letters and digits (no underscore, no ideograph); else any
# other visible character (punctuation) on its own. Whitespace is no token.
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|\S")
_Drawers = dict[Hashable, np.ndarray]  # annotator -> row positions of its spans on one task


@dataclass(frozen=True)
class SpanAgreement:
    """Pairwise exact-match span agreement.

    `f1`: mean over tasks of the mean span F1 of the task's annotator pairs, where a pair's F1 is
    2 x matching spans / (spans of one + spans of the other), and 1.0 when neither marked a span
    (every task weighs the same, as in `qa.metrics.percent_agreement`). `per_label`: label -> F1
    pooled over all pairs (NaN for a label seen only on tasks with one annotator). `per_task`:
    task -> mean pair F1, NaN on tasks with one annotator.
    """

    f1: float
    per_label: pd.Series
    per_task: pd.Series


@dataclass(frozen=True)
class SpanConsensus:
    """Token-level majority spans and how far the annotators back them.

    `spans`: columns task, label, start, end, text and confidence (the mean, over the span's
    tokens, of the weight share that gave the token this label). `confidence`: task -> mean, over
    the tokens anybody labelled, of the weight share agreeing with the token's consensus label
    (O included); 1.0 on a task where nobody labelled anything.
    """

    spans: pd.DataFrame
    confidence: pd.Series


def tokenize(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the tokens of `text`: each CJK ideograph, each run of other letters
    and digits, each other non-space character."""
    return [match.span() for match in _TOKEN.finditer(text)]


def span_f1(a: Iterable[tuple[int, int, Hashable]] | pd.DataFrame,
            b: Iterable[tuple[int, int, Hashable]] | pd.DataFrame) -> float:
    """Exact-match F1 of two span sets: 2 x matches / (len(a) + len(b)); 1.0 when both are empty.

    Each set is (start, end, label) triples or a DataFrame with columns label, start and end.
    A span given twice in one set counts twice (multiset matching).
    """
    return _pair_f1(_span_set(a, "a"), _span_set(b, "b"))


def span_agreement(df: pd.DataFrame, *, empty: pd.DataFrame | None = None) -> SpanAgreement:
    """Pairwise exact span F1 over annotator pairs within tasks: overall, per label and per task."""
    frame, tasks = _load(df, empty)
    keys = list(zip(frame["start"], frame["end"], frame["label"]))
    matched, drawn, per_task = Counter(), Counter(), []
    for drawers in tasks.values():
        sets = [Counter(keys[row] for row in rows) for rows in drawers.values()]
        scores = []
        for first, second in itertools.combinations(sets, 2):
            matched.update(_label_totals(first & second))
            drawn.update(_label_totals(first) + _label_totals(second))
            scores.append(_pair_f1(first, second))
        per_task.append(np.mean(scores) if scores else np.nan)
    task_f1 = pd.Series(per_task, index=pd.Index(list(tasks), name="task"), name="f1")
    if task_f1.isna().all():
        raise ValueError("no task has two or more annotators, so there is no pair of annotations "
                         "to compare; agreement needs overlapping annotators")
    labels = pd.Index(frame["label"].unique()).sort_values()
    per_label = [2.0 * matched[label] / drawn[label] if drawn[label] else np.nan for label in labels]
    return SpanAgreement(float(task_f1.mean()), pd.Series(per_label, index=labels.rename("label"), name="f1"),
                         task_f1)


def token_consensus(df: pd.DataFrame, texts: pd.Series, weights: pd.Series | None = None, *,
                    empty: pd.DataFrame | None = None) -> SpanConsensus:
    """Weighted token-level majority of the annotators' spans, merged back into spans.

    Each task's text (`texts`: task -> text, needed for every task with spans) is cut into
    tokens (see `tokenize`); an annotator votes a label for every token its span of that label
    touches. A token takes the label whose vote holds more than half the weight of the task's
    annotators (those in `empty` included), else O; consecutive tokens of one label become one
    span (so two adjacent entities of one type merge). `weights`: annotator -> positive skill,
    default 1.
    """
    frame, tasks = _load(df, empty)
    text_of = _texts(texts, frame)
    skill = weights_of(weights, dict.fromkeys(name for drawers in tasks.values() for name in drawers))
    labels = pd.Index(frame["label"].unique()).sort_values()
    votes = _Votes(frame["start"].to_numpy(), frame["end"].to_numpy(),
                   labels.get_indexer(frame["label"]), len(labels))
    rows, backing = [], []
    for task, drawers in tasks.items():
        text = text_of.get(task, "")
        spans, confidence = votes.decide(text, drawers, skill)
        rows += [(task, labels[code], start, end, text[start:end], share) for code, start, end, share in spans]
        backing.append(confidence)
    spans = pd.DataFrame(rows, columns=["task", "label", "start", "end", "text", "confidence"])
    return SpanConsensus(spans, pd.Series(backing, index=pd.Index(list(tasks), name="task"), name="confidence"))


@dataclass(frozen=True)
class _Votes:
    start: np.ndarray  # per row
    end: np.ndarray
    code: np.ndarray  # label code per row
    n_labels: int

    def decide(self, text: str, drawers: _Drawers,
               skill: dict[Hashable, float]) -> tuple[list[tuple[int, int, int, float]], float]:
        """(label code, start, end, confidence) of the consensus spans of one task, and its confidence."""
        bounds = np.array(tokenize(text), dtype=np.int64).reshape(-1, 2)
        share, touched = np.zeros((len(bounds), self.n_labels)), np.zeros(len(bounds))
        total = sum(skill[name] for name in drawers)
        for name, rows in drawers.items():
            cover = np.zeros_like(share, dtype=bool)
            first = np.searchsorted(bounds[:, 1], self.start[rows], side="right")
            last = np.searchsorted(bounds[:, 0], self.end[rows], side="left")
            for low, high, code in zip(first, last, self.code[rows]):
                cover[low:high, code] = True
            share += cover * (skill[name] / total)
            touched += cover.any(axis=1) * (skill[name] / total)
        if not touched.any():
            return [], 1.0
        top, winner = share.max(axis=1), share.argmax(axis=1)  # argmax: ties go to the smallest label
        decided = top > 0.5 + _EPS
        agreement = np.where(decided, top, 1.0 - touched)[touched > 0]
        return _runs(np.where(decided, winner, -1), bounds, top), float(agreement.mean())


def _runs(tag: np.ndarray, bounds: np.ndarray, top: np.ndarray) -> list[tuple[int, int, int, float]]:
    """Merge consecutive tokens with one label (tag >= 0) into (code, start, end, mean share)."""
    edges = np.flatnonzero(np.diff(tag) != 0) + 1
    runs = zip(np.r_[0, edges], np.r_[edges, tag.size])
    return [(int(tag[low]), int(bounds[low, 0]), int(bounds[high - 1, 1]), float(top[low:high].mean()))
            for low, high in runs if tag[low] >= 0]


def _pair_f1(first: Counter, second: Counter) -> float:
    spans = sum(first.values()) + sum(second.values())
    return 2.0 * sum((first & second).values()) / spans if spans else 1.0


def _label_totals(spans: Counter) -> Counter:
    totals: Counter = Counter()
    for (_, _, label), count in spans.items():
        totals[label] += count
    return totals


def _span_set(spans: Iterable[tuple[int, int, Hashable]] | pd.DataFrame, name: str) -> Counter:
    if isinstance(spans, pd.DataFrame):
        frame = _checked(spans, COLUMNS[2:], name)
        return Counter(zip(frame["start"], frame["end"], frame["label"]))
    triples = [tuple(span) for span in spans]
    if any(len(span) != 3 for span in triples):
        raise ValueError(f"{name} must hold (start, end, label) triples")
    return Counter(triples)


def _load(df: pd.DataFrame, empty: pd.DataFrame | None) -> tuple[pd.DataFrame, dict[Hashable, _Drawers]]:
    frame = _checked(df, COLUMNS, "annotation frame", allow_no_rows=empty is not None)
    tasks: dict[Hashable, _Drawers] = {}
    for (task, annotator), rows in frame.groupby(["task", "annotator"], sort=False).indices.items():
        tasks.setdefault(task, {})[annotator] = rows
    for task, annotator in empty_pairs(empty, tasks, "marked spans"):
        tasks.setdefault(task, {})[annotator] = np.empty(0, dtype=np.intp)
    if not tasks:
        raise ValueError("no spans and no `empty` (task, annotator) pairs: nothing to compare")
    return frame, tasks


def _checked(df: pd.DataFrame, columns: tuple[str, ...], what: str, *,
             allow_no_rows: bool = False) -> pd.DataFrame:
    """`df` with integer offsets (and `text` if present); ValueError naming column and first bad row."""
    require_columns(df, columns, what, ("span", "spans"), "marked nothing", allow_no_rows)
    for name in columns[:-2]:
        reject(df[name].isna(), df[name], name, "has a missing value")
    offsets = df[["start", "end"]].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    for name in ("start", "end"):
        reject(~np.isfinite(offsets[name]), df[name], name, "is missing, not a number or infinite")
        reject(offsets[name] % 1 != 0, df[name], name, "is not a whole number of characters")
    reject(offsets["start"] < 0, df["start"], "start", "is negative")
    reject(offsets["end"] <= offsets["start"], df["end"], "end", "is not after 'start'")
    kept = [name for name in (*columns[:-2], "text") if name in df.columns]
    return df[kept].assign(**offsets.astype(np.int64))


def _texts(texts: pd.Series, frame: pd.DataFrame) -> dict[Hashable, str]:
    """Task -> text for the tasks with spans, after checking every span lies inside its text."""
    if not isinstance(texts, pd.Series):
        raise TypeError(f"texts must be a pandas Series (task -> text), got {type(texts).__name__}")
    if texts.index.has_duplicates:
        raise ValueError("texts must give each task one text; its index has duplicates")
    needed = frame["task"].drop_duplicates().tolist()
    absent = [task for task in needed if task not in texts.index]
    if absent:
        raise ValueError(f"texts has no text for task(s) {absent[:5]}")
    text_of = {task: texts[task] for task in needed}
    odd = [task for task, text in text_of.items() if not isinstance(text, str)]
    if odd:
        raise ValueError(f"texts must be strings; task {odd[0]!r} has {text_of[odd[0]]!r}")
    length = frame["task"].map(lambda task: len(text_of[task]))
    reject(frame["end"] > length, frame["end"], "end", "is past the end of its task's text")
    if "text" in frame.columns:
        covered = [text_of[task][start:end] for task, start, end in zip(frame["task"], frame["start"], frame["end"])]
        reject(frame["text"].notna() & (frame["text"] != covered), frame["text"], "text",
                "differs from the task text at [start, end) (offsets must count code points)")
    return text_of
