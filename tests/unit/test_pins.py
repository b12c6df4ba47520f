"""Regression tests for the numeric stack's pins: nannyml 0.13.1 needs pandas<3 and an undeclared statsmodels."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.helpers import ROOT

LOCKS = [ROOT / "requirements" / "dev.lock", ROOT / "functions" / "analyse" / "requirements.txt"]


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and "==" in line:
            requirement = Requirement(line)
            pins[re.sub(r"[-_.]+", "-", requirement.name).lower()] = Version(next(iter(requirement.specifier)).version)
    return pins


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_locks_pin_pandas_below_3_and_include_statsmodels(lock: Path) -> None:
    pins = _pins(lock)
    assert pins["nannyml"] == Version("0.13.1")
    assert Version("2.2") <= pins["pandas"] < Version("3"), "nannyml 0.13.1's DLE breaks on pandas 3 string columns"
    assert "statsmodels" in pins, "nannyml imports statsmodels without declaring it"


def test_installed_versions_match_the_lock() -> None:
    pins = _pins(LOCKS[0])
    for name in ("nannyml", "pandas", "statsmodels"):
        assert Version(importlib.metadata.version(name)) == pins[name], name


def test_dle_runs_on_string_categorical_columns() -> None:
    # Given car-price data whose categorical features are plain strings (what broke under pandas 3)
    import nannyml as nml

    reference, analysis, _ = nml.load_synthetic_car_price_dataset()
    reference, analysis = reference.head(3000).copy(), analysis.head(3000).copy()
    for frame in (reference, analysis):
        frame["fuel"] = frame["fuel"].astype(str)
        frame["transmission"] = frame["transmission"].astype(str)
    features = ["car_age", "km_driven", "price_new", "accident_count", "door_count", "fuel", "transmission"]
    # When DLE is fitted and estimates (statsmodels must be importable for nannyml to load at all)
    estimator = nml.DLE(
        feature_column_names=features,
        y_pred="y_pred",
        y_true="y_true",
        metrics=["mae"],
        chunk_size=1000,
        tune_hyperparameters=False,
        hyperparameters={"verbosity": -1, "deterministic": True, "force_row_wise": True, "random_state": 0},
    )
    estimator.fit(reference)
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    # Then every chunk has a finite estimate
    values = result[("mae", "value")]
    assert len(values) == 3 and values.notna().all()
