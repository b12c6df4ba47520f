"""DLE (LightGBM) results are reproducible run to run."""

from __future__ import annotations

import pandas as pd

from modelwatch.analysis import RunRequest, run_monitor
from modelwatch.lake.store import LocalStore

from .cases import LATE, Case
from .helpers import assert_same_fits


def test_two_fresh_dle_runs_store_identical_results(regression_case: Case, tmp_path) -> None:
    # Given two separate lakes (no shared cache): both runs fit DLE's LightGBM models from scratch
    estimation = regression_case.config.estimation.model_copy(update={"metrics": ["mae", "rmse"]})
    config = regression_case.config.model_copy(update={"estimation": estimation})
    outcomes = [
        run_monitor(
            config,
            regression_case.reference,
            regression_case.captures,
            regression_case.labels,
            RunRequest(config.name, "r1"),
            LocalStore(tmp_path / name),
            LATE,
        )
        for name in ("a", "b")
    ]

    # Then both fitted, and every stored number is bit-for-bit the same (but the data-quality distances from the
    # suggested baseline's KLL sketches, randomised by design: within the sketch's rank error)
    assert [o.estimator_cache for o in outcomes] == ["fit", "fit"]
    first, second = (pd.read_parquet(o.results_uri) for o in outcomes)
    assert len(first.loc[first["monitor"] == "performance"]) == 2 * 2 * 8  # metrics x kinds x chunks
    assert_same_fits(first, second)
