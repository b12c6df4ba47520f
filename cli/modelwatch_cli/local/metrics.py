"""Turn the EMF lines handlers print (Powertools Metrics) into CloudWatch datapoints, as CloudWatch Logs does."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PUT_METRIC_DATA_BATCH = 1000  # CloudWatch's limit of datapoints per PutMetricData call


@dataclass(frozen=True)
class EmfDatapoint:
    namespace: str
    name: str
    dimensions: dict[str, str]
    value: float
    unit: str
    timestamp: datetime


def parse_emf(output: str) -> list[EmfDatapoint]:
    """Datapoints of every EMF blob (a JSON line with `_aws.CloudWatchMetrics`) in a handler's stdout."""
    points: list[EmfDatapoint] = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        try:
            blob = json.loads(line)
        except json.JSONDecodeError:
            continue
        aws = blob.get("_aws")
        if not isinstance(aws, dict):
            continue
        timestamp = datetime.fromtimestamp(int(aws.get("Timestamp", 0)) / 1000, tz=UTC)
        for directive in aws.get("CloudWatchMetrics", []):
            namespace = str(directive.get("Namespace", ""))
            dimension_sets = directive.get("Dimensions") or [[]]
            for metric in directive.get("Metrics", []):
                name = str(metric["Name"])
                raw = blob.get(name)
                values = raw if isinstance(raw, list) else [raw]
                for dimension_set in dimension_sets:
                    dimensions = {str(d): str(blob[d]) for d in dimension_set if d in blob}
                    for value in values:
                        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                            continue
                        points.append(
                            EmfDatapoint(
                                namespace, name, dimensions, float(value), str(metric.get("Unit", "None")), timestamp
                            )
                        )
    return points


def retime(points: list[EmfDatapoint], wall_start: float, wall_end: float, simulated: datetime) -> list[EmfDatapoint]:
    """Map datapoints stamped with the wall time of the invocation (Powertools' default) onto simulated time.

    Datapoints the handler stamped itself (chunk starts, publication times from the injected clock) are kept.
    """
    low = datetime.fromtimestamp(wall_start - 1, tz=UTC)
    high = datetime.fromtimestamp(wall_end + 1, tz=UTC)
    return [
        EmfDatapoint(p.namespace, p.name, p.dimensions, p.value, p.unit, simulated) if low <= p.timestamp <= high else p
        for p in points
    ]


def put_datapoints(cloudwatch: Any, points: list[EmfDatapoint]) -> int:
    """PutMetricData per namespace in batches within CloudWatch's limits; returns how many were stored."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        datum: dict[str, Any] = {
            "MetricName": point.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(point.dimensions.items())],
            "Value": point.value,
            "Timestamp": point.timestamp,
        }
        if point.unit and point.unit != "None":
            datum["Unit"] = point.unit
        by_namespace.setdefault(point.namespace, []).append(datum)
    for namespace, data in by_namespace.items():
        for start in range(0, len(data), PUT_METRIC_DATA_BATCH):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + PUT_METRIC_DATA_BATCH])
    return len(points)
