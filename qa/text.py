"""Agreement and consensus of free-text answers (question answering, instructions, transcripts).

Input contract: the long-format frame of `qa._frame` (columns ``task``, ``annotator``, ``label``;
one row per answer, one answer per annotator and task), where ``label`` holds the answer text as
a string. Answers are compared after `normalize`, so "北京。" and "北京" or "Paris" and "paris!"
are the same answer; similarity is 1 - Levenshtein distance / the longer length, in code points,
so one Chinese character weighs as much as one Latin letter.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qa._checks import weights_of
from qa._frame import Encoded, encode
from qa.aggregate import Aggregation


@dataclass(frozen=True)
class TextAgreement:
    """Pairwise agreement of free-text answers.

    `exact`: share of annotator pairs whose normalised answers are identical; `similarity`: mean
    pairwise similarity. Both are means over tasks of the task's pair mean (every task weighs the
    same, as in `qa.metrics.percent_agreement`). `per_task`: task -> mean pairwise similarity,
    NaN on tasks answered once.
    """

    exact: float
    similarity: float
    per_task: pd.Series


def normalize(text: str) -> str:
    """NFKC, casefold, drop punctuation (Unicode category P*, e.g. ，。！？、；：“”‘’（）《》), collapse whitespace.

    Punctuation is dropped, not replaced by a space, so "你好，世界" becomes "你好世界".
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(char for char in folded if not unicodedata.category(char).startswith("P"))
    return " ".join(kept.split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions, each costing 1) between two strings.

    Row-by-row dynamic programme, vectorised along the longer string: the one dependency within
    a row (insertions) is a running minimum, so each row costs a few numpy calls.
    """
    prefix = _shared_prefix(a, b)
    a, b = a[prefix:], b[prefix:]
    suffix = _shared_prefix(a[::-1], b[::-1])
    a, b = a[: len(a) - suffix], b[: len(b) - suffix]
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes = np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(a) + 1)
    row = offsets.copy()
    for depth, char in enumerate(b, start=1):
        step = np.empty_like(row)
        step[0] = depth
        np.minimum(row[:-1] + (codes != ord(char)), row[1:] + 1, out=step[1:])
        # row[j] = min over k <= j of step[k] + (j - k): the cheapest run of insertions.
        row = np.minimum.accumulate(step - offsets) + offsets
    return int(row[-1])


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length, on normalised text; 1.0 for two empty answers."""
    first, second = normalize(a), normalize(b)
    longest = max(len(first), len(second))
    return 1.0 - levenshtein(first, second) / longest if longest else 1.0


def text_agreement(df: pd.DataFrame) -> TextAgreement:
    """Normalised exact-match rate and mean similarity over annotator pairs within tasks."""
    enc, answers = _answers(df)
    exact, similar = [], []
    for rows in _rows_by_task(enc.task):
        normal, matrix = _similarities([answers[row] for row in rows])
        upper = np.triu_indices(len(rows), k=1)
        same = np.equal.outer(normal, normal)[upper]
        exact.append(same.mean() if same.size else np.nan)
        similar.append(matrix[upper].mean() if same.size else np.nan)
    per_task = pd.Series(similar, index=enc.tasks.rename("task"), name="similarity")
    if per_task.isna().all():
        raise ValueError("no task has answers from two or more annotators, so there is no pair of "
                         "answers to compare; agreement needs overlapping annotators")
    return TextAgreement(float(np.nanmean(exact)), float(per_task.mean()), per_task)


def medoid_answers(df: pd.DataFrame, weights: pd.Series | None = None) -> Aggregation:
    """Per task, the answer most similar to the others: the medoid under `similarity`.

    The winner maximises the sum of its similarities to the other answers, each weighted by the
    other annotator's weight (`weights`: annotator -> positive skill, default 1); ties go to the
    smallest text, so row order never matters. `labels` holds the winner's original text and
    `confidence` its weighted mean similarity to the others (1.0 on a task answered once).
    """
    enc, answers = _answers(df)
    skill = weights_of(weights, dict.fromkeys(enc.annotators))
    weight_of = np.array([skill[name] for name in enc.annotators])[enc.annotator]
    labels, confidence = [], []
    for rows in _rows_by_task(enc.task):
        texts = [answers[row] for row in rows]
        _, matrix = _similarities(texts)
        others = np.broadcast_to(weight_of[rows], matrix.shape) * (1.0 - np.eye(len(rows)))
        score = (matrix * others).sum(axis=1)
        best = min(np.flatnonzero(score >= score.max() - 1e-12), key=lambda row: texts[row])
        labels.append(texts[best])
        confidence.append(score[best] / others[best].sum() if len(rows) > 1 else 1.0)
    index = enc.tasks.rename("task")
    return Aggregation(pd.Series(labels, index=index, name="label"),
                       pd.Series(confidence, index=index, name="confidence"))


def _answers(df: pd.DataFrame) -> tuple[Encoded, list[str]]:
    """The encoded frame (see `qa._frame.encode`) and the answers as a list of strings, by row."""
    enc = encode(df)
    answers = df["label"].tolist()
    odd = [position for position, answer in enumerate(answers) if not isinstance(answer, str)]
    if odd:
        raise ValueError(f"column 'label' must hold answer text; {len(odd)} row(s) do not, first at row "
                         f"{df.index[odd[0]]!r} (value {answers[odd[0]]!r})")
    return enc, answers


def _rows_by_task(task: np.ndarray) -> list[np.ndarray]:
    """Row positions of each task, tasks in code order (first appearance)."""
    order = np.argsort(task, kind="stable")
    return np.split(order, np.cumsum(np.bincount(task))[:-1])


def _similarities(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised texts and their pairwise similarity matrix, each distinct pair computed once."""
    normal = np.array([normalize(text) for text in texts], dtype=object)
    distinct, inverse = np.unique(normal, return_inverse=True)
    table = np.eye(len(distinct))
    for i, j in itertools.combinations(range(len(distinct)), 2):
        longest = max(len(distinct[i]), len(distinct[j]))
        table[i, j] = table[j, i] = 1.0 - levenshtein(distinct[i], distinct[j]) / longest
    return normal, table[np.ix_(inverse, inverse)]


def _shared_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (trimmed first: it never costs an edit)."""
    for size, (left, right) in enumerate(zip(a, b)):
        if left != right:
            return size
    return min(len(a), len(b))
