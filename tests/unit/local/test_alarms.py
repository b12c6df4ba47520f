"""CloudWatch's alarm rules as the local evaluator applies them: the documented missing-data tables, state alarms that
keep their state between runs, and the metric math the alarms use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelwatch_cli.local.adapter import Datapoint
from modelwatch_cli.local.alarms import ALARM, INSUFFICIENT, OK, AlarmEvaluator, aggregate, decide


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


# CloudWatch's documented examples ("How alarm state is evaluated when data is missing"): 5 datapoints retrieved,
# oldest first as the documentation writes them; 0 not breaching, X breaching, - missing.
_TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
_RETAIN = "retain"
DOCUMENTED = [
    # (DatapointsToAlarm, EvaluationPeriods, datapoints, states per treatment in _TREATMENTS order)
    (3, 3, "0 - X - X", (OK, OK, OK, OK)),
    (3, 3, "0 - - - -", (OK, OK, OK, OK)),
    (3, 3, "- - - - -", (INSUFFICIENT, _RETAIN, ALARM, OK)),
    (3, 3, "0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    (3, 3, "- - - - X", (INSUFFICIENT, _RETAIN, ALARM, OK)),
    (2, 3, "0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    (2, 3, "0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    (2, 3, "0 - X - -", (OK, OK, ALARM, OK)),
    (2, 3, "- - - - 0", (OK, OK, ALARM, OK)),
    (2, 3, "- - - - X", (INSUFFICIENT, _RETAIN, ALARM, OK)),
]


@pytest.mark.parametrize(("needed", "periods", "points", "states"), DOCUMENTED)
@pytest.mark.parametrize("current", [OK, ALARM])
def test_the_documented_missing_data_tables(
    needed: int, periods: int, points: str, states: tuple[str, ...], current: str
) -> None:
    # Given the documentation's datapoints (oldest first) as the evaluation range (newest first)
    values: list[float | None] = [{"0": 0.0, "X": 2.0, "-": None}[p] for p in reversed(points.split())]
    for treat, expected in zip(_TREATMENTS, states, strict=True):
        alarm = _alarm(EvaluationPeriods=periods, DatapointsToAlarm=needed, TreatMissingData=treat)
        # When the alarm is evaluated, then its state is the documented one
        assert decide(values, alarm, current)[0] == (current if expected == _RETAIN else expected), (treat, points)


def _evaluator(points: list[Datapoint], alarm: dict[str, Any]) -> tuple[AlarmEvaluator, list[dict[str, Any]]]:
    published: list[dict[str, Any]] = []

    class _Cloudwatch:
        def get_paginator(self, _name: str) -> Any:
            class _Pages:
                def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
                    return [{"MetricAlarms": [alarm]}]

            return _Pages()

        def set_alarm_state(self, **_kwargs: Any) -> None:
            return None

    class _Sns:
        def publish(self, **kwargs: Any) -> None:
            published.append(kwargs)

    return AlarmEvaluator(_Cloudwatch(), _Sns(), lambda: points, lambda *_: None, "us-east-1", "1"), published


NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _at(minutes_ago: float, value: float, name: str = "M", dims: tuple[tuple[str, str], ...] = ()) -> Datapoint:
    when = NOW - timedelta(minutes=minutes_ago)
    return Datapoint("N", name, dims, when, (value,), value, 1.0, value, value)


def _state_alarm() -> dict[str, Any]:
    return {
        "AlarmName": "state",
        "Namespace": "N",
        "MetricName": "M",
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "ignore",
        "AlarmActions": ["arn:aws:sns:us-east-1:1:alarms"],
        "OKActions": ["arn:aws:sns:us-east-1:1:alarms"],
    }


def test_a_state_alarm_follows_the_latest_value_and_keeps_it_between_runs() -> None:
    # Given one-minute periods, TreatMissingData ignore, and a run that published 1 just now
    points = [_at(0, 1.0)]
    evaluator, published = _evaluator(points, _state_alarm())

    # When it is evaluated now, an hour later and a day later (no run in between), then it goes ALARM once
    assert [t.new_state for t in evaluator.evaluate(NOW)] == [ALARM]
    assert evaluator.evaluate(NOW + timedelta(hours=1)) == []
    assert evaluator.evaluate(NOW + timedelta(days=1)) == []
    assert evaluator.states["state"] == ALARM and len(published) == 1

    # And a later run's 0 brings it back to OK, once
    points.append(_at(-24 * 60 - 5, 0.0))
    assert [t.new_state for t in evaluator.evaluate(NOW + timedelta(days=1, minutes=5))] == [OK]
    message = json.loads(published[-1]["Message"])
    assert (message["OldStateValue"], message["NewStateValue"]) == (ALARM, OK)


def test_metric_math_fill_judges_silence_at_once() -> None:
    # Given "no heartbeat for two 15-minute periods" as FILL(m, 0) < 1, 2 of 2, and a heartbeat 20 minutes ago
    alarm = {
        "AlarmName": "stalled",
        "Metrics": [
            {
                "Id": "m",
                "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 900, "Stat": "Sum"},
                "ReturnData": False,
            },
            {"Id": "e", "Expression": "FILL(m, 0)", "ReturnData": True},
        ],
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 1.0,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
    }
    evaluator, _ = _evaluator([_at(20, 1.0)], alarm)

    # When evaluated now, the heartbeat is in the second period: OK; 10 minutes later both periods are empty: ALARM
    assert evaluator.values(alarm, [_at(20, 1.0)], NOW) == [0.0, 1.0, 0.0, 0.0]
    assert [t.new_state for t in evaluator.evaluate(NOW)] == [OK]
    assert [t.new_state for t in evaluator.evaluate(NOW + timedelta(minutes=10))] == [ALARM]


def test_metric_math_arithmetic_and_division_by_zero() -> None:
    # Given the quarantine share q / (q + d) over hours with and without records
    queries = [
        {"Id": "q", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Q"}, "Period": 3600, "Stat": "Sum"}},
        {"Id": "d", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "D"}, "Period": 3600, "Stat": "Sum"}},
        {"Id": "e", "Expression": "FILL(q, 0) / (FILL(q, 0) + FILL(d, 0))"},
    ]
    for query in queries[:2]:
        query["ReturnData"] = False
    alarm = {"AlarmName": "q", "Metrics": queries, "EvaluationPeriods": 1}
    evaluator, _ = _evaluator([], alarm)
    points = [_at(10, 3.0, "Q"), _at(10, 7.0, "D"), _at(70, 5.0, "D")]

    # Then the latest hour's share is 0.3, the hour before 0.0, and hours without records have no value
    assert evaluator.values(alarm, points, NOW) == [0.3, 0.0, None]
