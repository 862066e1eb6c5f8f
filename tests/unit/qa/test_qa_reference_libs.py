"""`qa` against the reference libraries on seeded random data, to 1e-6.

krippendorff (alpha, every level, missing values), statsmodels (Fleiss, Cohen), scikit-learn
(Cohen, weighted) and crowd-kit (Dawid-Skene, majority vote). Measures without a reference
library (percent, specific and pairwise agreement) are checked against literal pair-by-pair
Python loops. Each reference test skips if its library is not installed.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from qa import aggregate, metrics

SEEDS = [0, 1, 2, 3]
VALUES = np.array([1, 2, 3, 5, 8])  # unevenly spaced, so interval, ordinal and ratio differ


def _random_frame(seed: int, n_tasks: int = 80, n_annotators: int = 4, missing: float = 0.3) -> pd.DataFrame:
    """Correlated labels (a latent value plus noise) with some annotations missing."""
    rng = np.random.default_rng(seed)
    latent = rng.integers(0, VALUES.size, size=n_tasks)
    noise = rng.integers(-1, 2, size=(n_annotators, n_tasks)) * (rng.random((n_annotators, n_tasks)) < 0.4)
    codes = np.clip(latent + noise, 0, VALUES.size - 1)
    present = rng.random((n_annotators, n_tasks)) >= missing
    rows = [(f"t{t}", f"a{a}", int(VALUES[codes[a, t]])) for a in range(n_annotators)
            for t in range(n_tasks) if present[a, t]]
    return pd.DataFrame(rows, columns=["task", "annotator", "label"])


def _reliability(frame: pd.DataFrame) -> np.ndarray:
    return frame.pivot(index="annotator", columns="task", values="label").to_numpy(dtype=float)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_matches_krippendorff(seed: int, level: str, reference_lib: Callable[[str], Any]) -> None:
    krippendorff = reference_lib("krippendorff")
    frame = _random_frame(seed)
    expected = krippendorff.alpha(reliability_data=_reliability(frame), level_of_measurement=level)
    assert metrics.krippendorff_alpha(frame, level=level) == pytest.approx(float(expected), abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_fleiss_matches_statsmodels(seed: int, reference_lib: Callable[[str], Any], quietly: Callable[..., Any]) -> None:
    reference_lib("statsmodels")
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    frame = _random_frame(seed, n_annotators=6, missing=0.0)
    table, _ = aggregate_raters(_reliability(frame).T)
    expected = quietly(fleiss_kappa, table, method="fleiss")
    assert metrics.fleiss_kappa(frame) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_matches_sklearn_and_statsmodels(seed: int, weights: str | None, reference_lib: Callable[[str], Any],
                                               quietly: Callable[..., Any]) -> None:
    reference_lib("sklearn")
    reference_lib("statsmodels")
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import cohens_kappa

    frame = _random_frame(seed, n_annotators=2, missing=0.2)
    paired = frame.pivot(index="task", columns="annotator", values="label").dropna()
    first, second = paired["a0"].astype(int), paired["a1"].astype(int)
    table = pd.crosstab(first, second).reindex(index=sorted(set(first) | set(second)),
                                               columns=sorted(set(first) | set(second)), fill_value=0)
    ours = metrics.cohen_kappa(frame, weights=weights)
    assert ours == pytest.approx(quietly(cohen_kappa_score, first, second, weights=weights), abs=1e-6)
    statsmodels_kappa = quietly(cohens_kappa, table.to_numpy(), wt=weights, return_results=False)
    assert ours == pytest.approx(statsmodels_kappa, abs=1e-6)


def _pairs(frame: pd.DataFrame) -> list[tuple[Any, Any]]:
    """Every unordered pair of (annotator, label) within a task, as plain Python."""
    pairs = []
    for _, group in frame.groupby("task"):
        pairs += [(x, y) for x, y in itertools.combinations(zip(group["annotator"], group["label"]), 2)]
    return pairs


@pytest.mark.parametrize("seed", SEEDS)
def test_percent_agreement_matches_pair_loop(seed: int) -> None:
    frame = _random_frame(seed, missing=0.4)
    shares = []
    for _, group in frame.groupby("task"):
        pairs = list(itertools.combinations(group["label"], 2))
        if pairs:
            shares.append(sum(a == b for a, b in pairs) / len(pairs))
    assert metrics.percent_agreement(frame) == pytest.approx(np.mean(shares), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_per_label_agreement_matches_pair_loop(seed: int) -> None:
    frame = _random_frame(seed, missing=0.4)
    agreeing, ends = Counter(), Counter()
    for (_, first), (_, second) in _pairs(frame):
        ends[first] += 1
        ends[second] += 1
        agreeing[first] += 2 * (first == second)
    expected = pd.Series({label: agreeing[label] / ends[label] for label in ends}).sort_index()
    got = metrics.per_label_agreement(frame)
    pd.testing.assert_series_equal(got.dropna(), expected, check_names=False, check_index_type=False)


@pytest.mark.parametrize("seed", SEEDS)
def test_agreement_matrix_matches_pair_loop(seed: int) -> None:
    frame = _random_frame(seed, n_annotators=5, missing=0.5)
    shared, agreed = Counter(), Counter()
    for (a, x), (b, y) in _pairs(frame):
        for key in ((a, b), (b, a)):
            shared[key] += 1
            agreed[key] += x == y
    got = metrics.agreement_matrix(frame)
    for a, b in itertools.permutations(got.index, 2):
        expected = agreed[(a, b)] / shared[(a, b)] if shared[(a, b)] else np.nan
        assert got.loc[a, b] == pytest.approx(expected, nan_ok=True)


def _crowdkit_confusion(errors: pd.DataFrame, worker: Any, classes: pd.Index) -> np.ndarray:
    # crowd-kit: rows (worker, label given), columns true class, no row for labels never given.
    given = errors.loc[worker].reindex(index=classes, columns=classes, fill_value=0.0)
    return given.to_numpy().T


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("with_gold", [False, True])
def test_dawid_skene_matches_crowdkit(seed: int, with_gold: bool, crowd: Callable[..., Any],
                                      reference_lib: Callable[[str], Any], quietly: Callable[..., Any]) -> None:
    crowdkit = reference_lib("crowdkit.aggregation")
    frame, truth = crowd(seed)
    gold = pd.Series(truth[:100], index=np.arange(100)) if with_gold else None
    reference = crowdkit.DawidSkene(n_iter=100, tol=1e-5)
    quietly(reference.fit, frame.rename(columns={"annotator": "worker"}), gold)
    ours = aggregate.dawid_skene(frame, n_iter=100, tol=1e-5, gold=gold)
    assert ours.iterations == len(reference.loss_history_)
    assert (ours.labels == reference.labels_[ours.labels.index]).all()
    probas = reference.probas_.loc[ours.labels.index, ours.classes].to_numpy()
    np.testing.assert_allclose(ours.posteriors.to_numpy(), probas, atol=1e-6)
    np.testing.assert_allclose(ours.priors.to_numpy(), reference.priors_[ours.classes].to_numpy(), atol=1e-6)
    for worker in frame["annotator"].unique()[:10]:
        expected = _crowdkit_confusion(reference.errors_, worker, ours.classes)
        np.testing.assert_allclose(ours.confusion[worker], expected, atol=1e-6)


def test_dawid_skene_tol_zero_labels_match_crowdkit(crowd: Callable[..., Any], reference_lib: Callable[[str], Any],
                                                    quietly: Callable[..., Any]) -> None:
    crowdkit = reference_lib("crowdkit.aggregation")
    frame, truth = crowd(7, n_tasks=3000, n_annotators=60)
    expected = quietly(crowdkit.DawidSkene(n_iter=100, tol=0).fit_predict, frame.rename(columns={"annotator": "worker"}))
    ours = aggregate.dawid_skene(frame, n_iter=100, tol=0)
    assert (ours.labels == expected[ours.labels.index]).mean() >= 0.999
    ours_accuracy = (ours.labels.to_numpy() == truth).mean()
    reference_accuracy = (expected[ours.labels.index].to_numpy() == truth).mean()
    assert abs(ours_accuracy - reference_accuracy) <= 0.002


@pytest.mark.parametrize("seed", [0, 1])
def test_majority_vote_matches_crowdkit(seed: int, crowd: Callable[..., Any], reference_lib: Callable[[str], Any],
                                        quietly: Callable[..., Any]) -> None:
    crowdkit = reference_lib("crowdkit.aggregation")
    frame, _ = crowd(seed, per_task=4)
    reference = crowdkit.MajorityVote()
    probas = quietly(reference.fit_predict_proba, frame.rename(columns={"annotator": "worker"}))
    ours = aggregate.majority_vote(frame)
    top = probas.loc[ours.labels.index]
    np.testing.assert_allclose(ours.confidence.to_numpy(), top.max(axis=1).to_numpy())
    # crowd-kit breaks ties by column order of a value count; compare where there is no tie.
    untied = (top.eq(top.max(axis=1), axis=0).sum(axis=1) == 1).to_numpy()
    assert untied.sum() > 0.5 * untied.size
    assert (ours.labels[untied] == reference.labels_[ours.labels.index][untied]).all()
