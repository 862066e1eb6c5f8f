"""`qa.boxes`: IoU, one-to-one matching, pairwise box agreement and weighted consensus boxes.

Worked examples are small enough to check by hand; the arithmetic sits in the comments. Boxes
are (x, y, width, height), as Label Studio stores them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qa import boxes

SEEDS = [0, 1, 2]


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(boxes.COLUMNS))


def _empty(*pairs: tuple[Any, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(pairs), columns=["task", "annotator"])


def _direct_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two single boxes straight from the definition |A n B| / |A u B|."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = width * height
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


# -- iou ------------------------------------------------------------------------------------------

def test_iou_worked_examples() -> None:
    # (0,0,2,2) vs (1,1,2,2): overlap 1x1 = 1, union 4 + 4 - 1 = 7.
    # (0,0,10,10) vs (1,0,10,10): overlap 9x10 = 90, union 100 + 100 - 90 = 110.
    # (0,0,3,3) vs (1,1,1,1): the small box lies inside, 1 / 9.
    got = boxes.iou([[0, 0, 2, 2], [0, 0, 10, 10], [0, 0, 3, 3]], [[1, 1, 2, 2], [1, 0, 10, 10], [1, 1, 1, 1]])
    assert got.shape == (3, 3)
    np.testing.assert_allclose(np.diag(got), [1 / 7, 90 / 110, 1 / 9], rtol=1e-12)


def test_iou_published_hand_checkable_pairs(case: Callable[[str], dict[str, Any]]) -> None:
    data = case("bbox_iou_hand_checkable")
    for pair in data["pairs"]:
        (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = pair["a"], pair["b"]  # corners -> (x, y, w, h)
        got = boxes.iou([ax1, ay1, ax2 - ax1, ay2 - ay1], [bx1, by1, bx2 - bx1, by2 - by1])
        assert got[0, 0] == pytest.approx(pair["iou"], abs=data["tolerance"])


@pytest.mark.parametrize("seed", SEEDS)
def test_iou_matches_direct_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = np.column_stack([rng.uniform(0, 80, (30, 2)), rng.uniform(0, 30, (30, 2))])
    b = np.column_stack([rng.uniform(0, 80, (20, 2)), rng.uniform(0, 30, (20, 2))])
    expected = np.array([[_direct_iou(x, y) for y in b] for x in a])
    assert (expected > 0).sum() > 20, "the random boxes should overlap often enough to test anything"
    np.testing.assert_allclose(boxes.iou(a, b), expected, rtol=1e-12, atol=1e-15)


def test_iou_identical_disjoint_touching_and_degenerate() -> None:
    assert boxes.iou([5, 5, 10, 20], [5, 5, 10, 20])[0, 0] == pytest.approx(1.0)
    assert boxes.iou([0, 0, 1, 1], [2, 2, 1, 1])[0, 0] == 0.0
    assert boxes.iou([0, 0, 1, 1], [1, 0, 1, 1])[0, 0] == 0.0  # sharing an edge is no overlap
    assert boxes.iou([3, 3, 0, 0], [3, 3, 0, 0])[0, 0] == 0.0  # no area at all: 0, not 0/0
    with pytest.raises(ValueError, match=r"rows of \(x, y, width, height\)"):
        boxes.iou([1, 2, 3], [1, 2, 3, 4])


# -- match_boxes ----------------------------------------------------------------------------------

def test_matching_is_optimal_not_greedy() -> None:
    # Height 10 everywhere, so IoU is the 1-D overlap ratio along x.
    # a1=[0,10] b1=[1,11]: 9/11 = .818;  a1=[0,10] b2=[-3,7]: 7/13 = .538
    # a2=[4,14] b1=[1,11]: 7/13 = .538;  a2=[4,14] b2=[-3,7]: 3/17 = .176 (< 0.5)
    # Greedy on the best IoU takes a1-b1 and strands a2; the optimum pairs a1-b2 and a2-b1.
    a = pd.DataFrame({"label": "car", "x": [0, 4], "y": 0, "width": 10, "height": 10}, index=["a1", "a2"])
    b = pd.DataFrame({"label": "car", "x": [1, -3], "y": 0, "width": 10, "height": 10}, index=["b1", "b2"])
    matched = boxes.match_boxes(a, b).sort_values("a")
    assert matched[["a", "b"]].to_numpy().tolist() == [["a1", "b2"], ["a2", "b1"]]
    np.testing.assert_allclose(matched["iou"], [7 / 13, 7 / 13])


def test_matching_prefers_more_matches_to_more_iou() -> None:
    # Height 10, so IoU along x.  a1=[0,10] b1=[.5,10.5]: 9.5/10.5 = .905;  a1 b2=[-5.4,4.6]:
    # 4.6/15.4 = .299;  a2=[5.5,15.5] b1: 5/15 = .333;  a2 b2: no overlap.  At threshold .25 the
    # single pair a1-b1 has the larger total IoU (.905 > .299 + .333), but two matches win.
    a = pd.DataFrame({"label": "car", "x": [0, 5.5], "y": 0, "width": 10, "height": 10}, index=["a1", "a2"])
    b = pd.DataFrame({"label": "car", "x": [0.5, -5.4], "y": 0, "width": 10, "height": 10}, index=["b1", "b2"])
    matched = boxes.match_boxes(a, b, iou_threshold=0.25).sort_values("a")
    assert matched[["a", "b"]].to_numpy().tolist() == [["a1", "b2"], ["a2", "b1"]]
    np.testing.assert_allclose(matched["iou"], [4.6 / 15.4, 5 / 15])


def test_matching_needs_same_label_and_threshold() -> None:
    a = pd.DataFrame({"label": ["car", "person"], "x": [0, 50], "y": 0, "width": 10, "height": 10})
    b = pd.DataFrame({"label": ["person", "person"], "x": [0, 52], "y": 0, "width": 10, "height": 10})
    # b0 sits exactly on a0 but is another class; a1-b1 overlap 8/12 = .667.
    matched = boxes.match_boxes(a, b)
    assert matched[["a", "b"]].to_numpy().tolist() == [[1, 1]]
    assert matched["iou"].iloc[0] == pytest.approx(8 / 12)
    assert boxes.match_boxes(a, b, iou_threshold=0.7).empty


# -- box_agreement --------------------------------------------------------------------------------

def _worked_example() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = _frame([
        ("t1", "a", "car", 0, 0, 10, 10), ("t1", "a", "person", 50, 50, 10, 20),
        ("t1", "b", "car", 1, 0, 10, 10), ("t1", "b", "person", 50, 50, 10, 20),
        ("t1", "c", "car", 0, 0, 10, 10),
        ("t3", "a", "car", 0, 0, 10, 10), ("t3", "b", "car", 20, 20, 10, 10),
        ("t4", "a", "bike", 0, 0, 10, 10),
    ])
    return frame, _empty(("t2", "a"), ("t2", "b"))


def test_box_agreement_worked_example() -> None:
    frame, empty = _worked_example()
    result = boxes.box_agreement(frame, empty=empty)
    # t1: a-b match car (IoU 90/110 = 9/11) and person (IoU 1): F1 2*2/(2+2) = 1
    #     a-c match car (IoU 1): F1 2*1/(2+1) = 2/3;  b-c match car (9/11): 2/3  -> mean 7/9
    # t2: a and b both drew nothing -> 1.   t3: disjoint boxes -> 0.   t4: one annotator -> NaN
    np.testing.assert_allclose(result.per_task[["t1", "t2", "t3"]], [7 / 9, 1.0, 0.0])
    assert np.isnan(result.per_task["t4"])
    assert result.f1 == pytest.approx((7 / 9 + 1 + 0) / 3)  # 16/27
    # matched IoUs 9/11, 1, 1, 9/11 -> 10/11
    assert result.mean_iou == pytest.approx(10 / 11)
    # car: 3 matches over 2+2+2 boxes in t1's pairs and 2 in t3 -> 6/8; person: 1 match over
    # 2 (a-b) + 1 (a-c) + 1 (b-c) -> 2/4; bike only on a task with one annotator -> NaN.
    assert result.per_label[["car", "person"]].tolist() == pytest.approx([0.75, 0.5])
    assert np.isnan(result.per_label["bike"])
    assert result.per_task.idxmin() == "t3"  # the disputed task


def test_identical_boxes_agree_fully() -> None:
    drawn = [("car", 10, 10, 20, 30), ("car", 60, 10, 20, 30), ("dog", 5, 50, 40, 40)]
    frame = _frame([(task, who, *box) for task in (1, 2) for who in "abc" for box in drawn])
    result = boxes.box_agreement(frame)
    assert result.f1 == 1.0
    assert result.mean_iou == pytest.approx(1.0)
    assert (result.per_label == 1.0).all()


def test_nobody_drew_anything() -> None:
    result = boxes.box_agreement(_frame([]), empty=_empty((1, "a"), (1, "b"), (2, "a"), (2, "c")))
    assert result.f1 == 1.0
    assert result.per_task.tolist() == [1.0, 1.0]
    assert np.isnan(result.mean_iou)
    assert result.per_label.empty


def test_one_side_empty_scores_zero() -> None:
    frame = _frame([(1, "a", "car", 0, 0, 10, 10)])
    assert boxes.box_agreement(frame, empty=_empty((1, "b"))).f1 == 0.0


def test_one_annotator_has_no_pairs() -> None:
    with pytest.raises(ValueError, match="no task has two or more annotators"):
        boxes.box_agreement(_frame([(1, "a", "car", 0, 0, 10, 10), (2, "a", "car", 0, 0, 10, 10)]))


def _jittered(seed: int, n_tasks: int = 15, raters: int = 3) -> pd.DataFrame:
    """Each task has 0-3 true boxes; each annotator misses some, jitters the rest, adds strays."""
    rng = np.random.default_rng(seed)
    rows = []
    for task in range(n_tasks):
        truth = [(str(rng.choice(["car", "dog"])), *rng.uniform(0, 70, 2), *rng.uniform(10, 30, 2))
                 for _ in range(int(rng.integers(0, 4)))]
        for who in range(raters):
            seen = [(label, *(np.array(box) + rng.normal(0, 1.5, 4))) for label, *box in truth if rng.random() < 0.8]
            strays = [("car", *rng.uniform(0, 70, 2), 10.0, 10.0)] if rng.random() < 0.2 else []
            rows += [(task, f"w{who}", *box) for box in seen + strays]
    return _frame(rows)


@pytest.mark.parametrize("seed", SEEDS)
def test_agreement_ignores_row_and_annotator_order(seed: int) -> None:
    frame = _jittered(seed)
    renamed = frame.assign(annotator=frame["annotator"].map({"w0": "w2", "w1": "w0", "w2": "w1"}))
    shuffled = renamed.sample(frac=1.0, random_state=seed)
    first, second = boxes.box_agreement(frame), boxes.box_agreement(shuffled)
    assert 0.3 < first.f1 < 1.0 and 0.5 < first.mean_iou < 1.0  # the data is neither trivial nor hopeless
    assert (first.f1, first.mean_iou) == pytest.approx((second.f1, second.mean_iou))
    pd.testing.assert_series_equal(first.per_task.sort_index(), second.per_task.sort_index())
    pd.testing.assert_series_equal(first.per_label, second.per_label)


# -- consensus_boxes ------------------------------------------------------------------------------

def test_consensus_worked_example() -> None:
    frame = _frame([
        ("t1", "a", "car", 0, 0, 10, 10), ("t1", "b", "car", 2, 0, 10, 10),
        ("t1", "c", "car", 0, 0, 10, 10), ("t1", "c", "person", 50, 50, 10, 10),
        ("t2", "c", "car", 0, 0, 5, 5),
    ])
    empty = _empty(("t2", "a"), ("t2", "b"), ("t3", "a"), ("t3", "b"), ("t3", "c"))
    weights = pd.Series({"a": 2.0, "b": 1.0, "c": 1.0})
    result = boxes.consensus_boxes(frame, weights, empty=empty)
    # t1 car: x = (2*0 + 1*2 + 1*0) / 4 = 0.5, all weight agrees -> support 1.
    # IoU of (0.5,0,10,10) with a's and c's box: 95/105 = 19/21; with b's (2,0,...): 85/115 = 17/23
    # confidence = 1 * (2*19/21 + 17/23 + 19/21) / 4.  c's person: support 1/4 < 0.5, dropped.
    tight = (3 * 19 / 21 + 17 / 23) / 4
    assert len(result.boxes) == 1
    car = result.boxes.iloc[0]
    assert (car["task"], car["label"]) == ("t1", "car")
    np.testing.assert_allclose(car[["x", "y", "width", "height"]].astype(float), [0.5, 0, 10, 10])
    assert (car["support"], car["confidence"]) == pytest.approx((1.0, tight))
    # t1: mean(kept car's confidence, 1 - 1/4 for the dropped person); t2: c's lone box dropped
    # (1 - 1/4); t3: everybody agreed there is nothing -> 1.
    np.testing.assert_allclose(result.confidence[["t1", "t2", "t3"]], [(tight + 0.75) / 2, 0.75, 1.0])


def test_min_support_keeps_minority_boxes() -> None:
    frame = _frame([("t", "a", "car", 0, 0, 10, 10), ("t", "b", "car", 0, 0, 10, 10),
                    ("t", "c", "car", 0, 0, 10, 10), ("t", "c", "person", 50, 50, 10, 10)])
    result = boxes.consensus_boxes(frame, min_support=0.25)
    # person: one of three annotators, a single member box (IoU 1 with itself) -> 1/3, 1/3.
    person = result.boxes.set_index("label").loc["person"]
    assert (person["support"], person["confidence"]) == pytest.approx((1 / 3, 1 / 3))
    assert result.boxes.set_index("label").loc["car", "support"] == pytest.approx(1.0)


def test_an_annotator_adds_at_most_one_box_per_cluster() -> None:
    # a drew the same car twice; b once. a's two boxes seed two clusters, b joins one of them.
    frame = _frame([(1, "a", "car", 0, 0, 10, 10), (1, "a", "car", 1, 0, 10, 10), (1, "b", "car", 0, 0, 10, 10)])
    result = boxes.consensus_boxes(frame)
    assert sorted(result.boxes["support"]) == [0.5, 1.0]


def test_the_heaviest_annotator_seeds_the_clusters() -> None:
    # 10x10 boxes at x = 0 (a), 3 (b), -3 (c): IoU a-b = a-c = 70/130 = .538, b-c = 40/160 = .25.
    # b heaviest (3, 1, 1): b seeds at 3, a joins -> centre (3*3 + 0)/4 = 2.25; c at -3 overlaps
    # that by 4.75 -> 47.5/152.5 = .31, so c stays alone. Kept: x = 2.25, support 4/5.
    # c heaviest: c seeds at -3, a joins -> centre -2.25, b is left alone. Kept: x = -2.25.
    frame = _frame([(1, "a", "car", 0, 0, 10, 10), (1, "b", "car", 3, 0, 10, 10), (1, "c", "car", -3, 0, 10, 10)])
    for heavy, x in (("b", 2.25), ("c", -2.25)):
        weights = pd.Series({"a": 1.0, "b": 1.0, "c": 1.0, heavy: 3.0})
        kept = boxes.consensus_boxes(frame, weights).boxes
        assert len(kept) == 1
        assert kept[["x", "support"]].iloc[0].tolist() == pytest.approx([x, 0.8])


def test_consensus_of_identical_boxes_is_that_box() -> None:
    frame = _frame([(7, who, "dog", 12.5, 30, 40, 25) for who in "abcd"])
    result = boxes.consensus_boxes(frame, pd.Series({"a": 0.9, "b": 0.5, "c": 0.7, "d": 0.6}))
    assert len(result.boxes) == 1
    fused = result.boxes[["x", "y", "width", "height", "support", "confidence"]].iloc[0]
    assert fused.tolist() == pytest.approx([12.5, 30, 40, 25, 1.0, 1.0])
    assert result.confidence[7] == pytest.approx(1.0)


# -- validation -----------------------------------------------------------------------------------

def _valid() -> pd.DataFrame:
    return _frame([(1, "a", "car", 0, 0, 10, 10), (1, "b", "car", 0, 0, 10, 10)])


@pytest.mark.parametrize("fn", [boxes.box_agreement, boxes.consensus_boxes])
def test_bad_input_names_the_column_and_row(fn: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['height'\]"):
        fn(_valid().drop(columns="height"))
    with pytest.raises(ValueError, match=r"column 'x' is missing.* first at row 1"):
        fn(_valid().astype({"x": float}).assign(x=[0.0, np.nan]))
    with pytest.raises(ValueError, match=r"column 'y' is missing, not a number.*value 'top'"):
        fn(_valid().astype({"y": object}).assign(y=[0, "top"]))
    with pytest.raises(ValueError, match=r"column 'width' is negative in 1 row\(s\), first at row 0"):
        fn(_valid().assign(width=[-1, 10]))
    with pytest.raises(ValueError, match=r"column 'annotator' has a missing value.* first at row 1"):
        fn(_valid().assign(annotator=["a", None]))
    with pytest.raises(ValueError, match="no boxes"):
        fn(_valid().iloc[:0])
    with pytest.raises(TypeError, match="DataFrame"):
        fn(_valid().to_dict())
    with pytest.raises(ValueError, match="iou_threshold"):
        fn(_valid(), iou_threshold=1.5)


def test_empty_pairs_are_checked() -> None:
    with pytest.raises(ValueError, match="also drew boxes, e.g. task=1, annotator='a'"):
        boxes.box_agreement(_valid(), empty=_empty((1, "a")))
    with pytest.raises(ValueError, match="empty is missing column 'annotator'"):
        boxes.box_agreement(_valid(), empty=pd.DataFrame({"task": [1]}))


def test_weights_are_checked() -> None:
    with pytest.raises(ValueError, match=r"no value for annotator\(s\) \['b'\]"):
        boxes.consensus_boxes(_valid(), pd.Series({"a": 1.0}))
    with pytest.raises(ValueError, match="positive and finite; annotator 'b' has 0"):
        boxes.consensus_boxes(_valid(), pd.Series({"a": 1.0, "b": 0}))
    with pytest.raises(ValueError, match="min_support"):
        boxes.consensus_boxes(_valid(), min_support=0)
