"""The state repositories on moto DynamoDB: object + counters in one transaction, parts, claims, leases, ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from modelwatch.state import CounterDelta, LedgerEntry, ObjectRecord, keys
from tests.integration.state.conftest import Table

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def record(key: str = "k", version: str = "v1") -> ObjectRecord:
    return ObjectRecord("bucket", key, version, "ground_truth", "ingested", ["m"], rows=3)


def test_object_and_counters_are_recorded_once(table: Table) -> None:
    state = table.state
    deltas = [CounterDelta("m", T0, rows=5, data_version=1), CounterDelta("m", T0 + timedelta(minutes=30), rows=2)]
    assert state.objects.record(record(), deltas, T0)
    # A duplicate (the condition on the object item fails) changes nothing
    assert not state.objects.record(record(), deltas, T0)
    [counter] = state.counters.hours("m")
    assert (counter.hour, counter.rows, counter.data_version) == (T0, 7, 1)
    item = state.objects.processed("bucket", "k", "v1")
    assert item is not None and item["models"] == ["m"] and item["rows"] == 3
    # The items sit under the one key scheme
    assert table.item(*keys.hour_key("m", T0)) is not None
    assert table.item(*keys.object_key("bucket", "k", "v1")) is not None


def test_more_counters_than_one_transaction_holds(table: Table) -> None:
    # Given labels touching 250 hours (DynamoDB transactions hold at most 100 items)
    state = table.state
    deltas = [CounterDelta("m", T0 + timedelta(hours=h), labels=1, label_version=1) for h in range(250)]
    assert state.objects.record(record(), deltas, T0)
    counters = state.counters.hours("m")
    assert len(counters) == 250 and all((c.labels, c.label_version) == (1, 1) for c in counters)
    # A redelivery applies nothing twice
    assert not state.objects.record(record(), deltas, T0)
    assert all(c.labels == 1 for c in state.counters.hours("m"))


def test_a_retry_after_a_partial_failure_completes_without_double_counting(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = table.state
    deltas = [CounterDelta("m", T0 + timedelta(hours=h), labels=1, label_version=1) for h in range(150)]
    real = table.dynamodb.transact_write_items
    calls = {"n": 0}

    def fail_second(**kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(table.dynamodb, "transact_write_items", fail_second)
    with pytest.raises(Exception, match="transaction failed"):
        state.objects.record(record(), deltas, T0)
    assert state.objects.processed("bucket", "k", "v1") is None  # not recorded: the object will be retried
    monkeypatch.setattr(table.dynamodb, "transact_write_items", real)
    assert state.objects.record(record(), deltas, T0)
    counters = state.counters.hours("m")
    assert len(counters) == 150 and all(c.labels == 1 for c in counters)


def test_hour_counters_within_a_range(table: Table) -> None:
    state = table.state
    for h in range(5):
        assert state.objects.record(record(f"k{h}"), [CounterDelta("m", T0 + timedelta(hours=h), rows=1)], T0)
    window = state.counters.hours("m", start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=3))
    assert [c.hour for c in window] == [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]


def test_a_run_claim_is_taken_once_and_can_be_given_back(table: Table) -> None:
    leases = table.state.leases
    assert leases.claim_run("m", "w1", {"by": "a"})
    assert not leases.claim_run("m", "w1", {"by": "b"})
    assert table.item(*keys.run_claim_key("m", "w1"))["by"] == {"S": "a"}  # type: ignore[index]
    leases.release_run("m", "w1")
    assert leases.claim_run("m", "w1", {"by": "c"})


def test_the_label_debounce_expires(table: Table) -> None:
    leases = table.state.leases
    assert leases.debounce_labels("m", T0, T0 + timedelta(minutes=5))
    assert not leases.debounce_labels("m", T0 + timedelta(minutes=1), T0 + timedelta(minutes=6))
    assert leases.debounce_labels("m", T0 + timedelta(minutes=6), T0 + timedelta(minutes=11))


def test_a_compaction_lease_is_held_for_the_block_only(table: Table) -> None:
    leases = table.state.leases
    with leases.compaction("captures/model=m/dt=2024-03-01/hour=00/", T0, T0 + timedelta(minutes=20)) as held:
        assert held
        with leases.compaction("captures/model=m/dt=2024-03-01/hour=00/", T0, T0 + timedelta(minutes=20)) as other:
            assert not other
    with leases.compaction("captures/model=m/dt=2024-03-01/hour=00/", T0, T0 + timedelta(minutes=20)) as again:
        assert again


def test_run_state_success_clears_the_last_error(table: Table) -> None:
    runs = table.state.runs
    runs.record_failure("m", run_id="r1", error="EmptyWindowError", cause="no rows", now=T0)
    assert runs.load("m").last_error == {
        "Error": "EmptyWindowError",
        "Cause": "no rows",
        "run_id": "r1",
        "at": "2024-03-01T00:00:00Z",
    }
    runs.record_success("m", run_id="r2", input_version="v", last_chunk_end="2024-03-01T01:00:00Z", now=T0)
    loaded = runs.load("m")
    assert (loaded.last_run, loaded.last_input_version, loaded.last_error) == ("r2", "v", None)


def test_deleting_a_model_removes_its_items_and_ledger_only(table: Table) -> None:
    # Given two models with counters, run state and ledger entries
    state = table.state
    for model in ("m", "other"):
        state.objects.record(record(f"k-{model}"), [CounterDelta(model, T0, rows=1)], T0)
        state.runs.record_success(model, run_id="r", input_version="v", last_chunk_end="x", now=T0)
        state.ledger.record(model, [LedgerEntry("estimated#f1#x", "1", 0.5)], run_id="r", now=T0)

    # When one model is deleted
    deleted = state.delete_model("m")

    # Then its three items are gone and the other model keeps all of its own
    assert deleted == 3
    assert state.counters.hours("m") == [] and state.ledger.versions("m", ["estimated#f1#x"]) == {}
    assert len(state.counters.hours("other")) == 1
    assert state.ledger.versions("other", ["estimated#f1#x"]) == {"estimated#f1#x": "1"}
