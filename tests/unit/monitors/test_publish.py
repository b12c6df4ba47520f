"""What each monitor publishes from its rows: performance behind the label-coverage gate, drift counts and rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelwatch.monitors.drift import DriftMonitor
from modelwatch.monitors.performance import PerformanceMonitor
from modelwatch.monitors.results import ResultRow
from modelwatch.publishing.datapoints import to_datapoint
from tests.unit.workflow.helpers import model_config

START = datetime(2026, 3, 2, tzinfo=UTC)


def _row(monitor: str, metric: str, kind: str, value: float, alert: bool = False, **extra: object) -> ResultRow:
    fields: dict[str, object] = {
        "monitor": monitor,
        "metric": metric,
        "kind": kind,
        "chunk_start": START,
        "chunk_end": START + timedelta(hours=1),
        "value": value,
        "lower_bound": value - 0.01 if kind == "estimated" else None,
        "upper_bound": value + 0.01 if kind == "estimated" else None,
        "lower_threshold": 0.95,
        "upper_threshold": 1.0,
        "alert": alert,
        "label_coverage": 1.0,
        "rows": 2500,
        **extra,
    }
    return ResultRow(**fields)  # type: ignore[arg-type]


def _monitor(kind: type, **estimation: object) -> object:
    config = model_config("m")
    return kind(config.model_copy(update={"estimation": config.estimation.model_copy(update=estimation)}))


def test_realized_values_wait_for_the_coverage_gate() -> None:
    # Given an estimate and a realized value on 40 % label coverage, the realized one in alert
    rows = [_row("performance", "roc_auc", "estimated", 0.97), _row("performance", "roc_auc", "realized", 0.96, True)]
    rows[1] = ResultRow(**{**rows[1].__dict__, "label_coverage": 0.4})

    # When the gate is 50 %, then the realized value and the error are held back, with the reason, and no alert
    gated = _monitor(PerformanceMonitor, min_label_coverage=0.5).publish(rows, {})  # type: ignore[attr-defined]
    assert [dict(p.dimensions)["Kind"] for p in gated.points] == [
        "estimated",
        "lower_confidence_bound",
        "upper_confidence_bound",
    ]
    assert [dict(g.point.dimensions)["Kind"] for g in gated.gated] == ["realized", "estimation_error"]
    assert all("below min_label_coverage 50.0%" in g.reason for g in gated.gated) and gated.alerts == []

    # When the gate is 40 %, then both are published and the realized alert counts
    passed = _monitor(PerformanceMonitor, min_label_coverage=0.4).publish(rows, {})  # type: ignore[attr-defined]
    error = next(p for p in passed.points if dict(p.dimensions)["Kind"] == "estimation_error")
    assert error.value == 0.97 - 0.96 and not passed.gated and passed.alerts == [rows[1]]
    # And the ledger versions a realized value with its coverage
    realized = next(to_datapoint(p) for p in passed.points if dict(p.dimensions)["Kind"] == "realized")
    assert realized.ledger_key == "realized#roc_auc#2026-03-02T00:00:00Z"


def test_drift_publishes_alert_counts_and_the_top_features_missing_rates() -> None:
    # Given two features in drift alert in one chunk, and missing rates of three features
    rows = [
        _row("drift", "jensen_shannon", "univariate", 0.3, True, feature="a"),
        _row("drift", "jensen_shannon", "univariate", 0.2, True, feature="b"),
        _row("drift", "jensen_shannon", "univariate", 0.01, False, feature="c"),
        *(_row("drift", "missing_rate", "data_quality", 0.1, feature=f) for f in ("a", "b", "c")),
    ]

    # When the drift monitor publishes them with "a" and "b" as the window's top features
    publication = _monitor(DriftMonitor).publish(rows, {"top_features": ["a", "b"]})  # type: ignore[attr-defined]

    # Then one count per chunk and the top features' rates, nothing else, and no alert of its own
    assert [(p.metric_name, dict(p.dimensions), p.timestamp, p.value) for p in publication.points] == [
        ("FeaturesInDriftAlert", {"Model": "m"}, START, 2.0),
        ("MissingValueRate", {"Model": "m", "Feature": "a"}, START, 0.1),
        ("MissingValueRate", {"Model": "m", "Feature": "b"}, START, 0.1),
    ]
    assert publication.alerts == []
    # And nothing at all when the config turns drift metrics off
    assert _monitor(DriftMonitor, drift_metrics=False).publish(rows, {"top_features": ["a"]}).points == []  # type: ignore[attr-defined]


def test_drift_publishes_multivariate_and_output_drift_and_counts_features_once() -> None:
    # Given a feature in alert under two methods, an output's drift and the reconstruction error
    config = model_config("m")
    config = config.model_copy(
        update={"drift": config.drift.model_copy(update={"continuous_methods": ["jensen_shannon", "wasserstein"]})}
    )
    rows = [
        _row("drift", "jensen_shannon", "univariate", 0.3, True, feature="a"),
        _row("drift", "wasserstein", "univariate", 0.5, True, feature="a"),
        _row("drift", "jensen_shannon", "prediction", 0.2, True, feature="y_pred_proba"),
        _row("drift", "wasserstein", "prediction", 0.4, False, feature="y_pred_proba"),
        _row("drift", "reconstruction_error", "multivariate", 1.2, True),
    ]
    # When published
    publication = DriftMonitor(config).publish(rows, {"top_features": []})
    # Then the feature counts once, outputs drift by the first method, and the reconstruction error is a series
    assert [(p.metric_name, dict(p.dimensions), p.value) for p in publication.points] == [
        ("FeaturesInDriftAlert", {"Model": "m"}, 1.0),
        ("MultivariateDriftError", {"Model": "m"}, 1.2),
        ("PredictionDrift", {"Model": "m", "Output": "y_pred_proba"}, 0.2),
    ]
    assert publication.alerts == []


def test_data_quality_publishes_model_monitors_metrics_in_its_namespace() -> None:
    # Given a chunk's checks and counts for feature "a", and a violation
    config = model_config("m")
    rows = [
        _row("data_quality", "baseline_drift_check", "constraint_check", 0.27, True, feature="a"),
        _row("data_quality", "completeness_check", "constraint_check", 0.9, False, feature="a"),
        _row("data_quality", "non_null", "counts", 2250.0, feature="a"),
        _row("data_quality", "null", "counts", 250.0, feature="a"),
        _row("data_quality", "missing_values_rate", "nannyml", 0.1, True, feature="a"),
    ]
    quality = config.data_quality.model_copy(
        update={"metric_features": ["a"], "metrics": ["feature_baseline_drift", "feature_non_null", "feature_null"]}
    )
    config = config.model_copy(update={"data_quality": quality})
    # When published
    from modelwatch.monitors.data_quality import DataQualityMonitor

    publication = DataQualityMonitor(config).publish(rows, {})
    # Then the violation count, and Model Monitor's metric names with its dimensions, in its namespace
    got = [(p.metric_name, dict(p.dimensions), p.value, p.namespace) for p in publication.points]
    dims = {"Endpoint": config.endpoint, "MonitoringSchedule": "m-data-quality", "Feature": "a"}
    namespace = "aws/sagemaker/Endpoints/data-metrics"
    assert got == [
        ("ConstraintViolations", {"Model": "m"}, 1.0, None),
        ("feature_baseline_drift_a", dims, 0.27, namespace),
        ("feature_non_null_a", dims, 2250.0, namespace),
        ("feature_null_a", dims, 250.0, namespace),
    ]
    assert publication.alerts == []  # violations are not notified
    # And no Model Monitor metric at all when the config names no family
    none = config.model_copy(update={"data_quality": quality.model_copy(update={"metrics": []})})
    assert [p.metric_name for p in DataQualityMonitor(none).publish(rows, {}).points] == ["ConstraintViolations"]
