"""Shared fixtures for the `qa` analytics tests: frame builders, published cases, reference libs.

Helpers are exposed as fixtures (not imported) so the tests work under any pytest import mode.
The published worked examples live in ``shared/qa-reference`` beside the repository; tests that
need them skip, saying so, when that folder is absent.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import pytest

# tests/unit/qa/conftest.py -> parents[3] is the repository root; shared/ sits beside it.
REFERENCE_DIR = (Path(__file__).resolve().parents[3] / "../shared/qa-reference").resolve()
ABSENT = f"published reference data not found at {REFERENCE_DIR} (shared/qa-reference is absent)"


def _read(name: str) -> Any:
    with (REFERENCE_DIR / name).open(encoding="utf-8") as handle:
        return json.load(handle)


def _frame(rows: Iterable[Iterable[Any]]) -> pd.DataFrame:
    return pd.DataFrame([tuple(row) for row in rows], columns=["task", "annotator", "label"])


def _quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # Reference libraries emit pandas-3 deprecation warnings; -W error must only catch ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _reference_lib(name: str) -> Any:
    return _quietly(pytest.importorskip, name, reason=f"reference library {name!r} is not installed")


def _crowd(seed: int, n_tasks: int = 1500, n_annotators: int = 40, per_task: int = 5,
           n_classes: int = 4, spammers: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    """Seeded crowd labels with known truth: annotators of varied accuracy plus some spammers."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, size=n_tasks)
    accuracy = rng.uniform(0.5, 0.95, size=n_annotators)
    accuracy[:spammers] = 1.0 / n_classes
    chosen = np.array([rng.choice(n_annotators, per_task, replace=False) for _ in range(n_tasks)])
    task = np.repeat(np.arange(n_tasks), per_task)
    annotator = chosen.ravel()
    correct = rng.random(task.size) < accuracy[annotator]
    noise = (truth[task] + rng.integers(1, n_classes, size=task.size)) % n_classes
    label = np.where(correct, truth[task], noise)
    return pd.DataFrame({"task": task, "annotator": annotator, "label": label}), truth


@pytest.fixture(scope="session")
def make_frame() -> Callable[[Iterable[Iterable[Any]]], pd.DataFrame]:
    """Build a long-format frame from (task, annotator, label) triples."""
    return _frame


@pytest.fixture(scope="session")
def quietly() -> Callable[..., Any]:
    return _quietly


@pytest.fixture(scope="session")
def reference_lib() -> Callable[[str], Any]:
    """Import a test-only reference library (krippendorff, statsmodels, sklearn, crowdkit)."""
    return _reference_lib


@pytest.fixture(scope="session")
def crowd() -> Callable[..., tuple[pd.DataFrame, np.ndarray]]:
    return _crowd


@pytest.fixture(scope="session")
def published() -> dict[str, Any]:
    """expected_published.json: {"tables": {name: rows}, "checks": [...]}."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(ABSENT)
    return _read("expected_published.json")


@pytest.fixture(scope="session")
def published_table(published: dict[str, Any]) -> Callable[[str], pd.DataFrame]:
    return lambda name: _frame(published["tables"][name])


@pytest.fixture(scope="session")
def case() -> Callable[[str], dict[str, Any]]:
    """Load one file of cases/ by its stem."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(ABSENT)
    return lambda stem: _read(f"cases/{stem}.json")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `published_check` over expected_published.json, `case_file` over cases/."""
    if "published_check" in metafunc.fixturenames:
        checks = _read("expected_published.json")["checks"] if REFERENCE_DIR.is_dir() else []
        params = [pytest.param(check, id=check["name"]) for check in checks]
        metafunc.parametrize("published_check", params or [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT))])
    if "case_file" in metafunc.fixturenames:
        stems = sorted(p.stem for p in REFERENCE_DIR.glob("cases/*.json")) if REFERENCE_DIR.is_dir() else []
        params = [pytest.param(stem, id=stem) for stem in stems]
        metafunc.parametrize("case_file", params or [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT))])
