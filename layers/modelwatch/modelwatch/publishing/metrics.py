"""CloudWatch datapoints: what CloudWatch accepts, and PutMetricData in batches within its limits with retries.

PutMetricData (not the Embedded Metric Format) because the ledger may only record what CloudWatch confirmed:
EMF goes through the logs asynchronously, so a run could not know its datapoints were accepted.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.constants import CLOUDWATCH_MAX_AGE_DAYS
from modelwatch.retry import DEFAULT_ATTEMPTS, DEFAULT_BASE_DELAY, call_with_retries

MAX_DATAPOINTS_PER_CALL = 1000
MAX_PAYLOAD_BYTES = 1_000_000
PAYLOAD_BUDGET_BYTES = 800_000  # headroom below 1 MB for the request envelope and encoding differences
MAX_FUTURE = timedelta(hours=2)
AGE_SAFETY_MARGIN = timedelta(minutes=5)  # a value right at the limit would be rejected by the time it arrives
# CloudWatch rejects values above 2^360 in magnitude and non-zero values below 2^-260.
MAX_MAGNITUDE = 2.0**360
MIN_MAGNITUDE = 2.0**-260


@dataclass(frozen=True)
class Datapoint:
    """One CloudWatch datapoint, with the ledger key and version that say whether it was published already."""

    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    value: float | None
    unit: str = "None"
    ledger_key: str | None = None  # None: not ledgered (the publication-time Alert datapoints)
    version: str = ""
    namespace: str | None = None  # None: the stack's namespace (MetricNamespace)

    def to_cloudwatch(self) -> dict[str, Any]:
        assert self.value is not None
        return {
            "MetricName": self.metric_name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
            "Timestamp": to_utc(self.timestamp),
            "Value": float(self.value),
            "Unit": self.unit,
        }

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (summaries, logs); NaN/inf become strings."""
        value: float | str | None = self.value
        if self.value is not None and not math.isfinite(self.value):
            value = str(self.value)
        return {
            "metric_name": self.metric_name,
            "dimensions": dict(self.dimensions),
            "timestamp": iso(self.timestamp),
            "value": value,
        }


@dataclass(frozen=True)
class Skipped:
    """A value that was not sent, and why."""

    datapoint: Datapoint
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.datapoint.describe(), "reason": self.reason}


@dataclass
class PutResult:
    sent: int = 0
    calls: int = 0
    sent_datapoints: list[Datapoint] = field(default_factory=list)


def iso(value: datetime) -> str:
    return to_utc(value).isoformat().replace("+00:00", "Z")


def rejection_reason(point: Datapoint, now: datetime) -> str | None:
    """Why CloudWatch would reject (or we refuse to send) this datapoint; None when it can be sent."""
    if point.value is None:
        return "value is missing (NaN in the results)"
    if math.isnan(point.value):
        return "value is NaN"
    if math.isinf(point.value):
        return "value is infinite"
    magnitude = abs(point.value)
    if magnitude > MAX_MAGNITUDE or (magnitude and magnitude < MIN_MAGNITUDE):
        return "value is outside the range CloudWatch accepts (2^-260 to 2^360)"
    now = to_utc(now)
    when = to_utc(point.timestamp)
    if when < now - timedelta(days=CLOUDWATCH_MAX_AGE_DAYS) + AGE_SAFETY_MARGIN:
        return (
            f"timestamp older than {CLOUDWATCH_MAX_AGE_DAYS} days (CloudWatch rejects datapoints older than two "
            "weeks; the value stays in results/)"
        )
    if when > now + MAX_FUTURE:
        return "timestamp more than two hours in the future"
    return None


def _size(item: dict[str, Any]) -> int:
    return len(json.dumps(item, default=str)) + 64


def batches(points: Sequence[Datapoint]) -> Iterator[list[Datapoint]]:
    """Split datapoints into PutMetricData calls of at most 1,000 datapoints and well under 1 MB each."""
    batch: list[Datapoint] = []
    size = 0
    for point in points:
        item_size = _size(point.to_cloudwatch())
        if batch and (len(batch) >= MAX_DATAPOINTS_PER_CALL or size + item_size > PAYLOAD_BUDGET_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(point)
        size += item_size
    if batch:
        yield batch


def put_datapoints(
    cloudwatch: Any,
    namespace: str,
    points: Iterable[Datapoint],
    *,
    on_sent: Callable[[list[Datapoint]], None] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    sleep: Callable[[float], None] = time.sleep,
) -> PutResult:
    """Send datapoints (already checked with `rejection_reason`) with PutMetricData, one namespace per call (a
    point's own, else `namespace`); PublishError after retries.

    `on_sent` is called after each accepted call with its datapoints, so the ledger records every batch CloudWatch
    took even when a later batch fails.
    """
    result = PutResult()
    by_namespace: dict[str, list[Datapoint]] = {}
    for point in points:
        by_namespace.setdefault(point.namespace or namespace, []).append(point)
    calls = [(name, batch) for name, group in by_namespace.items() for batch in batches(group)]
    for target, batch in calls:
        data = [point.to_cloudwatch() for point in batch]

        def send(data: list[dict[str, Any]] = data, target: str = target) -> Any:
            return cloudwatch.put_metric_data(Namespace=target, MetricData=data)

        call_with_retries(
            send, f"PutMetricData ({len(batch)} datapoints)", attempts=attempts, base_delay=base_delay, sleep=sleep
        )
        result.calls += 1
        result.sent += len(batch)
        result.sent_datapoints.extend(batch)
        if on_sent is not None:
            on_sent(batch)
    return result
