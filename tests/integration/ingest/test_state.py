"""StateStore on moto DynamoDB: object + counters in one transaction, chunking, duplicates, claims and leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from modelwatch.state import CounterDelta, ObjectRecord, hour_sk, model_pk

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def record(key: str = "k", version: str = "v1") -> ObjectRecord:
    return ObjectRecord("bucket", key, version, "ground_truth", "ingested", ["m"], rows=3)


def test_object_and_counters_are_recorded_once(stack):
    state = stack.state
    deltas = [CounterDelta("m", T0, rows=5, data_version=1), CounterDelta("m", T0 + timedelta(minutes=30), rows=2)]
    assert state.record_object(record(), deltas, T0)
    # A duplicate (the condition on the object item fails) changes nothing
    assert not state.record_object(record(), deltas, T0)
    [counter] = state.hour_counters("m")
    assert (counter.hour, counter.rows, counter.data_version) == (T0, 7, 1)
    item = state.processed("bucket", "k", "v1")
    assert item is not None and item["models"] == ["m"] and item["rows"] == 3


def test_more_counters_than_one_transaction_holds(stack):
    # Given labels touching 250 hours (DynamoDB transactions hold at most 100 items)
    deltas = [CounterDelta("m", T0 + timedelta(hours=h), labels=1, label_version=1) for h in range(250)]
    assert stack.state.record_object(record(), deltas, T0)
    counters = stack.state.hour_counters("m")
    assert len(counters) == 250 and all((c.labels, c.label_version) == (1, 1) for c in counters)
    # A redelivery applies nothing twice
    assert not stack.state.record_object(record(), deltas, T0)
    assert all(c.labels == 1 for c in stack.state.hour_counters("m"))


def test_a_retry_after_a_partial_failure_completes_without_double_counting(stack, monkeypatch):
    deltas = [CounterDelta("m", T0 + timedelta(hours=h), labels=1, label_version=1) for h in range(150)]
    real = stack.state.client.transact_write_items
    calls = {"n": 0}

    def fail_second(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(stack.state.client, "transact_write_items", fail_second)
    with pytest.raises(Exception, match="transaction failed"):
        stack.state.record_object(record(), deltas, T0)
    assert stack.state.processed("bucket", "k", "v1") is None  # not recorded: the object will be retried
    monkeypatch.setattr(stack.state.client, "transact_write_items", real)
    assert stack.state.record_object(record(), deltas, T0)
    counters = stack.state.hour_counters("m")
    assert len(counters) == 150 and all(c.labels == 1 for c in counters)


def test_hour_counters_range_and_generic_helpers(stack):
    state = stack.state
    for h in range(5):
        assert state.record_object(record(f"k{h}"), [CounterDelta("m", T0 + timedelta(hours=h), rows=1)], T0)
    window = state.hour_counters("m", start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=3))
    assert [c.hour for c in window] == [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    assert state.get_item(model_pk("m"), hour_sk(T0))["rows"] == 1
    assert state.claim("run#m", "w1", {"by": "a"})
    assert not state.claim("run#m", "w1", {"by": "b"})
    assert state.get_item("run#m", "w1")["by"] == "a"
    assert state.update("run#m", "w1", set_attrs={"status": "done"}, add={"tries": 1})
    assert not state.update("run#m", "w1", add={"tries": 1}, condition="attribute_not_exists(pk)")
    assert state.get_item("run#m", "w1")["tries"] == 1


def test_leases_expire(stack):
    state = stack.state
    assert state.claim_until("lock", "l", T0, T0 + timedelta(minutes=5))
    assert not state.claim_until("lock", "l", T0 + timedelta(minutes=1), T0 + timedelta(minutes=6))
    assert state.claim_until("lock", "l", T0 + timedelta(minutes=6), T0 + timedelta(minutes=11))
    state.release("lock", "l")
    assert state.claim_until("lock", "l", T0 + timedelta(minutes=7), T0 + timedelta(minutes=8))
