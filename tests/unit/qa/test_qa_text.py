"""`qa.text`: normalisation, Levenshtein similarity, pairwise text agreement and medoid answers.

Levenshtein is cross-checked against the textbook recursive definition on random short strings
(Chinese characters included); the rest are hand-computed worked examples.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qa import text

ALPHABET = list("ab北京") + [" "]


def _frame(rows: list[tuple[Any, Any, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "annotator", "label"])


@cache
def _brute_levenshtein(a: str, b: str) -> int:
    """The recursive definition, with no shortcut: delete, insert or (mis)match the first character."""
    if not a or not b:
        return len(a) + len(b)
    return min(_brute_levenshtein(a[1:], b) + 1, _brute_levenshtein(a, b[1:]) + 1,
               _brute_levenshtein(a[1:], b[1:]) + (a[0] != b[0]))


# -- normalize, levenshtein, similarity -----------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("  Hello,   World! ", "hello world"),
    ("你好，世界！", "你好世界"),
    ("《红楼梦》“宝玉”说：‘好’（笑）、是；吗？。", "红楼梦宝玉说好笑是吗"),
    ("ＡＢＣ　１２３", "abc 123"),  # NFKC folds full-width letters, digits and the ideographic space
    ("Straße", "strasse"),  # casefold, not lower
    ("\tline\none\r\n", "line one"),
])
def test_normalize(raw: str, expected: str) -> None:
    assert text.normalize(raw) == expected


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("", "abc", 3), ("abc", "", 3), ("", "", 0),
    ("北京大学", "北京大学生", 1), ("北京市", "上海市", 2), ("abc", "abc", 0), ("ab", "ba", 2),
])
def test_levenshtein_worked_examples(a: str, b: str, distance: int) -> None:
    assert text.levenshtein(a, b) == distance
    assert text.levenshtein(b, a) == distance


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_levenshtein_matches_recursive_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(150):
        a, b = ("".join(rng.choice(ALPHABET, size=int(rng.integers(0, 8)))) for _ in range(2))
        assert text.levenshtein(a, b) == _brute_levenshtein(a, b), (a, b)


def test_similarity() -> None:
    assert text.similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert text.similarity("Beijing.", "  beijing") == 1.0  # equal once normalised
    assert text.similarity("北京。", "北京") == 1.0
    assert text.similarity("北京", "南京") == pytest.approx(0.5)
    assert text.similarity("？", "") == 1.0  # both empty once normalised
    assert text.similarity("abc", "xyz") == 0.0


# -- text_agreement -------------------------------------------------------------------------------

def _worked_example() -> pd.DataFrame:
    return _frame([(1, "a", "北京"), (1, "b", "北京。"), (1, "c", "南京"),
                   (2, "a", "kitten"), (2, "b", "sitting"), (3, "a", "only one")])


def test_text_agreement_worked_example() -> None:
    result = text.text_agreement(_worked_example())
    # Task 1 normalises to 北京, 北京, 南京: pairs a-b equal (similarity 1), a-c and b-c one
    # substitution in two characters (1/2) -> exact 1/3, similarity 2/3.
    # Task 2: kitten/sitting differ, similarity 1 - 3/7 = 4/7.  Task 3: one answer -> NaN.
    assert result.exact == pytest.approx((1 / 3 + 0) / 2)
    assert result.similarity == pytest.approx((2 / 3 + 4 / 7) / 2)  # 13/21
    np.testing.assert_allclose(result.per_task[[1, 2]], [2 / 3, 4 / 7])
    assert np.isnan(result.per_task[3])


def test_identical_answers_agree_fully() -> None:
    frame = _frame([(task, who, answer) for task, answer in enumerate(["是", "Paris", "3.14"]) for who in "abc"])
    result = text.text_agreement(frame)
    assert (result.exact, result.similarity) == (1.0, 1.0)


def test_text_agreement_needs_two_answers() -> None:
    with pytest.raises(ValueError, match="no task has answers from two or more annotators"):
        text.text_agreement(_frame([(1, "a", "x"), (2, "b", "y")]))


# -- medoid_answers -------------------------------------------------------------------------------

def test_medoid_worked_example() -> None:
    result = text.medoid_answers(_worked_example())
    # Task 1: sums of similarity to the others: 北京 1 + 1/2, 北京。 1 + 1/2, 南京 1/2 + 1/2.
    # The tie goes to the smaller text, 北京 (a prefix of 北京。); confidence 1.5 / 2.
    # Task 2: kitten and sitting tie at 4/7; kitten is smaller.  Task 3: the lone answer, 1.0.
    assert result.labels.to_dict() == {1: "北京", 2: "kitten", 3: "only one"}
    np.testing.assert_allclose(result.confidence[[1, 2, 3]], [0.75, 4 / 7, 1.0])


def test_medoid_follows_weights() -> None:
    frame = _frame([(1, "a", "北京市"), (1, "b", "北京"), (1, "c", "上海"), (1, "d", "上海市")])
    # Similarities: 北京市-北京 2/3, 上海-上海市 2/3, 北京市-上海市 1/3, every other pair 0.
    # Equal weights: 北京市 2/3 + 1/3 = 1 ties 上海市 1/3 + 2/3 = 1; 上海市 is the smaller text.
    plain = text.medoid_answers(frame)
    assert plain.labels[1] == "上海市"
    assert plain.confidence[1] == pytest.approx(1 / 3)
    # b weighs 3: 北京市 3 * 2/3 + 1/3 = 7/3 beats 上海市 1/3 + 2/3 = 1; confidence 7/3 / (3+1+1).
    weighted = text.medoid_answers(frame, pd.Series({"a": 1, "b": 3, "c": 1, "d": 1}))
    assert weighted.labels[1] == "北京市"
    assert weighted.confidence[1] == pytest.approx(7 / 15)


def test_medoid_does_not_depend_on_row_order() -> None:
    frame = _frame([(1, who, answer) for who, answer in zip("abcd", ["cat", "cart", "car", "cars"])])
    results = {text.medoid_answers(frame.iloc[order]).labels[1] for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1])}
    assert len(results) == 1


# -- validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [text.text_agreement, text.medoid_answers])
def test_bad_input(fn: Any) -> None:
    with pytest.raises(ValueError, match=r"column 'label' must hold answer text; 1 row\(s\) do not, first at row 1"):
        fn(_frame([(1, "a", "x"), (1, "b", 5)]))
    with pytest.raises(ValueError, match=r"duplicate \(task, annotator\)"):
        fn(_frame([(1, "a", "x"), (1, "a", "y")]))
    with pytest.raises(ValueError, match="column 'label' has 1 missing value"):
        fn(_frame([(1, "a", "x"), (1, "b", None)]))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        fn(_frame([(1, "a", "x")]).rename(columns={"label": "answer"}))


def test_medoid_weights_are_checked() -> None:
    frame = _frame([(1, "a", "x"), (1, "b", "y")])
    with pytest.raises(ValueError, match=r"no value for annotator\(s\) \['b'\]"):
        text.medoid_answers(frame, pd.Series({"a": 1.0}))
    with pytest.raises(ValueError, match="positive and finite; annotator 'a' has -1"):
        text.medoid_answers(frame, pd.Series({"a": -1, "b": 1}))
