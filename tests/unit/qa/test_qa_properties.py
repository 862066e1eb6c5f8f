"""Properties the measures must have whatever the data: bounds, invariances, identities.

Each property can be derived by hand: perfect agreement gives 1, relabelling or reordering
changes nothing for nominal measures, Krippendorff's alpha and Fleiss' kappa are tied by
alpha = 1 - (n-1)/n * (1 - kappa) when every task has the same number of labels, and so on.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from qa import aggregate, metrics

SEEDS = [0, 1, 2]
NOMINAL: dict[str, Callable[[pd.DataFrame], float]] = {
    "percent_agreement": metrics.percent_agreement,
    "fleiss_kappa": metrics.fleiss_kappa,
    "alpha_nominal": lambda df: metrics.krippendorff_alpha(df, "nominal"),
}


def _complete(seed: int, n_tasks: int = 50, raters: int = 3, n_labels: int = 4, agree: float = 0.6) -> pd.DataFrame:
    """Every task labelled by the same `raters` annotators; labels agree with prob. `agree`."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, size=n_tasks)
    rows = []
    for task in range(n_tasks):
        for rater in range(raters):
            label = truth[task] if rng.random() < agree else rng.integers(0, n_labels)
            rows.append((task, f"r{rater}", int(label) + 1))
    return pd.DataFrame(rows, columns=["task", "annotator", "label"])


def _perfect(raters: int = 3) -> pd.DataFrame:
    rows = [(task, f"r{rater}", task % 3 + 1) for task in range(12) for rater in range(raters)]
    return pd.DataFrame(rows, columns=["task", "annotator", "label"])


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_perfect_agreement_alpha_is_one(level: str) -> None:
    assert metrics.krippendorff_alpha(_perfect(), level=level) == pytest.approx(1.0)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_perfect_agreement_cohen_is_one(weights: str | None) -> None:
    assert metrics.cohen_kappa(_perfect(raters=2), weights=weights) == pytest.approx(1.0)


def test_perfect_agreement_everywhere_else() -> None:
    frame = _perfect()
    assert metrics.percent_agreement(frame) == 1.0
    assert metrics.fleiss_kappa(frame) == pytest.approx(1.0)
    assert (metrics.per_label_agreement(frame) == 1.0).all()
    assert (metrics.agreement_matrix(frame).to_numpy() == 1.0).all()
    votes = aggregate.majority_vote(frame)
    assert (votes.confidence == 1.0).all()
    assert (votes.labels == frame.groupby("task")["label"].first()).all()
    ds = aggregate.dawid_skene(frame)
    assert (ds.labels == votes.labels).all()


def test_one_category_only_is_undefined_not_an_error() -> None:
    frame = pd.DataFrame({"task": [1, 1, 2, 2], "annotator": ["a", "b", "a", "b"], "label": ["x"] * 4})
    assert metrics.percent_agreement(frame) == 1.0
    for value in (metrics.cohen_kappa(frame), metrics.fleiss_kappa(frame), metrics.krippendorff_alpha(frame)):
        assert np.isnan(value)


def test_systematic_disagreement_is_below_chance() -> None:
    rows = [(t, "a", t % 2) for t in range(20)] + [(t, "b", 1 - t % 2) for t in range(20)]
    frame = pd.DataFrame(rows, columns=["task", "annotator", "label"])
    assert metrics.percent_agreement(frame) == 0.0
    assert metrics.cohen_kappa(frame) == pytest.approx(-1.0)
    assert metrics.krippendorff_alpha(frame) < 0


