"""CloudWatch's alarm rules as the local evaluator applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelwatch_cli.local.adapter import Datapoint
from modelwatch_cli.local.alarms import ALARM, INSUFFICIENT, OK, aggregate, decide


def _alarm(**overrides: Any) -> dict[str, Any]:
    alarm = {"Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "EvaluationPeriods": 3}
    alarm.update(overrides)
    return alarm


def test_datapoints_to_alarm_m_of_n() -> None:
    assert decide([1.0, 0.0, 1.0], _alarm(DatapointsToAlarm=2), OK)[0] == ALARM
    assert decide([1.0, 0.0, 0.0], _alarm(DatapointsToAlarm=2), OK)[0] == OK
    assert decide([1.0, 1.0, 0.0], _alarm(), OK)[0] == OK  # default M = N = 3


def test_missing_data_treatments() -> None:
    empty: list[float | None] = [None, None, None]
    assert decide(empty, _alarm(), OK)[0] == INSUFFICIENT
    assert decide(empty, _alarm(TreatMissingData="notBreaching"), ALARM)[0] == OK
    assert decide(empty, _alarm(TreatMissingData="breaching"), OK)[0] == ALARM
    assert decide(empty, _alarm(TreatMissingData="ignore"), ALARM)[0] == ALARM
    assert decide([1.0, None, None], _alarm(TreatMissingData="breaching"), OK)[0] == ALARM


def test_comparisons() -> None:
    assert decide([0.5], _alarm(EvaluationPeriods=1, ComparisonOperator="LessThanThreshold"), OK)[0] == ALARM
    assert decide([1.0], _alarm(EvaluationPeriods=1, ComparisonOperator="GreaterThanThreshold"), OK)[0] == OK


def _point(value: float) -> Datapoint:
    return Datapoint("N", "M", (), datetime(2026, 1, 1, tzinfo=UTC), (value,), value, 1.0, value, value)


def test_statistics() -> None:
    points = [_point(1.0), _point(3.0)]
    assert aggregate(points, "Sum") == 4.0
    assert aggregate(points, "Average") == 2.0
    assert aggregate(points, "Maximum") == 3.0
    assert aggregate(points, "Minimum") == 1.0
    assert aggregate(points, "SampleCount") == 2.0
    assert aggregate([], "Sum") is None
