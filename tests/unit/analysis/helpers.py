"""Direct nannyml computations to compare stored results against, and small test utilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelwatch.lake.store import LocalStore
from modelwatch.monitors.nml import DLE_HYPERPARAMETERS, seeded_fit

from .cases import Case

FIELDS_ESTIMATED = (
    "value",
    "sampling_error",
    "upper_confidence_boundary",
    "lower_confidence_boundary",
    "upper_threshold",
    "lower_threshold",
)
FIELDS_REALIZED = ("value", "sampling_error", "upper_threshold", "lower_threshold")


def direct_estimated(case: Case, analysis: pd.DataFrame | None = None) -> pd.DataFrame:
    """nannyml's own CBPE/DLE with hourly PeriodBasedChunker on the dataset as shipped (target left out)."""
    import nannyml as nml

    common = {
        "y_pred": "y_pred",
        "y_true": case.target,
        "timestamp_column_name": "timestamp",
        "metrics": case.config.metrics,
        "chunk_period": "h",
    }
    if case.nannyml["problem_type"] == "regression":
        estimator = nml.DLE(
            feature_column_names=case.config.feature_names,
            hyperparameters=dict(DLE_HYPERPARAMETERS),
            tune_hyperparameters=False,
            **common,
        )
    else:
        estimator = nml.CBPE(
            problem_type=case.nannyml["problem_type"], y_pred_proba=case.nannyml["y_pred_proba"], **common
        )
    seeded_fit(estimator, case.reference)  # nannyml's AP sampling error bootstraps with numpy's global state
    data = case.direct_analysis if analysis is None else analysis
    return estimator.estimate(data).filter(period="analysis").to_df()


def direct_realized(case: Case, labels: pd.DataFrame) -> pd.DataFrame:
    """nannyml's own PerformanceCalculator on the analysis rows joined with `labels` (id, target)."""
    import nannyml as nml

    kwargs: dict[str, Any] = {}
    if "y_pred_proba" in case.nannyml:
        kwargs["y_pred_proba"] = case.nannyml["y_pred_proba"]
    calculator = seeded_fit(
        nml.PerformanceCalculator(
            problem_type=case.nannyml["problem_type"],
            y_pred="y_pred",
            y_true=case.target,
            timestamp_column_name="timestamp",
            metrics=case.config.metrics,
            chunk_period="h",
            **kwargs,
        ),
        case.reference,
    )
    data = case.direct_analysis.drop(columns=[case.target], errors="ignore").merge(labels, on="id", how="left")
    return calculator.calculate(data).filter(period="analysis").to_df()


def read_results(store: LocalStore, uri: str) -> pd.DataFrame:
    return pd.read_parquet(uri)


def assert_matches(
    stored: pd.DataFrame, direct: pd.DataFrame, metrics: list[str], kind: str, fields: tuple[str, ...]
) -> int:
    """Every stored value of `kind` equals nannyml's (1e-9), alerts identical; returns the number of alerts."""
    rows = stored[stored["kind"] == kind]
    direct_starts = pd.to_datetime(direct[("chunk", "start_date")]).reset_index(drop=True)
    alerts = 0
    for metric in metrics:
        mine = rows[rows["metric"] == metric].sort_values("chunk_start").reset_index(drop=True)
        starts = mine["chunk_start"].dt.tz_convert("UTC").dt.tz_localize(None)
        assert list(starts) == list(direct_starts), f"{kind} {metric}: chunk starts differ"
        for field in fields:
            np.testing.assert_allclose(
                mine[field].to_numpy(dtype=float),
                direct[(metric, field)].to_numpy(dtype=float),
                rtol=0,
                atol=1e-9,
                equal_nan=True,
                err_msg=f"{kind} {metric} {field}",
            )
        expected_alerts = direct[(metric, "alert")].fillna(False).astype(bool).to_numpy()
        assert mine["alert"].to_numpy(dtype=bool).tolist() == expected_alerts.tolist(), f"{kind} {metric} alert"
        alerts += int(expected_alerts.sum())
    return alerts


def assert_same_fits(first: pd.DataFrame, second: pd.DataFrame) -> None:
    """Results of two separate fits are equal bit for bit, except the data-quality monitor's distances from its
    suggested baseline: KLL sketches are randomised (DataSketches', like deequ's in Model Monitor), so two fits on
    the same reference agree within twice the sketch's normalized rank error, not exactly (alerts and texts too
    may differ right at a threshold). Within one lake a suggested baseline is kept across refits."""
    from datasketches import kll_doubles_sketch

    from modelwatch.monitors.mm_baseline import KLL_K

    def sketched(table: pd.DataFrame) -> pd.Series:
        return (table["monitor"] == "data_quality") & (table["metric"] == "baseline_drift_check")

    first, second = first.reset_index(drop=True), second.reset_index(drop=True)
    pd.testing.assert_frame_equal(first.loc[~sketched(first)], second.loc[~sketched(second)], check_exact=True)
    tolerance = 2 * kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
    a, b = first.loc[sketched(first)], second.loc[sketched(second)]
    assert list(zip(a["chunk_key"], a["feature"], strict=True)) == list(zip(b["chunk_key"], b["feature"], strict=True))
    assert np.allclose(a["value"].to_numpy(), b["value"].to_numpy(), rtol=0, atol=tolerance, equal_nan=True)
