"""Published worked examples (shared/qa-reference) reproduced by `qa.metrics` and `qa.aggregate`.

Two sources are checked independently: the flattened `expected_published.json` (every check in
it) and the per-case files in `cases/`, whose original matrices (reliability data, contingency
and count tables, rater columns) are rebuilt into long frames here, so a transcription slip in
either representation would show. bbox / span cases belong to another module and are skipped.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pytest

from qa import aggregate, metrics

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "percent_agreement": metrics.percent_agreement,
    "cohen_kappa": metrics.cohen_kappa,
    "fleiss_kappa": metrics.fleiss_kappa,
    "krippendorff_alpha": metrics.krippendorff_alpha,
    "dawid_skene": aggregate.dawid_skene,
    "majority_vote": aggregate.majority_vote,
}
# Dawid & Skene's observer 1 examined every patient three times: one annotator, several rows
# per task. The contract rejects that by default; the aggregators accept it when told to.
REPEATED_TABLES = {"dawid_skene_1979_anaesthetists/long_all_315"}
# Published keys of cases/*.json that the public API computes, and how.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "alpha_nominal": ("krippendorff_alpha", {"level": "nominal"}),
    "alpha_ordinal": ("krippendorff_alpha", {"level": "ordinal"}),
    "alpha_interval": ("krippendorff_alpha", {"level": "interval"}),
    "alpha_ratio": ("krippendorff_alpha", {"level": "ratio"}),
    "fleiss_kappa": ("fleiss_kappa", {}),
    "scott_pi": ("fleiss_kappa", {}),  # Fleiss' kappa of two raters is Scott's pi
    "cohen_kappa": ("cohen_kappa", {}),
    "weighted_kappa_linear": ("cohen_kappa", {"weights": "linear"}),
    "weighted_kappa_quadratic": ("cohen_kappa", {"weights": "quadratic"}),
    "percent_agreement": ("percent_agreement", {}),
    "observed_agreement": ("percent_agreement", {}),
    "observed_agreement_P_bar": ("percent_agreement", {}),
}
OUT_OF_SCOPE = {"iou", "span_f1"}


def test_published_check(published_check: dict[str, Any], published_table: Callable[[str], pd.DataFrame]) -> None:
    check = published_check
    frame = published_table(check["table"])
    fn = FUNCTIONS[check["fn"]]
    if check["kind"] == "value":
        assert fn(frame, **check["kwargs"]) == pytest.approx(check["expected"], abs=check["tol"], rel=0)
    elif check["kind"] == "raises":
        assert check["exc"] == "ValueError"
        with pytest.raises(ValueError):
            fn(frame, **check["kwargs"])
    elif check["kind"] == "ds_labels":
        _check_dawid_skene(check, frame)
    elif check["kind"] == "mv":
        _check_majority_vote(frame, check["table"] in REPEATED_TABLES)
    else:
        pytest.fail(f"unknown check kind {check['kind']!r}")


def _check_dawid_skene(check: dict[str, Any], frame: pd.DataFrame) -> None:
    result = aggregate.dawid_skene(frame, **check["kwargs"], allow_repeats=check["table"] in REPEATED_TABLES)
    assert result.labels.to_dict() == check["dallascard_labels"]
    order = result.classes.get_indexer(check["labels_order"])
    for annotator, expected in check["confusion"].items():
        ours = result.confusion[annotator][np.ix_(order, order)]
        # rtol pins even the 1e-12 cells, which come from crowd-kit's 1e-10 probability floor.
        np.testing.assert_allclose(ours, np.array(expected), rtol=1e-6, atol=1e-15)


def _check_majority_vote(frame: pd.DataFrame, repeated: bool) -> None:
    result = aggregate.majority_vote(frame, allow_repeats=repeated)
    counts = frame.groupby(["task", "label"]).size().unstack(fill_value=0)
    top = counts.max(axis=1)
    tied = (counts.eq(top, axis=0)).sum(axis=1) > 1
    plain = counts.idxmax(axis=1)
    assert (result.labels[plain.index[~tied]] == plain[~tied]).all()
    # Ties go to the smallest label among the most voted.
    smallest = counts.eq(top, axis=0).apply(lambda row: min(row.index[row]), axis=1)
    assert (result.labels[tied[tied].index] == smallest[tied]).all()
    np.testing.assert_allclose(result.confidence[counts.index], top / counts.sum(axis=1))


@pytest.mark.parametrize("aggregator", [aggregate.majority_vote, aggregate.dawid_skene])
def test_repeated_rows_need_consent(aggregator: Callable[..., Any], published_table: Callable[[str], pd.DataFrame]) -> None:
    frame = published_table("dawid_skene_1979_anaesthetists/long_all_315")
    with pytest.raises(ValueError, match="duplicate \\(task, annotator\\)"):
        aggregator(frame)


def test_case_file(case_file: str, case: Callable[[str], dict[str, Any]]) -> None:
    data = case(case_file)
    if data.get("metric") in OUT_OF_SCOPE:
        pytest.skip(f"{data['metric']} cases are outside qa.metrics / qa.aggregate")
    if data.get("metric") in (None, "aggregation"):
        pytest.skip("Dawid-Skene data and results: covered by the test_dawid_skene_* tests below")
    failures, checked = [], 0
    for source, frame, key, expected, tol in _published_values(data):
        name, kwargs = CALLS[key]
        got = FUNCTIONS[name](frame, **kwargs)
        checked += 1
        if not abs(got - expected) <= tol:
            failures.append(f"{source}: {key} = {got!r}, published {expected} (tolerance {tol})")
    assert checked > 0, "no published value of this case maps to the API"
    assert not failures, "\n".join(failures)


def _published_values(data: dict[str, Any]) -> Iterator[tuple[str, pd.DataFrame, str, float, float]]:
    """(source, frame, key, expected, tolerance) for every published value the API computes."""
    for source, frame, expected in _frames_with_expectations(data):
        for key, value in expected.items():
            if key in CALLS:
                yield source, frame, key, float(value), _tolerance(data["tolerance"], key)


def _frames_with_expectations(data: dict[str, Any]) -> Iterator[tuple[str, pd.DataFrame, dict[str, Any]]]:
    expected = data.get("expected", {})
    flat = {key: value for key, value in expected.items() if not isinstance(value, (dict, list))}
    if "long" in data:
        yield "long", _long(data["long"]), flat
    for builder in (_from_reliability_matrix, _from_contingency, _from_counts_table, _from_vectors):
        frame = builder(data)
        if frame is not None:
            yield builder.__name__, frame, flat
    for name, variant in data.get("variants", {}).items():
        yield f"variant {name}", _long(variant["long"]), variant["expected"]
    for index, table in enumerate(data.get("tables", [])):
        yield f"table {index}", _counts_to_long(table["counts_table"]), table
    for pair, values in expected.items():
        if isinstance(values, dict) and "_vs_" in pair:
            yield pair, _raters_to_long(data["raters_columns"], pair.split("_vs_")), values
    if "per_subject_P_i" in expected:
        yield from _per_subject(data)


def _per_subject(data: dict[str, Any]) -> Iterator[tuple[str, pd.DataFrame, dict[str, Any]]]:
    frame = _counts_to_long(data["counts_table"])
    for subject, value in zip(frame["task"].unique(), data["expected"]["per_subject_P_i"]):
        yield f"subject {subject}", frame[frame["task"] == subject], {"percent_agreement": value}


def _tolerance(tolerance: float | dict[str, float], key: str) -> float:
    if isinstance(tolerance, dict):
        return float(tolerance[key])
    return float(tolerance)


def _long(rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "annotator", "label"])


def _from_reliability_matrix(data: dict[str, Any]) -> pd.DataFrame | None:
    matrix = data.get("reliability_matrix_observers_x_units")
    if matrix is None:
        return None
    return _long([(f"u{j}", f"o{i}", value) for i, row in enumerate(matrix)
                  for j, value in enumerate(row) if value is not None])


def _from_contingency(data: dict[str, Any]) -> pd.DataFrame | None:
    table = data.get("contingency")
    if table is None:
        return None
    labels = data.get("contingency_labels", list(range(len(table))))
    rows, item = [], 0
    for first, counts in zip(labels, table):
        for second, count in zip(labels, counts):
            for _ in range(count):
                rows += [(item, "A", first), (item, "B", second)]
                item += 1
    return _long(rows)


def _from_counts_table(data: dict[str, Any]) -> pd.DataFrame | None:
    return _counts_to_long(data["counts_table"]) if "counts_table" in data else None


def _from_vectors(data: dict[str, Any]) -> pd.DataFrame | None:
    if "y1" not in data:
        return None
    return _raters_to_long({"y1": data["y1"], "y2": data["y2"]}, ["y1", "y2"])


def _counts_to_long(table: list[list[int]]) -> pd.DataFrame:
    rows = []
    for subject, counts in enumerate(table):
        labels = np.repeat(np.arange(1, len(counts) + 1), counts)
        rows += [(f"s{subject + 1}", f"slot{slot}", int(label)) for slot, label in enumerate(labels)]
    return _long(rows)


def _raters_to_long(columns: dict[str, list[Any]], raters: list[str]) -> pd.DataFrame:
    return _long([(item, rater, value) for rater in raters for item, value in enumerate(columns[rater])])


def test_dawid_skene_matches_crowdkit_published_run(case: Callable[[str], dict[str, Any]],
                                                    published_table: Callable[[str], pd.DataFrame]) -> None:
    results = case("dawid_skene_1979_results")
    for name in ("long_all_315", "long_one_per_observer_225"):
        reference = results[f"crowdkit_{name}"]
        table = f"dawid_skene_1979_anaesthetists/{name}"
        ours = aggregate.dawid_skene(published_table(table), allow_repeats=table in REPEATED_TABLES)
        assert ours.labels.to_dict() == reference["ds_labels"]
        assert ours.iterations == reference["ds_iterations"]
        for label, prior in reference["ds_priors"].items():
            assert ours.priors[int(label)] == pytest.approx(prior, abs=5e-5)
        for annotator, diagonal in reference["ds_confusion_diag"].items():
            for label, value in diagonal.items():
                row = ours.classes.get_loc(int(label))
                assert ours.confusion[annotator][row, row] == pytest.approx(value, abs=5e-5)


def test_dawid_skene_close_to_dallascard_reference(case: Callable[[str], dict[str, Any]],
                                                   published_table: Callable[[str], pd.DataFrame]) -> None:
    # dallascard's implementation runs 15 EM rounds where crowd-kit's stopping rule (which we
    # follow) stops after 4, so estimates agree to the file's 0.03, not to print precision.
    reference = case("dawid_skene_1979_results")["dallascard_reference"]
    ours = aggregate.dawid_skene(published_table("dawid_skene_1979_anaesthetists/long_all_315"), allow_repeats=True)
    assert ours.labels.to_dict() == reference["labels"]
    for label, share in reference["class_marginals"].items():
        assert ours.priors[int(label)] == pytest.approx(share, abs=1e-3)
    for annotator, diagonal in reference["error_rate_diag"].items():
        for label, value in diagonal.items():
            row = ours.classes.get_loc(int(label))
            assert ours.confusion[annotator][row, row] == pytest.approx(value, abs=0.03)
    posteriors = ours.posteriors.loc[list(reference["posteriors"])].to_numpy()
    np.testing.assert_allclose(posteriors, np.array(list(reference["posteriors"].values())), atol=0.03)


def test_majority_vote_matches_crowdkit_published_run(case: Callable[[str], dict[str, Any]],
                                                      published_table: Callable[[str], pd.DataFrame]) -> None:
    results = case("dawid_skene_1979_results")
    for name in ("long_all_315", "long_one_per_observer_225"):
        table = f"dawid_skene_1979_anaesthetists/{name}"
        ours = aggregate.majority_vote(published_table(table), allow_repeats=table in REPEATED_TABLES)
        decided = ours.confidence > 0.5  # a strict majority cannot be a tie
        expected = pd.Series(results[f"crowdkit_{name}"]["mv_labels"])
        assert (ours.labels[decided] == expected[decided.index[decided]]).all()
