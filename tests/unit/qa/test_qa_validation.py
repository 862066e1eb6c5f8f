"""Bad input must fail loudly with a ValueError that says what is wrong, in every public function."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from qa import aggregate, metrics

EVERY_FUNCTION: dict[str, Callable[[pd.DataFrame], Any]] = {
    "percent_agreement": metrics.percent_agreement,
    "per_label_agreement": metrics.per_label_agreement,
    "agreement_matrix": metrics.agreement_matrix,
    "cohen_kappa": metrics.cohen_kappa,
    "fleiss_kappa": metrics.fleiss_kappa,
    "krippendorff_alpha": metrics.krippendorff_alpha,
    "majority_vote": aggregate.majority_vote,
    "dawid_skene": aggregate.dawid_skene,
}
functions = pytest.mark.parametrize("fn", EVERY_FUNCTION.values(), ids=EVERY_FUNCTION.keys())


def _two_raters() -> pd.DataFrame:
    return pd.DataFrame({"task": [1, 1, 2, 2], "annotator": ["a", "b", "a", "b"], "label": [1, 1, 2, 1]})


@functions
def test_missing_columns_are_named(fn: Callable[[pd.DataFrame], Any]) -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['annotator'\]"):
        fn(_two_raters().rename(columns={"annotator": "worker"}))


@functions
def test_empty_frame(fn: Callable[[pd.DataFrame], Any]) -> None:
    with pytest.raises(ValueError, match="empty"):
        fn(_two_raters().iloc[:0])


@functions
def test_duplicate_task_annotator_pairs(fn: Callable[[pd.DataFrame], Any]) -> None:
    frame = pd.concat([_two_raters(), _two_raters().iloc[[3]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"1 duplicate \(task, annotator\) pair.*task=2, annotator='b'"):
        fn(frame)


@functions
def test_missing_values_are_rejected(fn: Callable[[pd.DataFrame], Any]) -> None:
    frame = _two_raters().astype({"label": float})
    frame.loc[1, "label"] = np.nan
    with pytest.raises(ValueError, match="column 'label' has 1 missing value"):
        fn(frame)


@functions
def test_not_a_frame(fn: Callable[[pd.DataFrame], Any]) -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        fn(_two_raters().to_dict())  # type: ignore[arg-type]


def test_extra_columns_are_ignored() -> None:
    frame = _two_raters().assign(created_at="2024-01-01")
    assert metrics.percent_agreement(frame) == metrics.percent_agreement(_two_raters())


@pytest.mark.parametrize("fn", [metrics.percent_agreement, metrics.per_label_agreement,
                                metrics.krippendorff_alpha, metrics.fleiss_kappa])
def test_no_task_with_two_labels(fn: Callable[[pd.DataFrame], Any]) -> None:
    frame = pd.DataFrame({"task": [1, 2, 3], "annotator": ["a", "b", "a"], "label": [1, 2, 1]})
    with pytest.raises(ValueError, match="two or more annotators|at least two labels per task"):
        fn(frame)


@pytest.mark.parametrize("annotators", [["a"], ["a", "b", "c"]])
def test_cohen_needs_exactly_two_annotators(annotators: list[str]) -> None:
    frame = pd.DataFrame({"task": range(len(annotators)), "annotator": annotators, "label": 1})
    with pytest.raises(ValueError, match=f"exactly two annotators; found {len(annotators)}"):
        metrics.cohen_kappa(frame)


def test_cohen_needs_a_shared_task() -> None:
    frame = pd.DataFrame({"task": [1, 2], "annotator": ["a", "b"], "label": [1, 1]})
    with pytest.raises(ValueError, match="share no task"):
        metrics.cohen_kappa(frame)


def test_cohen_rejects_unknown_weights() -> None:
    with pytest.raises(ValueError, match="weights must be"):
        metrics.cohen_kappa(_two_raters(), weights="cubic")  # type: ignore[arg-type]


def test_fleiss_needs_equal_label_counts() -> None:
    frame = pd.concat([_two_raters(), pd.DataFrame({"task": [2], "annotator": ["c"], "label": [2]})])
    with pytest.raises(ValueError, match="same number of labels on every task; found tasks with 2 to 3"):
        metrics.fleiss_kappa(frame)


def test_alpha_rejects_unknown_level_and_non_numeric_interval() -> None:
    with pytest.raises(ValueError, match="level must be one of"):
        metrics.krippendorff_alpha(_two_raters(), level="cardinal")  # type: ignore[arg-type]
    words = _two_raters().assign(label=["lo", "lo", "hi", "lo"])
    assert metrics.krippendorff_alpha(words, level="ordinal") == metrics.krippendorff_alpha(words)
    for level in ("interval", "ratio"):
        with pytest.raises(ValueError, match=f"{level} alpha needs numeric labels"):
            metrics.krippendorff_alpha(words, level=level)


def test_categorical_labels_follow_their_declared_order() -> None:
    scale = pd.CategoricalDtype(["low", "mid", "high"], ordered=True)
    rows = [("t1", "a", "low"), ("t1", "b", "mid"), ("t2", "a", "high"), ("t2", "b", "high"),
            ("t3", "a", "low"), ("t3", "b", "low"), ("t4", "a", "mid"), ("t4", "b", "high")]
    words = pd.DataFrame(rows, columns=["task", "annotator", "label"]).astype({"label": scale})
    codes = words.assign(label=words["label"].cat.codes)
    for weights in ("linear", "quadratic"):
        assert metrics.cohen_kappa(words, weights) == pytest.approx(metrics.cohen_kappa(codes, weights))
    assert metrics.krippendorff_alpha(words, "ordinal") == pytest.approx(metrics.krippendorff_alpha(codes, "ordinal"))


def test_dawid_skene_argument_checks() -> None:
    with pytest.raises(ValueError, match="n_iter must be >= 0"):
        aggregate.dawid_skene(_two_raters(), n_iter=-1)
    with pytest.raises(TypeError, match="gold must be a pandas Series"):
        aggregate.dawid_skene(_two_raters(), gold={1: 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"gold label\(s\) \[7\] were never given"):
        aggregate.dawid_skene(_two_raters(), gold=pd.Series({1: 7}))
    with pytest.raises(ValueError, match="without missing values"):
        aggregate.dawid_skene(_two_raters(), gold=pd.Series({1: None}))


@pytest.mark.parametrize("aggregator", [aggregate.majority_vote, aggregate.dawid_skene])
def test_repeated_rows_count_as_votes_when_allowed(aggregator: Callable[..., Any]) -> None:
    frame = pd.DataFrame({"task": [1, 1, 1], "annotator": ["a", "a", "b"], "label": ["x", "x", "y"]})
    result = aggregator(frame, allow_repeats=True)
    assert result.labels[1] == "x"
