"""Train / validation / test splits: seeded, stratified by label, decided one item at a time.

Items arrive in a seeded pseudo-random order (`shuffle_key`, computed by the database); within each
label the next item goes to the split furthest behind its share, so every label's items are split
in the requested ratios (each split within one item of its exact share at every point) while only
a few counters per label are held, whatever the dataset's size. The same seed and items give the
same splits, so a rebuild writes the same bytes.
"""
from __future__ import annotations

import math
import random
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, literal

from exports.formats import SPLITS

_MULTIPLIER = 2654435761  # Knuth's multiplicative hash: a permutation of ids modulo 2**32
_MODULUS = 2 ** 32


def shuffle_key(task_id: ColumnElement[Any], seed: int) -> ColumnElement[Any]:
    """An ORDER BY key giving a seeded permutation of tasks (64-bit integer arithmetic in SQL)."""
    # BIGINT throughout: PostgreSQL types a bare id and these constants INTEGER, and 2654435761
    # alone is out of INTEGER's range there (SQLite computed in 64 bits either way).
    def big(value: int) -> ColumnElement[Any]:
        return literal(value, BigInteger)
    return (cast(task_id, BigInteger) * big(_MULTIPLIER) + big(seed % _MODULUS)) % big(_MODULUS)


def check_ratios(value: Any) -> tuple[float, float, float]:
    """Split shares as (train, validation, test); ValueError unless three shares summing to 1."""
    if isinstance(value, dict):
        value = [value.get(name, 0) for name in SPLITS]
    if not isinstance(value, (list, tuple)) or len(value) != 3 \
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in value) \
            or abs(sum(value) - 1) > 1e-9:
        raise ValueError("split: three shares for train, validation and test that add up to 1, e.g. [0.8, 0.1, 0.1]")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


class StratifiedSplitter:
    def __init__(self, ratios: tuple[float, float, float], seed: int):
        self.ratios, self.seed = ratios, seed
        self._counts: dict[Any, list[int]] = {}
        self._phase: dict[Any, list[float]] = {}

    def assign(self, label: Any) -> str:
        """The split of the next item with this label."""
        counts = self._counts.get(label)
        if counts is None:
            counts = self._counts[label] = [0, 0, 0]
            # A seeded head start per split, so the seed decides which items land where.
            rng = random.Random(f"{self.seed}:{label}")
            self._phase[label] = [rng.random() * r for r in self.ratios]
        total = sum(counts) + 1
        # The split furthest behind its share (the first of equals); none for a share of 0.
        first, second, third = (r * total + p - c if r > 0 else -math.inf
                                for r, p, c in zip(self.ratios, self._phase[label], counts))
        chosen = 0 if first >= second and first >= third else 1 if second >= third else 2
        counts[chosen] += 1
        return SPLITS[chosen]

    def assign_all(self, labels: list[Any]) -> list[str]:
        """The splits of the next items with these labels, in order."""
        return list(map(self.assign, labels))
