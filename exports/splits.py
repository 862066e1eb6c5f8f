"""Train / validation / test splits: seeded, stratified by label, decided one item at a time.

Items arrive in a seeded pseudo-random order (`shuffle_key` in SQL for the database, `shuffle_keys`
the same numbers over arrays, for PostgreSQL's fast path in `exports.shuffle`); within each
label the next item goes to the split furthest behind its share, so every label's items are split
in the requested ratios (each split within one item of its exact share at every point) while only
a few counters per label are held, whatever the dataset's size. The same seed and items give the
same splits, so a rebuild writes the same bytes.

A label's choices mostly repeat with a short period (8, 1, 1 in every 10 items for 80/10/10), so
`assign_codes` guesses that they go on repeating and checks the guess in bulk with numpy, keeping
it up to its first wrong choice: for the usual shares about 0.1 s per million items instead of
0.4 s one item at a time, and about as long as that where the choices show no short period.
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


_PERIOD_MAX = 32  # the longest repeat of choices looked for
_GUESS = 8192  # choices guessed and checked at once
_NO_CHOICES = np.zeros(0, np.int8)
# Row p - 1 of _EARLIER: where, in 2 * _PERIOD_MAX choices, the choices p before the last _PERIOD_MAX are.
_EARLIER = np.arange(_PERIOD_MAX)[None, :] + (_PERIOD_MAX - np.arange(1, _PERIOD_MAX + 1))[:, None]


def _period(recent: np.ndarray) -> int | None:
    """The shortest period (up to _PERIOD_MAX) with which `recent`'s last _PERIOD_MAX choices
    repeat the ones before them; None without 2 * _PERIOD_MAX choices, or without such a period."""
    if len(recent) < 2 * _PERIOD_MAX:
        return None
    window = recent[-2 * _PERIOD_MAX:]
    repeats = (window[_EARLIER] == window[_PERIOD_MAX:]).all(axis=1)  # row p - 1: period p
    return int(np.argmax(repeats)) + 1 if repeats.any() else None


class StratifiedSplitter:
    def __init__(self, ratios: tuple[float, float, float], seed: int):
        self.ratios, self.seed = ratios, seed
        self._counts: dict[Any, list[int]] = {}
        self._phase: dict[Any, list[float]] = {}
        self._recent: dict[Any, np.ndarray] = {}  # each label's last choices (`_run`)
        self._lengths: dict[Any, tuple[int, int]] = {}  # and how many to choose one by one, or to guess, next

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
        run at a time (`_run`)."""
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

    def _run(self, label: Any, count: int) -> np.ndarray:
        """The next `count` choices for `label`, with `assign`'s arithmetic, and counted. A label's
        choices mostly repeat with a short period (8, 1, 1 in every 10 for 80/10/10): the repeat
        is guessed and checked in bulk, and kept up to its first wrong choice (`_checked`); where
        no period shows, a stretch is chosen one item at a time (`_one_by_one`)."""
        recent = self._recent.get(label, _NO_CHOICES)
        stretch, guessed = self._lengths.get(label, (_PERIOD_MAX, _PERIOD_MAX))
        found, done = [], 0
        while done < count:
            period = _period(recent)
            guess = min(count - done, guessed)
            part = _NO_CHOICES if period is None else self._checked(label, np.resize(recent[-period:], guess))
            # A whole guess right: guess longer next time. A wrong one: shorter, and a stretch item
            # by item (longer after each miss in a row), so choices without a period cost little more.
            guessed = min(2 * guessed, _GUESS) if len(part) == guess else max(guessed // 2, _PERIOD_MAX)
            if len(part) < _PERIOD_MAX:
                part = np.concatenate([part, self._one_by_one(label, min(count - done - len(part), stretch))])
                stretch = min(2 * stretch, _GUESS)
            else:
                stretch = _PERIOD_MAX
            found.append(part.astype(np.int8))
            done += len(part)
            recent = np.concatenate([recent, found[-1]])[-2 * _PERIOD_MAX:]
        self._recent[label], self._lengths[label] = recent, (stretch, guessed)
        return np.concatenate(found) if found else _NO_CHOICES

    def _checked(self, label: Any, guess: np.ndarray) -> np.ndarray:
        """`guess`'s choices up to where `assign`'s arithmetic first differs, with the right choice
        there (the counts before it are right), and counted. numpy computes the same float sums
        as `_one_by_one`, one IEEE operation at a time, so the choices are the same."""
        counts, (r0, r1, r2), (p0, p1, p2) = self._counts[label], self.ratios, self._phase[label]
        chosen = [guess == split for split in range(3)]
        before = [np.cumsum(is_chosen) - is_chosen + counts[split] for split, is_chosen in enumerate(chosen)]
        total = np.arange(sum(counts) + 1, sum(counts) + 1 + len(guess)).astype(np.float64)
        first, second, third = r0 * total + p0 - before[0], r1 * total + p1 - before[1], r2 * total + p2 - before[2]
        right = np.where((first >= second) & (first >= third), 0, np.where(second >= third, 1, 2))
        wrong = np.flatnonzero(right != guess)
        kept = right[:wrong[0] + 1 if len(wrong) else len(guess)]
        counts[:] = [count + int(np.count_nonzero(kept == split)) for split, count in enumerate(counts)]
        return kept

    def _one_by_one(self, label: Any, count: int) -> list[int]:
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