@pytest.mark.parametrize("seed", SEEDS)
def test_nominal_measures_ignore_row_order_names_and_label_values(seed: int) -> None:
    frame = _complete(seed)
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    renamed = shuffled.assign(task="T" + shuffled["task"].astype(str),
                              annotator=shuffled["annotator"].str.upper(),
                              label=shuffled["label"].map({1: "d", 2: "a", 3: "c", 4: "b"}))
    for name, fn in NOMINAL.items():
        assert fn(renamed) == pytest.approx(fn(frame), abs=1e-12), name
    pair = frame[frame["annotator"].isin(["r0", "r1"])]
    swapped = pair.assign(annotator=pair["annotator"].map({"r0": "r1", "r1": "r0"}))
    assert metrics.cohen_kappa(swapped) == pytest.approx(metrics.cohen_kappa(pair), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_alpha_levels_respect_their_scale_transformations(seed: int) -> None:
    frame = _complete(seed, raters=4)
    affine = frame.assign(label=frame["label"] * 2.5 - 7)
    scaled = frame.assign(label=frame["label"] * 10)
    monotone = frame.assign(label=frame["label"] ** 3)
    alpha = metrics.krippendorff_alpha
    assert alpha(affine, "interval") == pytest.approx(alpha(frame, "interval"), abs=1e-12)
    assert alpha(scaled, "ratio") == pytest.approx(alpha(frame, "ratio"), abs=1e-12)
    assert alpha(monotone, "ordinal") == pytest.approx(alpha(frame, "ordinal"), abs=1e-12)
    assert alpha(monotone, "interval") != pytest.approx(alpha(frame, "interval"), abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("raters", [2, 3, 5])
def test_alpha_and_fleiss_identity_for_equal_label_counts(seed: int, raters: int) -> None:
    frame = _complete(seed, raters=raters)
    n = len(frame)  # every value is pairable
    kappa = metrics.fleiss_kappa(frame)
    assert metrics.krippendorff_alpha(frame) == pytest.approx(1 - (n - 1) / n * (1 - kappa), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_single_label_tasks_change_nothing(seed: int) -> None:
    frame = _complete(seed, raters=2)
    extra = pd.DataFrame({"task": range(1000, 1010), "annotator": "r0", "label": 1})
    padded = pd.concat([frame, extra], ignore_index=True)
    for fn in (metrics.percent_agreement, metrics.cohen_kappa, metrics.krippendorff_alpha):
        assert fn(padded) == pytest.approx(fn(frame), abs=1e-12)


def test_two_labels_make_weights_irrelevant() -> None:
    frame = _complete(4, raters=2, n_labels=2)
    plain = metrics.cohen_kappa(frame)
    assert metrics.cohen_kappa(frame, "linear") == pytest.approx(plain)
    assert metrics.cohen_kappa(frame, "quadratic") == pytest.approx(plain)


def test_specific_agreement_by_hand() -> None:
    # 2 raters, binary: a=3 both yes, b=1 yes/no, c=2 no/yes, d=4 both no.
    pairs = [("y", "y")] * 3 + [("y", "n")] + [("n", "y")] * 2 + [("n", "n")] * 4
    rows = [(i, r, lab) for i, labs in enumerate(pairs) for r, lab in zip("AB", labs)]
    got = metrics.per_label_agreement(pd.DataFrame(rows, columns=["task", "annotator", "label"]))
    assert got["y"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert got["n"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))


@pytest.mark.parametrize("seed", SEEDS)
def test_bounds_and_shapes(seed: int) -> None:
    frame = _complete(seed, raters=4).sample(frac=0.8, random_state=seed)
    assert 0.0 <= metrics.percent_agreement(frame) <= 1.0
    specific = metrics.per_label_agreement(frame).dropna()
    assert ((specific >= 0) & (specific <= 1)).all()
    matrix = metrics.agreement_matrix(frame)
    np.testing.assert_array_equal(matrix.to_numpy(), matrix.to_numpy().T)
    assert np.nanmin(matrix.to_numpy()) >= 0 and np.nanmax(matrix.to_numpy()) <= 1
    ds = aggregate.dawid_skene(frame)
    np.testing.assert_allclose(ds.posteriors.sum(axis=1), 1.0)
    assert ds.priors.sum() == pytest.approx(1.0)
    for confusion in ds.confusion.values():
        np.testing.assert_allclose(confusion.sum(axis=1), 1.0)
    np.testing.assert_allclose(ds.confidence, ds.posteriors.max(axis=1))


def test_agreement_matrix_is_nan_where_nothing_is_shared() -> None:
    frame = pd.DataFrame({"task": [1, 1, 2, 2], "annotator": ["a", "b", "c", "d"], "label": [1, 1, 1, 2]})
    matrix = metrics.agreement_matrix(frame)
    assert matrix.loc["a", "b"] == 1.0 and matrix.loc["c", "d"] == 0.0
    assert np.isnan(matrix.loc["a", "c"]) and np.isnan(matrix.loc["b", "d"])


def test_majority_vote_ties_go_to_smallest_label_whatever_the_row_order() -> None:
    rows = [(1, "a", "cat"), (1, "b", "ant"), (2, "a", 3), (2, "b", 1)]
    for order in ([0, 1], [1, 0]):
        texts = pd.DataFrame([rows[i] for i in order], columns=["task", "annotator", "label"])
        assert aggregate.majority_vote(texts).labels[1] == "ant"
    numbers = pd.DataFrame([(2, "a", 10), (2, "b", 9)], columns=["task", "annotator", "label"])
    result = aggregate.majority_vote(numbers)
    assert result.labels[2] == 9 and result.confidence[2] == 0.5  # 9 < 10 numerically


def test_dawid_skene_without_iterations_is_the_vote_share(crowd: Callable[..., Any]) -> None:
    frame, _ = crowd(3, n_tasks=300)
    ds = aggregate.dawid_skene(frame, n_iter=0)
    votes = aggregate.majority_vote(frame)
    shares = frame.groupby(["task", "label"]).size().unstack(fill_value=0)
    np.testing.assert_allclose(ds.posteriors.to_numpy(), (shares.T / shares.sum(axis=1)).T.loc[ds.posteriors.index])
    assert ds.iterations == 0 and (ds.labels == votes.labels).all()


def test_dawid_skene_discounts_spammers(crowd: Callable[..., Any]) -> None:
    frame, truth = crowd(11, n_tasks=3000, n_annotators=30, spammers=12, per_task=3)
    ds = aggregate.dawid_skene(frame)
    votes = aggregate.majority_vote(frame)
    assert (ds.labels.to_numpy() == truth).mean() > (votes.labels.to_numpy() == truth).mean() + 0.02
    spammer = ds.confusion[0]  # annotators 0..11 answer at random: flat confusion rows
    assert np.abs(spammer - 0.25).max() < 0.15


def test_gold_anchors_the_estimate(crowd: Callable[..., Any]) -> None:
    frame, truth = crowd(5, n_tasks=400)
    wrong = pd.Series((truth[:50] + 1) % 4, index=np.arange(50))
    anchored = aggregate.dawid_skene(frame, gold=pd.concat([wrong, pd.Series([0], index=["absent"])]))
    assert (anchored.labels[:50].to_numpy() == wrong.to_numpy()).all()
    assert (anchored.confidence[:50] == 1.0).all()
    free = aggregate.dawid_skene(frame)
    assert not np.allclose(anchored.confusion[5], free.confusion[5])


def test_results_are_frozen() -> None:
    result = aggregate.dawid_skene(_perfect())
    with pytest.raises(AttributeError):
        result.labels = result.labels  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.confusion["r0"] = np.eye(3)  # type: ignore[index]
