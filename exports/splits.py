"""Train / validation / test splits: seeded, stratified by label, decided one item at a time.

Items arrive in a seeded pseudo-random order (`shuffle_key` in SQL for the database, `shuffle_keys`
the same numbers over arrays, for PostgreSQL's fast path in `exports.shuffle`); within each
label the next item goes to the split furthest behind its share, so every label's items are split
in the requested ratios (each split within one item of its exact share at every point) while only
a few counters per label are held, whatever the dataset's size. The same seed and items give the
same splits, so a rebuild writes the same bytes.
"""
from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pyarrow as pa
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


def shuffle_keys(task_ids: np.ndarray, seed: int) -> np.ndarray:
    """`shuffle_key` of each id (ids below 2**32), as uint64: the same numbers the database computes."""
    # id * multiplier + seed stays below 2**64, so unsigned 64-bit arithmetic is exact here.
    return (task_ids.astype(np.uint64) * np.uint64(_MULTIPLIER) + np.uint64(seed % _MODULUS)) % np.uint64(_MODULUS)


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
        """The splits of the next items with these labels (texts or None), in order: what `assign`
        of each gives."""
        return [SPLITS[code] for code in self.assign_codes(pa.array(labels, pa.string())).tolist()]

    def assign_codes(self, labels: pa.Array) -> np.ndarray:
        """`assign_all` over an Arrow column of labels, as positions in SPLITS (int8): one label's
        run at a time, its counters in locals (half the cost per item)."""
        encoded = labels if pa.types.is_dictionary(labels.type) else labels.dictionary_encode()
        words = [*encoded.dictionary.to_pylist(), None]  # a null index reads the None at the end
        indices = encoded.indices.fill_null(len(words) - 1).to_numpy()
        order = np.argsort(indices, kind="stable")
        bounds = np.searchsorted(indices[order], np.arange(len(words) + 1))
        found = np.empty(len(indices), np.int8)
        for index in np.flatnonzero(np.diff(bounds)).tolist():
            label, rows = words[index], order[bounds[index]:bounds[index + 1]]
            if label not in self._counts:
                found[rows[0]], rows = SPLITS.index(self.assign(label)), rows[1:]  # sets up its counters
            found[rows] = self._run(label, len(rows))
        return found

    def _run(self, label: Any, count: int) -> list[int]:
        """The next `count` choices for `label`, with `assign`'s arithmetic, and counted."""
        counts, phase = self._counts[label], self._phase[label]
        # The sums are `assign`'s, float for float. A share of 0 (-inf there) needs no test here:
        # its split's sum stays 0 (its phase is 0 and it is never chosen), while the others' add up
        # to 1 + their phases, so one of them is always above 0 and wins.
        (r0, r1, r2), (p0, p1, p2) = self.ratios, phase
        c0, c1, c2 = counts
        start, chosen = c0 + c1 + c2 + 1, []
        choose = chosen.append
        for total in range(start, start + count):
            first = r0 * total + p0 - c0
            second = r1 * total + p1 - c1
            third = r2 * total + p2 - c2
            if first >= second and first >= third:
                c0 += 1
                choose(0)
            elif second >= third:
                c1 += 1
                choose(1)
            else:
                c2 += 1
                choose(2)
        counts[:] = [c0, c1, c2]
        return chosen
