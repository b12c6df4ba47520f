"""Evaluate every CloudWatch alarm locally (moto never does) and send actions on state transitions via SNS."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelwatch_cli.local.adapter import Datapoint

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT = "INSUFFICIENT_DATA"

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}

# (alarm description from describe_alarms, window start, window end) -> datapoints, or None when not evaluable.
ServiceMetricSource = Callable[[dict[str, Any], datetime, datetime], list[Datapoint] | None]


@dataclass
class AlarmTransition:
    alarm_name: str
    old_state: str
    new_state: str
    reason: str
    time: datetime
    actions: list[str] = field(default_factory=list)


def aggregate(points: list[Datapoint], statistic: str) -> float | None:
    """One period's statistic over its datapoints (None when it has none)."""
    if not points:
        return None
    count = sum(p.stat_count for p in points)
    if statistic == "Sum":
        return sum(p.stat_sum for p in points)
    if statistic == "Maximum":
        return max(p.stat_max for p in points)
    if statistic == "Minimum":
        return min(p.stat_min for p in points)
    if statistic == "SampleCount":
        return count
    if statistic == "Average":
        return sum(p.stat_sum for p in points) / count if count else None
    raise ValueError(f"statistic {statistic} is not evaluated locally")


def decide(values: list[float | None], alarm: dict[str, Any], current: str) -> tuple[str, str]:
    """The alarm's new state from its evaluation periods' values (newest first), CloudWatch's rules."""
    threshold = float(alarm["Threshold"])
    compare = _COMPARE[alarm["ComparisonOperator"]]
    needed = int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])
    treat = alarm.get("TreatMissingData", "missing")
    present = [v for v in values if v is not None]
    breaching = sum(1 for v in present if compare(v, threshold))
    if treat == "breaching":
        breaching += len(values) - len(present)
    summary = f"{breaching} of {len(values)} periods breaching (threshold {threshold:g}, {needed} needed)"
    if breaching >= needed:
        return ALARM, summary
    if not present:
        if treat == "notBreaching":
            return OK, "no datapoints; treated as not breaching"
        if treat == "ignore":
            return current, "no datapoints; state kept (ignore)"
        if treat == "breaching":
            return OK, summary
        return INSUFFICIENT, "no datapoints in the evaluation periods"
    return OK, summary


class AlarmEvaluator:
    """Evaluates all alarms (`describe_alarms`, so per-model alarms too) at a given (simulated) time."""

    def __init__(
        self,
        cloudwatch: Any,
        sns: Any,
        datapoints: Callable[[], list[Datapoint]],
        service_metrics: ServiceMetricSource,
        region: str,
        account_id: str,
    ) -> None:
        self._cloudwatch = cloudwatch
        self._sns = sns
        self._datapoints = datapoints
        self._service_metrics = service_metrics
        self._region = region
        self._account_id = account_id
        self.states: dict[str, str] = {}  # CloudWatch starts every alarm in INSUFFICIENT_DATA (moto says OK)
        self.not_evaluable: dict[str, str] = {}
        self.transitions: list[AlarmTransition] = []

    def alarms(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for page in self._cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            result.extend(page.get("MetricAlarms", []))
        return result

    def evaluate(self, now: datetime) -> list[AlarmTransition]:
        points = self._datapoints()
        transitions: list[AlarmTransition] = []
        for alarm in self.alarms():
            transition = self._evaluate_one(alarm, points, now)
            if transition is not None:
                transitions.append(transition)
        self.transitions.extend(transitions)
        return transitions

    def _evaluate_one(self, alarm: dict[str, Any], points: list[Datapoint], now: datetime) -> AlarmTransition | None:
        name = alarm["AlarmName"]
        if alarm.get("Metrics") or "MetricName" not in alarm:
            self.not_evaluable[name] = "metric-math alarms are not evaluated locally"
            return None
        if "Statistic" not in alarm:
            self.not_evaluable[name] = "extended statistics are not evaluated locally"
            return None
        period = int(alarm["Period"])
        periods = int(alarm["EvaluationPeriods"])
        epoch = int(now.timestamp())
        end = datetime.fromtimestamp((epoch // period) * period + period, tz=UTC)
        start = end - timedelta(seconds=period * periods)
        dims = tuple(sorted((d["Name"], d["Value"]) for d in alarm.get("Dimensions", [])))
        if str(alarm["Namespace"]).startswith("AWS/"):
            source = self._service_metrics(alarm, start, end)
            if source is None:
                self.not_evaluable[name] = f"{alarm['Namespace']} {alarm['MetricName']} is not known locally"
                return None
            selected = [p for p in source if start <= p.timestamp < end]
        else:
            selected = [
                p
                for p in points
                if p.namespace == alarm["Namespace"]
                and p.metric_name == alarm["MetricName"]
                and p.dimensions == dims  # CloudWatch matches the exact dimension set
                and start <= p.timestamp < end
            ]
        values: list[float | None] = []
        for k in range(periods):
            window_end = end - timedelta(seconds=period * k)
            window_start = window_end - timedelta(seconds=period)
            value = aggregate([p for p in selected if window_start <= p.timestamp < window_end], alarm["Statistic"])
            values.append(None if value is None or math.isnan(value) else value)
        current = self.states.get(name, INSUFFICIENT)
        new_state, reason = decide(values, alarm, current)
        self.states[name] = new_state
        if new_state == current:
            return None
        self._cloudwatch.set_alarm_state(AlarmName=name, StateValue=new_state, StateReason=reason[:1023])
        actions = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT: "InsufficientDataActions"}[new_state]
        transition = AlarmTransition(name, current, new_state, reason, now, list(alarm.get(actions, [])))
        self._notify(alarm, transition)
        return transition

    def _notify(self, alarm: dict[str, Any], transition: AlarmTransition) -> None:
        message = {
            "AlarmName": transition.alarm_name,
            "AlarmDescription": alarm.get("AlarmDescription"),
            "AWSAccountId": self._account_id,
            "NewStateValue": transition.new_state,
            "NewStateReason": transition.reason,
            "StateChangeTime": transition.time.isoformat(),
            "Region": self._region,
            "AlarmArn": alarm.get("AlarmArn"),
            "OldStateValue": transition.old_state,
            "Trigger": {
                "MetricName": alarm["MetricName"],
                "Namespace": alarm["Namespace"],
                "StatisticType": "Statistic",
                "Statistic": str(alarm["Statistic"]).upper(),
                "Dimensions": [{"name": d["Name"], "value": d["Value"]} for d in alarm.get("Dimensions", [])],
                "Period": alarm["Period"],
                "EvaluationPeriods": alarm["EvaluationPeriods"],
                "ComparisonOperator": alarm["ComparisonOperator"],
                "Threshold": alarm["Threshold"],
                "TreatMissingData": alarm.get("TreatMissingData", "missing"),
            },
        }
        subject = f'{transition.new_state}: "{transition.alarm_name}" in {self._region}'[:100]
        for action in transition.actions:
            if action.split(":")[2:3] == ["sns"]:
                self._sns.publish(TopicArn=action, Subject=subject, Message=json.dumps(message))
