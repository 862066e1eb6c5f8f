"""`qa.spans`: exact span F1, pairwise span agreement and token-level weighted consensus.

Worked examples use Chinese text, where every character is a token, and are small enough to
check by hand (arithmetic in the comments). Span F1 is cross-checked against seqeval's entity
F1 on random BIO sequences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qa import spans

SEEDS = [0, 1, 2, 3]
TEXT = "张三在北京工作"  # 张三 (0, 2) is a person, 北京 (3, 5) a place


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(spans.COLUMNS))


def _empty(*pairs: tuple[Any, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(pairs), columns=["task", "annotator"])


# -- tokenize and span_f1 -------------------------------------------------------------------------

def test_tokenize_mixed_chinese_latin_digits_and_punctuation() -> None:
    text = "我爱Python 3.11！"
    assert [text[start:end] for start, end in spans.tokenize(text)] == ["我", "爱", "Python", "3", ".", "11", "！"]
    assert spans.tokenize("北京 欢迎你") == [(0, 1), (1, 2), (3, 4), (4, 5), (5, 6)]  # whitespace is no token
    assert spans.tokenize("  ") == []


def test_span_f1_published_identity_example(case: Callable[[str], dict[str, Any]]) -> None:
    example = case("span_pairwise_f1_identity")["example"]
    first, second = example["annotator_A"], example["annotator_B"]
    assert spans.span_f1(first, second) == pytest.approx(example["expected_f1"])
    assert spans.span_f1(second, first) == pytest.approx(example["expected_f1"])


def test_span_f1_worked_example() -> None:
    # Only PER (0, 5) is in both; ORG/LOC on (10, 15) differ in type. 2 * 1 / (3 + 3) = 1/3.
    a = [(0, 5, "PER"), (10, 15, "ORG"), (20, 25, "LOC")]
    b = [(0, 5, "PER"), (10, 15, "LOC"), (30, 35, "LOC")]
    assert spans.span_f1(a, b) == pytest.approx(1 / 3)
    as_frame = pd.DataFrame(b, columns=["start", "end", "label"])
    assert spans.span_f1(a, as_frame) == pytest.approx(1 / 3)
    assert spans.span_f1(a, a) == 1.0
    assert spans.span_f1([], []) == 1.0  # both found nothing: full agreement
    assert spans.span_f1(a, []) == 0.0


def _bio(entities: list[tuple[int, int, str]], length: int) -> list[str]:
    tags = ["O"] * length
    for start, end, label in entities:
        tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
    return tags


def _random_entities(rng: np.random.Generator, length: int) -> list[tuple[int, int, str]]:
    entities, position = [], int(rng.integers(0, 3))
    while position < length:
        size = int(rng.integers(1, 4))
        if position + size <= length:
            entities.append((position, position + size, str(rng.choice(["PER", "LOC", "ORG"]))))
        position += size + int(rng.integers(0, 3))  # 0 gap: adjacent entities, told apart by B-
    return entities


@pytest.mark.parametrize("seed", SEEDS)
def test_span_f1_matches_seqeval(seed: int, reference_lib: Callable[[str], Any], quietly: Callable[..., Any]) -> None:
    reference_lib("seqeval")
    from seqeval.metrics import f1_score

    rng = np.random.default_rng(seed)
    for _ in range(20):
        length = int(rng.integers(5, 30))
        gold = _random_entities(rng, length)
        # The second annotator keeps, shortens, relabels or drops each span (spans stay disjoint,
        # so the BIO tags carry them exactly).
        choice = rng.integers(0, 4, size=len(gold))
        other = [(start, end - (end - start > 1), label) if pick == 1 else (start, end, "MISC" if pick == 2 else label)
                 for (start, end, label), pick in zip(gold, choice) if pick != 3]
        if not gold and not other:
            continue
        expected = quietly(f1_score, [_bio(gold, length)], [_bio(other, length)])
        assert spans.span_f1(gold, other) == pytest.approx(expected, abs=1e-12)


# -- span_agreement -------------------------------------------------------------------------------

def _worked_example() -> pd.DataFrame:
    return _frame([
        (1, "a", "PER", 0, 2), (1, "a", "LOC", 3, 5),
        (1, "b", "PER", 0, 2), (1, "b", "LOC", 3, 4),  # b marked only 北 of 北京
        (1, "c", "PER", 0, 2),
        (3, "a", "PER", 0, 2),
    ])


def test_span_agreement_worked_example() -> None:
    result = spans.span_agreement(_worked_example(), empty=_empty((2, "a"), (2, "b")))
    # Task 1: a-b share PER only: 2*1/(2+2) = 1/2; a-c: 2*1/(2+1) = 2/3; b-c: 2/3 -> mean 11/18.
    # Task 2: a and b both marked nothing -> 1.  Task 3: one annotator -> NaN.
    np.testing.assert_allclose(result.per_task[[1, 2]], [11 / 18, 1.0])
    assert np.isnan(result.per_task[3])
    assert result.f1 == pytest.approx((11 / 18 + 1.0) / 2)  # 29/36
    # PER: 3 matches over 2+2+2 spans -> 1; LOC: 0 matches over 2 (a-b) + 1 (a-c) + 1 (b-c) -> 0.
    assert result.per_label.to_dict() == {"LOC": 0.0, "PER": 1.0}


def test_identical_annotators_agree_fully() -> None:
    marked = [("PER", 0, 2), ("LOC", 3, 5)]
    result = spans.span_agreement(_frame([(task, who, *span) for task in "xy" for who in "abc" for span in marked]))
    assert result.f1 == 1.0
    assert (result.per_task == 1.0).all() and (result.per_label == 1.0).all()


def test_span_agreement_needs_two_annotators() -> None:
    with pytest.raises(ValueError, match="no task has two or more annotators"):
        spans.span_agreement(_frame([(1, "a", "PER", 0, 2)]))


def test_nobody_marked_anything() -> None:
    result = spans.span_agreement(_frame([]), empty=_empty((1, "a"), (1, "b")))
    assert result.f1 == 1.0
    assert result.per_label.empty


# -- token_consensus ------------------------------------------------------------------------------

def test_token_consensus_worked_example() -> None:
    frame = _worked_example().query("task == 1")
    texts = pd.Series({1: TEXT})
    result = spans.token_consensus(frame, texts)
    # 张, 三: PER from all three -> 3/3.  北: LOC from a and b -> 2/3 > 1/2.  京: LOC from a
    # only -> 1/3, so O.  Spans: PER 张三 (confidence 1), LOC 北 (confidence 2/3).
    assert result.spans[["label", "start", "end", "text"]].to_numpy().tolist() == [
        ["PER", 0, 2, "张三"], ["LOC", 3, 4, "北"]]
    np.testing.assert_allclose(result.spans["confidence"], [1.0, 2 / 3])
    # Tokens anybody labelled: 张 1, 三 1, 北 2/3, 京 (O; b and c left it out) 2/3 -> 5/6.
    assert result.confidence[1] == pytest.approx(5 / 6)


def test_token_consensus_follows_weights() -> None:
    frame = _worked_example().query("task == 1")
    result = spans.token_consensus(frame, pd.Series({1: TEXT}), pd.Series({"a": 3.0, "b": 1.0, "c": 1.0}))
    # Total weight 5. 北: a + b = 4/5; 京: a = 3/5 > 1/2 -> LOC 北京 with confidence (4/5 + 3/5)/2.
    loc = result.spans.set_index("label").loc["LOC"]
    assert (loc["start"], loc["end"], loc["text"]) == (3, 5, "北京")
    assert loc["confidence"] == pytest.approx(0.7)
    assert result.confidence[1] == pytest.approx((1 + 1 + 0.8 + 0.6) / 4)


def test_consensus_snaps_to_tokens_and_merges_them() -> None:
    text = "苹果公司发布iPhone 15"
    # a marks "iPho" (6, 10), inside the token iPhone; b marks iPhone 15 (6, 15).
    frame = _frame([(1, "a", "PRODUCT", 6, 10), (1, "b", "PRODUCT", 6, 15), (1, "a", "ORG", 0, 4),
                    (1, "b", "ORG", 0, 4), (1, "c", "ORG", 0, 2)])
    result = spans.token_consensus(frame, pd.Series({1: text}))
    # iPhone: a and b -> 2/3; 15: b only -> 1/3. ORG: 苹果 3/3, 公司 2/3: one span of four tokens.
    assert result.spans[["label", "text"]].to_numpy().tolist() == [["ORG", "苹果公司"], ["PRODUCT", "iPhone"]]
    assert result.spans["confidence"].tolist() == pytest.approx([(1 + 1 + 2 / 3 + 2 / 3) / 4, 2 / 3])


def test_annotators_who_marked_nothing_count_in_the_vote() -> None:
    frame = _frame([(1, "a", "PER", 0, 2)])
    result = spans.token_consensus(frame, pd.Series({1: TEXT, 2: "无"}), empty=_empty((1, "b"), (2, "a"), (2, "b")))
    # One of two annotators marked 张三: 1/2 is no majority, so no span; both tokens 1/2 agreement.
    assert result.spans.empty
    assert result.confidence.to_dict() == {1: 0.5, 2: 1.0}


# -- validation -----------------------------------------------------------------------------------

def _valid() -> pd.DataFrame:
    return _frame([(1, "a", "PER", 0, 2), (1, "b", "PER", 0, 2)])


@pytest.mark.parametrize("fn", [spans.span_agreement, lambda df: spans.token_consensus(df, pd.Series({1: TEXT}))])
def test_bad_input_names_the_column_and_row(fn: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['end'\]"):
        fn(_valid().drop(columns="end"))
    with pytest.raises(ValueError, match=r"column 'end' is not after 'start' in 1 row\(s\), first at row 1"):
        fn(_valid().assign(end=[2, 0]))
    with pytest.raises(ValueError, match=r"column 'start' is negative.*first at row 0"):
        fn(_valid().assign(start=[-1, 0]))
    with pytest.raises(ValueError, match=r"column 'start' is not a whole number.*value 0.5"):
        fn(_valid().assign(start=[0, 0.5]))
    with pytest.raises(ValueError, match=r"column 'end' is missing, not a number.*first at row 1"):
        fn(_valid().assign(end=[2, np.nan]))
    with pytest.raises(ValueError, match=r"column 'label' has a missing value"):
        fn(_valid().assign(label=["PER", None]))
    with pytest.raises(ValueError, match="no spans"):
        fn(_valid().iloc[:0])


def test_offsets_are_checked_against_the_text() -> None:
    with pytest.raises(ValueError, match=r"column 'end' is past the end of its task's text.*value 9"):
        spans.token_consensus(_valid().assign(end=[2, 9]), pd.Series({1: TEXT}))
    with pytest.raises(ValueError, match=r"column 'text' differs from the task text.*first at row 1"):
        spans.token_consensus(_valid().assign(text=["张三", "张"]), pd.Series({1: TEXT}))
    assert len(spans.token_consensus(_valid().assign(text="张三"), pd.Series({1: TEXT})).spans) == 1
    with pytest.raises(ValueError, match=r"no text for task\(s\) \[1\]"):
        spans.token_consensus(_valid(), pd.Series({2: TEXT}))
    with pytest.raises(ValueError, match=r"no value for annotator\(s\) \['b'\]"):
        spans.token_consensus(_valid(), pd.Series({1: TEXT}), pd.Series({"a": 1.0}))


def test_span_sets_must_be_triples() -> None:
    with pytest.raises(ValueError, match=r"\(start, end, label\) triples"):
        spans.span_f1([(0, 2)], [])
