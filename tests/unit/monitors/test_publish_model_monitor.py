"""Model Monitor compatibility in CloudWatch: its bare metric names with Endpoint and MonitoringSchedule in its own
namespace (only when asked), behind the label-coverage gate; realized-only constraints alert as realized values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelwatch.monitors.mm_model_quality import KIND_MODEL_MONITOR
from modelwatch.monitors.performance import PerformanceMonitor
from modelwatch.monitors.results import ResultRow
from tests.unit.workflow.helpers import model_config

START = datetime(2026, 3, 2, tzinfo=UTC)
CONSTRAINTS = {"f2": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}}


def _row(metric: str, kind: str, value: float, coverage: float = 1.0, alert: bool = False) -> ResultRow:
    return ResultRow(
        monitor="performance",
        metric=metric,
        kind=kind,
        chunk_start=START,
        chunk_end=START + timedelta(hours=1),
        value=value,
        lower_bound=None,
        upper_bound=None,
        lower_threshold=0.9 if kind == "realized" else None,
        upper_threshold=None,
        alert=alert,
        label_coverage=coverage,
        rows=2500,
    )


def _monitor(**model_monitor: object) -> PerformanceMonitor:
    config = model_config("churn")
    data = config.model_dump(mode="json")
    data["estimation"]["model_monitor"] = {"constraints": CONSTRAINTS, **model_monitor}
    return PerformanceMonitor(type(config).model_validate(data))


def test_model_monitor_metrics_carry_its_names_dimensions_and_namespace() -> None:
    # Given a chunk's Model Monitor rows, the f2 constraint's realized row in alert, and its statistics row
    rows = [
        _row("accuracy", KIND_MODEL_MONITOR, 0.94),
        _row("f2", KIND_MODEL_MONITOR, 0.88),
        _row("statistics", KIND_MODEL_MONITOR, 2500.0),
        _row("f2", "realized", 0.88, alert=True),
    ]

    # When the model asks for Model Monitor's metrics
    out = _monitor(metrics=True, monitoring_schedule="churn-mq").publish(rows, {})

    # Then each scalar metric goes out under its bare name in Model Monitor's namespace with its two dimensions
    mm = [p for p in out.points if p.namespace == "aws/sagemaker/Endpoints/model-metrics"]
    assert [(p.metric_name, p.value) for p in mm] == [("accuracy", 0.94), ("f2", 0.88)]
    assert all(p.dimensions == (("Endpoint", "ep-churn"), ("MonitoringSchedule", "churn-mq")) for p in mm)
    assert len({(p.series, p.ledger_metric) for p in mm}) == 2
    # and the realized-only constraint is a realized Performance value and an alert in modelwatch's own namespace
    own = [p for p in out.points if p.namespace is None]
    assert [(p.metric_name, dict(p.dimensions)["Metric"], dict(p.dimensions)["Kind"]) for p in own] == [
        ("Performance", "f2", "realized")
    ]
    assert out.alerts == [rows[3]]


def test_model_monitor_metrics_are_opt_in_restricted_by_name_and_gated_by_coverage() -> None:
    rows = [_row("accuracy", KIND_MODEL_MONITOR, 0.94), _row("f2", KIND_MODEL_MONITOR, 0.88, coverage=0.2)]

    # Given the default config (no Model Monitor metrics), then none goes out
    assert _monitor().publish(rows, {}).points == []

    # Given only f2 asked for on a chunk with 20 % label coverage, then it is held back with the reason
    out = _monitor(metrics=True, metric_names=["f2"]).publish(rows, {})
    assert out.points == [] and [g.point.metric_name for g in out.gated] == ["f2"]
    assert "below min_label_coverage" in out.gated[0].reason
    # and the schedule dimension defaults to <model>-model-quality
    assert dict(out.gated[0].point.dimensions)["MonitoringSchedule"] == "churn-model-quality"


def test_a_batch_transform_model_publishes_in_the_batch_namespace_by_schedule() -> None:
    # Given a batch transform model asking for Model Monitor's metrics
    config = model_config("churn")
    data = config.model_dump(mode="json")
    data["batch_transform"] = {"capture": "s3://capture/datacapture/churn-batch"}
    data["estimation"]["model_monitor"] = {"metrics": True}
    monitor = PerformanceMonitor(type(config).model_validate(data))

    # When a chunk's accuracy is published, then it goes to Model Monitor's batch namespace by schedule only
    (point,) = monitor.publish([_row("accuracy", KIND_MODEL_MONITOR, 0.94)], {}).points
    assert point.namespace == "aws/sagemaker/ModelMonitoring/model-metrics"
    assert point.dimensions == (("MonitoringSchedule", "churn-model-quality"),)
