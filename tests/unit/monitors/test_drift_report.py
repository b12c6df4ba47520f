"""The drift section of the report puts forward only the features a drift alert names (#20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from modelwatch.monitors.drift import KIND_UNIVARIATE, MONITOR, DriftMonitor
from modelwatch.monitors.results import conform
from tests.unit.workflow.helpers import model_config

START = datetime(2026, 3, 2, tzinfo=UTC)


def _table(alerting: set[str]) -> pd.DataFrame:
    rows = [
        {
            "monitor": MONITOR, "kind": KIND_UNIVARIATE, "metric": "jensen_shannon", "feature": feature,
            "chunk_key": str(hour), "chunk_index": hour, "chunk_start": START + timedelta(hours=hour),
            "chunk_end": START + timedelta(hours=hour + 1), "rows": 100, "labelled_rows": 0,
            "value": 0.3 if feature in alerting else 0.01, "upper_threshold": 0.1, "alert": feature in alerting,
        }
        for hour in range(3)
        for feature in ("x", "y")
    ]  # fmt: skip
    return conform(pd.DataFrame(rows))


def _titles(alerting: set[str]) -> list[str]:
    monitor = DriftMonitor(model_config())
    table = _table(alerting)
    return [section.title for section in monitor.report(table, monitor.summarise(table))]


def test_without_a_drift_alert_no_feature_is_put_forward() -> None:
    assert "Drift of the top features" not in _titles(set())
    assert "Drift of every feature" in _titles(set())  # the overview stays


def test_the_top_features_plot_shows_the_features_in_alert_only() -> None:
    monitor = DriftMonitor(model_config())
    table = _table({"y"})
    summary = monitor.summarise(table)
    assert summary["top_drifting_features"] == ["y"]
    (section,) = [s for s in monitor.report(table, summary) if s.title == "Drift of the top features"]
    figure = section.figure()
    assert {trace.name for trace in figure.data if trace.name in ("x", "y")} == {"y"}
