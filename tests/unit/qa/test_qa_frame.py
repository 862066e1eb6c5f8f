"""Encoding of the annotation frame: codes must be pandas' factorize codes, whatever the column.

Integer columns of a modest value range are coded through a lookup table over that range, which
saves the memory of a hash table; everything else goes through `pd.factorize`. Both must give
the same codes and values: tasks and annotators in order of first appearance, labels ascending.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qa import _frame
from qa._frame import encode, pair_codes

RNG = np.random.default_rng(7)
# Columns coded through the lookup table: a value range of at most a few slots per row.
LOOKUP = {
    "dense ints, first appearance shuffled": RNG.permutation(np.repeat(np.arange(300), 4)),
    "negative ints": RNG.integers(-50, 50, size=1000),
    "int8 more than 127 apart": np.tile(np.array([100, -100, 28, 27], dtype=np.int8), 64),
    "uint64 across 2**63": np.array([2**63 + 3, 2**63 - 2, 2**63 - 2, 2**63], dtype=np.uint64),
    "uint64 at its maximum": np.array([2**64 - 1, 2**64 - 3, 2**64 - 1], dtype=np.uint64),
    "int64 at its minimum": np.array([-(2**63) + 2, -(2**63), -(2**63) + 2]),
}
HASHED = {
    "sparse ints": np.array([10**12, 3, -(10**9), 3, 10**12]),
    "floats": np.array([2.5, -1.0, 2.5, 0.0]),
    "strings": np.array(["b", "a", "c", "a"], dtype=object),
}
CASES = [pytest.param(values, False, id=name) for name, values in LOOKUP.items()]
CASES += [pytest.param(values, True, id=f"{name} (hashed)") for name, values in HASHED.items()]


def _frame_with(values: np.ndarray) -> pd.DataFrame:
    # Each row its own task, so any column of values is free of duplicate (task, annotator) pairs.
    return pd.DataFrame({"task": np.arange(len(values)), "annotator": values, "label": values})


def _no_hashing(*args: object, **kwargs: object) -> None:
    raise AssertionError("pd.factorize called for an integer column of a small range")


@pytest.mark.parametrize(("values", "hashed"), CASES)
def test_codes_are_those_of_factorize(values: np.ndarray, hashed: bool,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {sort: pd.factorize(pd.Series(values), sort=sort) for sort in (False, True)}
    if not hashed:
        monkeypatch.setattr(_frame.pd, "factorize", _no_hashing)
    enc = encode(_frame_with(values))
    for codes, uniques, sort in [(enc.annotator, enc.annotators, False), (enc.label, enc.labels, True)]:
        expected_codes, expected_uniques = expected[sort]
        np.testing.assert_array_equal(codes, expected_codes)
        assert codes.dtype == np.int32
        assert uniques.equals(expected_uniques) and uniques.dtype == expected_uniques.dtype


@pytest.mark.parametrize("column", [
    pd.array([3, 1, 3], dtype="Int64"),  # nullable integers may hold NA: hashed, NA checked
    pd.Categorical([3, 1, 3], categories=[3, 1]),  # categories set the label order
    np.array([True, False, True]),
])
def test_other_integer_like_columns_are_hashed(column: object) -> None:
    enc = encode(pd.DataFrame({"task": [1, 1, 2], "annotator": ["a", "b", "a"], "label": column}))
    expected_codes, expected_uniques = pd.factorize(pd.Series(column), sort=True)
    np.testing.assert_array_equal(enc.label, expected_codes)
    assert enc.labels.equals(pd.Index(expected_uniques))


def test_nullable_integer_missing_values_are_still_rejected() -> None:
    label = pd.array([1, None], dtype="Int64")
    frame = pd.DataFrame({"task": [1, 1], "annotator": ["a", "b"], "label": label})
    with pytest.raises(ValueError, match="column 'label' has 1 missing value"):
        encode(frame)


def test_pair_codes_do_not_overflow_narrow_codes() -> None:
    big = np.array([70_000], dtype=np.int32)
    assert pair_codes(big, big, 70_000).tolist() == [70_000 * 70_000 + 70_000]


def test_repeats_are_found_when_tasks_times_annotators_exceed_int32() -> None:
    # 100,000 tasks x 100,000 annotators: pair codes past 2**31, which int32 arithmetic would wrap.
    ids = np.arange(100_000)
    frame = pd.DataFrame({"task": ids, "annotator": ids, "label": ids % 3})
    encode(frame)  # no repeat: accepted
    repeated = pd.concat([frame, frame.iloc[[-1]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"1 duplicate .* task=99999, annotator=99999"):
        encode(repeated)
