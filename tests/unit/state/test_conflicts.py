"""State under concurrent ingest: TransactionConflict cancellations are retried, others are not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from modelwatch.errors import LakeError
from modelwatch.state import ConflictRetry, CounterDelta, ObjectRecord, State

T0 = datetime(2024, 3, 1, tzinfo=UTC)
RECORD = ObjectRecord("bucket", "captures/a.jsonl", "v1", "capture", "ingested", ["loans"], rows=3)
COUNTERS = [CounterDelta("loans", T0, rows=3, data_version=1)]


def _cancelled(stub: Stubber, *codes: str) -> None:
    stub.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message=f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        modeled_fields={"CancellationReasons": [{"Code": code} for code in codes]},
    )


@pytest.fixture
def stubbed() -> Iterator[tuple[State, Stubber, list[float]]]:
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    slept: list[float] = []
    retry = ConflictRetry(attempts=4, base_seconds=0.1, cap_seconds=0.25, sleep=slept.append, jitter=lambda: 1.0)
    with Stubber(client) as stub:
        yield State(client, "state", conflict_retry=retry), stub, slept
        stub.assert_no_pending_responses()


def test_a_transaction_conflict_is_retried_with_backoff(stubbed: tuple[State, Stubber, list[float]]) -> None:
    state, stub, slept = stubbed
    # Given a concurrent ingest updating the same hour counter twice while this one commits
    _cancelled(stub, "None", "TransactionConflict")
    _cancelled(stub, "TransactionConflict", "None")
    stub.add_response("transact_write_items", {}, {"TransactItems": ANY})
    # When the object and its counters are recorded
    recorded = state.objects.record(RECORD, COUNTERS, T0)
    # Then the third attempt commits, after capped exponential backoff (jitter pinned to its maximum)
    assert recorded is True
    assert slept == [0.1, 0.2]


def test_conflicts_that_outlast_the_retries_are_a_named_error(
    stubbed: tuple[State, Stubber, list[float]],
) -> None:
    state, stub, slept = stubbed
    for _ in range(4):
        _cancelled(stub, "TransactionConflict", "None")
    with pytest.raises(LakeError, match="transaction conflicts persisted over 4 attempts"):
        state.objects.record(RECORD, COUNTERS, T0)
    assert slept == [0.1, 0.2, 0.25]


def test_a_duplicate_is_not_retried(stubbed: tuple[State, Stubber, list[float]]) -> None:
    state, stub, slept = stubbed
    # Given the object item already exists (its condition check fails)
    _cancelled(stub, "ConditionalCheckFailed", "None")
    # Then recording answers "already recorded" at once
    assert state.objects.record(RECORD, COUNTERS, T0) is False
    assert slept == []


def test_other_cancellations_are_not_retried(stubbed: tuple[State, Stubber, list[float]]) -> None:
    state, stub, slept = stubbed
    _cancelled(stub, "None", "ValidationError")
    with pytest.raises(LakeError, match="transaction failed"):
        state.objects.record(RECORD, COUNTERS, T0)
    assert slept == []


def test_full_jitter_spreads_retries_up_to_the_cap() -> None:
    retry = ConflictRetry(base_seconds=0.05, cap_seconds=2.0, jitter=lambda: 0.5)
    assert [retry.delay(n) for n in (0, 1, 6, 10)] == [0.025, 0.05, 1.0, 1.0]
