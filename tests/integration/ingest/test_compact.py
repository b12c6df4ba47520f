"""CompactFunction on moto: a day's partitions merged, the manifest honoured, rows unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from modelwatch.lake.layout import Partition
from modelwatch.lake.reader import load_manifest, read_rows
from tests.helpers import load_event, load_handler
from tests.integration.ingest.conftest import LambdaContext, capture_event, sqs_batch
from tests.unit.ingest.helpers import capture_file, capture_key

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def ingest_three_files(stack):
    bodies = [
        capture_event(stack, capture_key(T0, f"f{i}.jsonl"), capture_file(T0.replace(minute=i), 5, prefix=f"f{i}"))
        for i in range(3)
    ]
    handler = load_handler("ingest_capture")
    assert handler.lambda_handler(sqs_batch("sqs_capture_object_created", bodies), LambdaContext()) == {
        "batchItemFailures": []
    }


def test_the_daily_schedule_input_compacts_yesterday(stack, monkeypatch):
    ingest_three_files(stack)
    before = read_rows(stack.lake, "captures", "churn").sort("event_id")
    assert len(list(stack.lake.list("captures/model=churn/dt=2024-03-01/hour=10/"))) == 3
    monkeypatch.setenv("MODELWATCH_CLOCK", "2024-03-02T02:30:00Z")
    result = load_handler("compact").lambda_handler(load_event("compact_days_ago"), LambdaContext())
    assert result["day"] == "2024-03-01" and result["compacted"] == 1 and result["files_replaced"] == 3
    assert len(list(stack.lake.list("captures/model=churn/dt=2024-03-01/hour=10/"))) == 1
    assert load_manifest(stack.lake, Partition("captures", "churn", "2024-03-01", "10")) is not None
    assert read_rows(stack.lake, "captures", "churn").sort("event_id").equals(before)
    # The lease is released: running it again finds nothing more to merge
    again = load_handler("compact").lambda_handler(load_event("compact_days_ago"), LambdaContext())
    assert again["compacted"] == 0


def test_one_model_and_day(stack):
    ingest_three_files(stack)
    result = load_handler("compact").lambda_handler(load_event("compact_model_day"), LambdaContext())
    assert result == {
        "day": "2024-03-01",
        "models": ["churn"],
        "partitions": 1,
        "compacted": 1,
        "files_replaced": 3,
        "rows": 15,
    }
