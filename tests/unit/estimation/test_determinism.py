"""DLE (LightGBM) results are reproducible run to run."""

from __future__ import annotations

import pandas as pd

from modelwatch.estimation.service import RunRequest, run_monitor
from modelwatch.lake.store import LocalStore

from .cases import LATE, Case
from .helpers import direct_estimated


def test_two_fresh_dle_runs_store_identical_results(regression_case: Case, tmp_path) -> None:
    # Given two separate lakes (no shared cache): both runs fit DLE from scratch
    outcomes = [
        run_monitor(
            regression_case.config,
            regression_case.reference,
            regression_case.captures,
            regression_case.labels,
            RunRequest(regression_case.config.name, "r1"),
            LocalStore(tmp_path / name),
            LATE,
        )
        for name in ("a", "b")
    ]
    assert [o.estimator_cache for o in outcomes] == ["fit", "fit"]
    first, second = (pd.read_parquet(o.results_uri) for o in outcomes)
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_nannyml_dle_is_reproducible_with_our_hyperparameters(regression_case: Case) -> None:
    pd.testing.assert_frame_equal(
        direct_estimated(regression_case), direct_estimated(regression_case), check_exact=True
    )
