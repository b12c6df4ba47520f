"""Datapoint checks, PutMetricData batching within limits, and retries on throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from modelwatch.errors import PublishError
from modelwatch.publishing.metrics import (
    MAX_DATAPOINTS_PER_CALL,
    PAYLOAD_BUDGET_BYTES,
    Datapoint,
    batches,
    put_datapoints,
    rejection_reason,
)

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def _point(value: float | None = 0.9, when: datetime = NOW - timedelta(hours=1), **dims: str) -> Datapoint:
    return Datapoint("Performance", tuple(sorted({"Model": "m", **dims}.items())), when, value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "value is missing (NaN in the results)"),
        (float("nan"), "value is NaN"),
        (float("inf"), "value is infinite"),
        (float("-inf"), "value is infinite"),
        (2.0**400, "value is outside the range CloudWatch accepts (2^-260 to 2^360)"),
        (2.0**-300, "value is outside the range CloudWatch accepts (2^-260 to 2^360)"),
    ],
)
def test_values_cloudwatch_cannot_take_are_rejected(value: float | None, reason: str) -> None:
    assert rejection_reason(_point(value), NOW) == reason


def test_zero_and_ordinary_values_pass() -> None:
    assert rejection_reason(_point(0.0), NOW) is None
    assert rejection_reason(_point(-3.5), NOW) is None


def test_two_week_limit_is_judged_on_the_given_clock() -> None:
    # Just inside two weeks (beyond the 5-minute safety margin) passes; older is skipped with the reason
    inside = _point(when=NOW - timedelta(days=14) + timedelta(minutes=6))
    outside = _point(when=NOW - timedelta(days=14) + timedelta(minutes=4))
    assert rejection_reason(inside, NOW) is None
    reason = rejection_reason(outside, NOW)
    assert reason is not None and reason.startswith("timestamp older than 14 days")
    assert rejection_reason(_point(when=NOW + timedelta(hours=3)), NOW) == "timestamp more than two hours in the future"


def test_batches_respect_the_datapoint_limit() -> None:
    points = [_point(float(i)) for i in range(2 * MAX_DATAPOINTS_PER_CALL + 1)]
    sizes = [len(b) for b in batches(points)]
    assert sizes == [MAX_DATAPOINTS_PER_CALL, MAX_DATAPOINTS_PER_CALL, 1]


def test_batches_respect_the_payload_limit() -> None:
    # 30 dimensions of 250-character values make each datapoint ~8 KB: ~100 fit under the budget
    dims = {f"D{i}": "v" * 250 for i in range(29)}
    points = [_point(float(i), **dims) for i in range(300)]
    chunks = list(batches(points))
    assert len(chunks) > 2 and sum(len(b) for b in chunks) == 300
    import json

    for batch in chunks:
        assert len(json.dumps([p.to_cloudwatch() for p in batch], default=str)) < PAYLOAD_BUDGET_BYTES


class _Client:
    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return {}


def _throttle() -> ClientError:
    return ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PutMetricData")


def test_throttling_is_retried_with_backoff() -> None:
    client = _Client([_throttle(), EndpointConnectionError(endpoint_url="https://monitoring")])
    sleeps: list[float] = []
    result = put_datapoints(client, "NS", [_point()], sleep=sleeps.append)
    assert len(client.calls) == 3 and result.sent == 1 and result.calls == 1
    assert len(sleeps) == 2 and 0 < sleeps[0] <= sleeps[1] * 2


def test_validation_errors_are_not_retried() -> None:
    error = ClientError({"Error": {"Code": "InvalidParameterValue", "Message": "bad"}}, "PutMetricData")
    client = _Client([error])
    with pytest.raises(PublishError, match="InvalidParameterValue"):
        put_datapoints(client, "NS", [_point()], sleep=lambda _: None)
    assert len(client.calls) == 1


def test_on_sent_sees_each_accepted_batch_before_a_later_failure() -> None:
    client = _Client([])
    seen: list[int] = []
    points = [_point(float(i)) for i in range(MAX_DATAPOINTS_PER_CALL + 5)]

    def fail_second(batch: list[Datapoint]) -> None:
        seen.append(len(batch))
        client.errors.extend([_throttle()] * 5)

    with pytest.raises(PublishError, match="after 5 attempts"):
        put_datapoints(client, "NS", points, on_sent=fail_second, sleep=lambda _: None)
    assert seen == [MAX_DATAPOINTS_PER_CALL]
    assert client.calls[0]["Namespace"] == "NS" and client.calls[0]["MetricData"][0]["MetricName"] == "Performance"
