"""Evaluate every CloudWatch alarm locally (moto never does) and send actions on state transitions via SNS.

CloudWatch's rules as documented ("Using Amazon CloudWatch alarms": alarm evaluation; "How alarm state is evaluated
when data is missing"), applied at each evaluation on the simulated clock:
- Periods are rolling: the newest ends at the evaluation time (a datapoint stamped now is in it).
- CloudWatch retrieves more periods than EvaluationPeriods, the evaluation range (documented example: 5 periods for
  3 evaluation periods; here always EvaluationPeriods + 2).
- With at least EvaluationPeriods existing values in the range, the most recent EvaluationPeriods of them are
  evaluated and missing data does not matter. With fewer, the existing ones are evaluated together with missing
  periods filled per TreatMissingData: `breaching` and `notBreaching` fill; `missing` and `ignore` do not, and when
  fewer than DatapointsToAlarm are breaching the state is OK if any existing value is not breaching, else
  INSUFFICIENT_DATA (`missing`) or the current state (`ignore`).
- Metric math alarms: the subset the templates and per-model alarms use: metric ids (MetricStat), numbers,
  + - * /, parentheses and FILL(id or expression, number). FILL fills every period of the evaluation range; a
  division by zero has no value (missing).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelwatch_cli.local.adapter import Datapoint

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT = "INSUFFICIENT_DATA"
EXTRA_PERIODS = 2  # the evaluation range beyond EvaluationPeriods

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}

# (alarm description from describe_alarms, window start, window end) -> datapoints, or None when not evaluable.
ServiceMetricSource = Callable[[dict[str, Any], datetime, datetime], list[Datapoint] | None]
Values = list[float | None]  # one value per period of the evaluation range, newest first


class NotEvaluable(ValueError):
    """An alarm the local evaluator cannot evaluate (the reason says why)."""


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
    raise NotEvaluable(f"statistic {statistic} is not evaluated locally")


def decide(values: Values, alarm: dict[str, Any], current: str) -> tuple[str, str]:
    """The alarm's new state from the values of its evaluation range (newest first), CloudWatch's rules."""
    threshold = float(alarm["Threshold"])
    compare = _COMPARE[alarm["ComparisonOperator"]]
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    treat = alarm.get("TreatMissingData", "missing")
    existing = [v for v in values if v is not None]
    if len(existing) >= periods:
        evaluated = existing[:periods]
        breaching = sum(1 for v in evaluated if compare(v, threshold))
        summary = f"{breaching} of the latest {periods} datapoints breaching (threshold {threshold:g}, {needed} needed)"
        return (ALARM if breaching >= needed else OK), summary
    breaching = sum(1 for v in existing if compare(v, threshold))
    missing = periods - len(existing)
    if treat == "breaching":
        breaching += missing
    summary = (
        f"{breaching} of {periods} datapoints breaching, {missing} missing treated as {treat} "
        f"(threshold {threshold:g}, {needed} needed)"
    )
    if breaching >= needed:
        return ALARM, summary
    if treat in ("breaching", "notBreaching"):
        return OK, summary
    if any(not compare(v, threshold) for v in existing):
        return OK, summary
    if treat == "ignore":
        return current, "no datapoints to decide on; state kept (ignore)"
    return INSUFFICIENT, "no datapoints in the evaluation range"


# ---------------------------------------------------------------------------------------------------- metric math
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


def _tokens(expression: str) -> list[str]:
    tokens = []
    for number, name, symbol in _TOKEN.findall(expression):
        token = number or name or symbol
        if token.strip():
            tokens.append(token)
    return tokens


class _Math:
    """A recursive-descent evaluator of the metric math subset, over per-period value lists."""

    def __init__(self, expression: str, series: dict[str, Values], length: int) -> None:
        self.tokens = _tokens(expression)
        self.position = 0
        self.series = series
        self.length = length
        self.expression = expression

    def run(self) -> Values:
        values = self._sum()
        if self.position != len(self.tokens):
            raise NotEvaluable(f"metric math {self.expression!r} is not evaluated locally")
        return values

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise NotEvaluable(f"metric math {self.expression!r} is not evaluated locally")
        self.position += 1
        return token

    def _sum(self) -> Values:
        values = self._product()
        while self._peek() in ("+", "-"):
            op = self._take()
            right = self._product()
            values = [_apply(op, a, b) for a, b in zip(values, right, strict=True)]
        return values

    def _product(self) -> Values:
        values = self._atom()
        while self._peek() in ("*", "/"):
            op = self._take()
            right = self._atom()
            values = [_apply(op, a, b) for a, b in zip(values, right, strict=True)]
        return values

    def _atom(self) -> Values:
        word = self._take()
        if word == "(":
            values = self._sum()
            self._take(")")
            return values
        if word.upper() == "FILL":
            self._take("(")
            inner = self._sum()
            self._take(",")
            fill = float(self._take())
            self._take(")")
            return [fill if v is None else v for v in inner]
        if re.fullmatch(r"\d+(?:\.\d*)?", word):
            return [float(word)] * self.length
        if word in self.series:
            return list(self.series[word])
        raise NotEvaluable(f"metric math {self.expression!r}: {word} is not evaluated locally")


def _apply(op: str, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return None  # no value, as CloudWatch drops a division by zero
    return a / b


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
        alarms = self.alarms()
        known = {a["AlarmName"] for a in alarms}
        for name in [n for n in self.states if n not in known]:  # deleted alarms start afresh if created again
            del self.states[name]
        for alarm in alarms:
            transition = self._evaluate_one(alarm, points, now)
            if transition is not None:
                transitions.append(transition)
        self.transitions.extend(transitions)
        return transitions

    def _series(
        self,
        metric: dict[str, Any],
        statistic: str,
        period: int,
        length: int,
        points: list[Datapoint],
        now: datetime,
        alarm: dict[str, Any],
    ) -> Values:
        """A metric's statistic per rolling period (newest first) over the evaluation range."""
        start = now - timedelta(seconds=period * length)
        dims = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
        if str(metric["Namespace"]).startswith("AWS/"):
            source = self._service_metrics({**alarm, **metric}, start, now + timedelta(microseconds=1))
            if source is None:
                raise NotEvaluable(f"{metric['Namespace']} {metric['MetricName']} is not known locally")
            selected = source
        else:
            selected = [
                p
                for p in points
                if p.namespace == metric["Namespace"]
                and p.metric_name == metric["MetricName"]
                and p.dimensions == dims  # CloudWatch matches the exact dimension set
            ]
        values: Values = []
        for k in range(length):
            window_end = now - timedelta(seconds=period * k)
            window_start = window_end - timedelta(seconds=period)
            value = aggregate([p for p in selected if window_start < p.timestamp <= window_end], statistic)
            values.append(None if value is None or math.isnan(value) else value)
        return values

    def values(self, alarm: dict[str, Any], points: list[Datapoint], now: datetime) -> Values:
        """The alarm's values over its evaluation range, newest first (metric or metric math)."""
        length = int(alarm["EvaluationPeriods"]) + EXTRA_PERIODS
        queries = alarm.get("Metrics") or []
        if not queries:
            if "Statistic" not in alarm:
                raise NotEvaluable("extended statistics are not evaluated locally")
            return self._series(alarm, alarm["Statistic"], int(alarm["Period"]), length, points, now, alarm)
        series: dict[str, Values] = {}
        result: Values | None = None
        for query in queries:  # CloudWatch lets an expression use any id; ours only use ids defined before
            if "MetricStat" in query:
                stat = query["MetricStat"]
                values = self._series(stat["Metric"], stat["Stat"], int(stat["Period"]), length, points, now, alarm)
            else:
                values = _Math(str(query["Expression"]), series, length).run()
            series[query["Id"]] = values
            if query.get("ReturnData", True):
                result = values
        if result is None:
            raise NotEvaluable("no query of the alarm returns data")
        return result

    def _evaluate_one(self, alarm: dict[str, Any], points: list[Datapoint], now: datetime) -> AlarmTransition | None:
        name = alarm["AlarmName"]
        try:
            values = self.values(alarm, points, now)
        except NotEvaluable as exc:
            self.not_evaluable[name] = str(exc)
            return None
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
        trigger: dict[str, Any] = {
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm["EvaluationPeriods"],
            "ComparisonOperator": alarm["ComparisonOperator"],
            "Threshold": alarm["Threshold"],
            "TreatMissingData": alarm.get("TreatMissingData", "missing"),
        }
        if alarm.get("Metrics"):
            trigger["Metrics"] = alarm["Metrics"]
        else:
            trigger.update(
                {
                    "MetricName": alarm["MetricName"],
                    "Namespace": alarm["Namespace"],
                    "StatisticType": "Statistic",
                    "Statistic": str(alarm["Statistic"]).upper(),
                    "Dimensions": [{"name": d["Name"], "value": d["Value"]} for d in alarm.get("Dimensions", [])],
                }
            )
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
            "Trigger": trigger,
        }
        subject = f'{transition.new_state}: "{transition.alarm_name}" in {self._region}'[:100]
        for action in transition.actions:
            if action.split(":")[2:3] == ["sns"]:
                self._sns.publish(TopicArn=action, Subject=subject, Message=json.dumps(message, default=str))
