"""Stored estimated and realized values equal nannyml's own results (1e-9), alerts and thresholds included."""

from __future__ import annotations

import pandas as pd
import pytest

from modelwatch.analysis import RunRequest, run_monitor
from modelwatch.lake.store import LocalStore

from .cases import LATE, Case
from .helpers import FIELDS_ESTIMATED, FIELDS_REALIZED, assert_matches, direct_estimated, direct_realized

CASES = ["binary_case", "multiclass_case", "regression_case"]


def _partial_labels(case: Case) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels for the first 5 hours, half of the 6th, none after: lake rows and nannyml's (id, target) view."""
    keep = case.direct_analysis["id"].iloc[: int(2_500 * 5.5)]
    direct = case.direct_labels[case.direct_labels["id"].isin(keep)]
    lake = case.labels[case.labels["inference_id"].isin("inf-" + keep.astype(str))]
    return lake, direct


@pytest.mark.parametrize("case_name", CASES)
def test_stored_results_equal_nannyml(case_name: str, request: pytest.FixtureRequest, tmp_path) -> None:
    # Given a dataset as lake rows, with labels for part of the window
    case: Case = request.getfixturevalue(case_name)
    lake_labels, direct_labels = _partial_labels(case)
    store = LocalStore(tmp_path)

    # When the monitor runs over the whole window
    outcome = run_monitor(
        case.config, case.reference, case.captures, lake_labels, RunRequest(case.config.name, "r1"), store, LATE
    )

    # Then every stored value equals nannyml's own computation on the same data and chunking
    stored = pd.read_parquet(outcome.results_uri)
    estimated = direct_estimated(case)
    assert outcome.chunks_analysed == len(estimated) == 8
    alerts = assert_matches(stored, estimated, case.config.metrics, "estimated", FIELDS_ESTIMATED)
    realized = direct_realized(case, direct_labels)
    realized = realized[realized[("chunk", "targets_missing_rate")] < 1.0]
    assert len(realized) == 6
    alerts += assert_matches(stored, realized, case.config.metrics, "realized", FIELDS_REALIZED)
    assert outcome.alerts_total == alerts
    # and label coverage and the estimation error are recorded per chunk
    coverage = [c["coverage"] for c in outcome.label_coverage]
    assert coverage == [1.0] * 5 + [0.5, 0.0, 0.0]
    both = stored.pivot_table(index=["chunk_start", "metric"], columns="kind", values="value")
    error = stored[stored["kind"] == "estimated"].set_index(["chunk_start", "metric"])["estimation_error"].dropna()
    pd.testing.assert_series_equal(
        error.sort_index(), (both["estimated"] - both["realized"]).dropna().sort_index(), check_names=False
    )
