"""IngestCaptureFunction on moto: S3 -> EventBridge -> SQS -> handler -> lake + state table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl

from modelwatch.clock import SystemClock
from modelwatch.ingest.events import parse_object_created
from modelwatch.ingest.service import ingest_capture_object
from modelwatch.lake.reader import read_rows
from tests.helpers import load_event, load_handler
from tests.integration.ingest.conftest import CAPTURE_BUCKET, LambdaContext, capture_event, object_created, sqs_batch
from tests.unit.ingest.helpers import capture_file, capture_key, capture_line, churn_config

T0 = datetime(2024, 3, 1, 10, 5, tzinfo=UTC)
FIXTURE = "sqs_capture_object_created"


def invoke(event):
    return load_handler("ingest_capture").lambda_handler(event, LambdaContext())


def emitted(output: str) -> dict[str, list[dict]]:
    """EMF metrics printed by the handler: metric name -> list of EMF documents."""
    found: dict[str, list[dict]] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found.setdefault(metric["Name"], []).append(document)
    return found


def test_a_capture_object_lands_in_the_lake_with_its_hour_counters(stack, capsys):
    # Given a capture file of 12 records spanning 10:05 .. 11:22 in the capture bucket
    body = capture_event(stack, capture_key(T0), capture_file(T0, 12))
    # When the queue delivers its Object Created event
    response = invoke(sqs_batch(FIXTURE, [body]))
    # Then the batch succeeds, the rows are in the lake by inference hour, and the counters say so
    assert response == {"batchItemFailures": []}
    rows = read_rows(stack.lake, "captures", "churn")
    assert rows.height == 12
    assert rows["y_pred_proba"].dtype == pl.Float64 and rows["tenure"].dtype == pl.Float64
    keys = sorted(stack.lake.list("captures/"))
    assert [k.split("/")[3] for k in keys] == ["hour=10", "hour=11"]
    counters = stack.state.counters.hours("churn")
    assert [(c.hour.hour, c.rows, c.data_version) for c in counters] == [(10, 8, 1), (11, 4, 1)]
    item = stack.state.objects.processed(
        CAPTURE_BUCKET, body["detail"]["object"]["key"], body["detail"]["object"]["version-id"]
    )
    assert item is not None and item["status"] == "ingested" and item["rows"] == 12
    # And per-model counts are emitted as metrics
    metrics = emitted(capsys.readouterr().out)
    assert metrics["RecordsDecoded"][0]["RecordsDecoded"] == [12.0]
    assert metrics["RecordsDecoded"][0]["Model"] == "churn"
    assert metrics["RecordsQuarantined"][0]["RecordsQuarantined"] == [0.0]
    assert metrics["IngestLagSeconds"][0]["IngestLagSeconds"][0] > 0


def test_the_same_event_twice_yields_the_rows_once_and_counts_once(stack):
    stack.s3.put_bucket_versioning(Bucket="lake", VersioningConfiguration={"Status": "Enabled"})
    body = capture_event(stack, capture_key(T0), capture_file(T0, 6))
    first = invoke(sqs_batch(FIXTURE, [body]))
    files_before = {k: stack.s3.head_object(Bucket="lake", Key=k)["VersionId"] for k in stack.lake.list("captures/")}
    # When the same event is delivered again (and again in the same batch)
    second = invoke(sqs_batch(FIXTURE, [body, body]))
    # Then nothing is rewritten or counted twice
    assert first == second == {"batchItemFailures": []}
    assert read_rows(stack.lake, "captures", "churn").height == 6
    files_after = {k: stack.s3.head_object(Bucket="lake", Key=k)["VersionId"] for k in stack.lake.list("captures/")}
    assert files_after == files_before
    assert [(c.rows, c.data_version) for c in stack.state.counters.hours("churn")] == [(6, 1)]


def test_a_new_version_of_the_same_key_is_a_new_object(stack):
    key = capture_key(T0)
    first = capture_event(stack, key, capture_file(T0, 3, prefix="a"))
    second = capture_event(stack, key, capture_file(T0, 2, prefix="b"))
    assert invoke(sqs_batch(FIXTURE, [first, second])) == {"batchItemFailures": []}
    assert read_rows(stack.lake, "captures", "churn").height == 5
    assert [(c.rows, c.data_version) for c in stack.state.counters.hours("churn")] == [(5, 2)]


def test_partial_batch_failure_names_only_the_unreadable_object(stack, capsys):
    # Given a batch of an event for an object that does not exist and one for a good object
    good = capture_event(stack, capture_key(T0, "good.jsonl"), capture_file(T0, 4))
    missing = object_created("s3_object_created_capture", capture_key(T0, "gone.jsonl"), "0" * 32, "v-gone", 10)
    event = sqs_batch(FIXTURE, [missing, good])
    # When the handler runs
    response = invoke(event)
    # Then only the bad message is reported (SQS retries it, then the DLQ), and the good one is ingested
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert "IngestErrors" in emitted(capsys.readouterr().out)
    assert read_rows(stack.lake, "captures", "churn").height == 4
    assert stack.state.objects.processed(CAPTURE_BUCKET, capture_key(T0, "gone.jsonl"), "v-gone") is None


def test_a_message_that_is_not_an_object_created_event_fails_alone(stack):
    good = capture_event(stack, capture_key(T0), capture_file(T0, 2))
    event = sqs_batch(FIXTURE, [good, {"hello": "world"}])
    assert invoke(event) == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}


def test_quarantined_records_and_empty_files(stack):
    good = capture_line("ok", T0, [(1.0, 2.0)], [0.4])
    bad = capture_event(stack, capture_key(T0, "bad.jsonl"), (good + "\nnot json\n").encode())
    empty = capture_event(stack, capture_key(T0, "empty.jsonl"), b"")
    assert invoke(sqs_batch(FIXTURE, [bad, empty])) == {"batchItemFailures": []}
    assert read_rows(stack.lake, "captures", "churn")["event_id"].to_list() == ["ok"]
    [quarantine] = list(stack.lake.list("quarantine/model=churn/"))
    entry = json.loads(stack.lake.get(quarantine).decode().splitlines()[0])
    assert entry["line"] == 2 and entry["raw"] == "not json" and entry["source"].endswith("bad.jsonl")
    empty_item = stack.state.objects.processed(
        CAPTURE_BUCKET, empty["detail"]["object"]["key"], empty["detail"]["object"]["version-id"]
    )
    assert empty_item is not None and empty_item["rows"] == 0


def test_an_object_for_no_registered_model_is_recorded_as_skipped(stack):
    key = "datacapture/other-endpoint/AllTraffic/2024/03/01/10/x.jsonl"
    body = capture_event(stack, key, capture_file(T0, 2))
    assert invoke(sqs_batch(FIXTURE, [body])) == {"batchItemFailures": []}
    item = stack.state.objects.processed(CAPTURE_BUCKET, key, body["detail"]["object"]["version-id"])
    assert item is not None and item["status"] == "skipped" and "other-endpoint" in item["reason"]
    assert list(stack.lake.list("captures/")) == []


def test_a_skipped_object_is_ingested_once_its_model_is_registered(stack):
    # Given a capture that arrived before any model read its endpoint (recorded as skipped)
    key = "datacapture/late-endpoint/AllTraffic/2024/03/01/10/x.jsonl"
    body = capture_event(stack, key, capture_file(T0, 2))
    assert invoke(sqs_batch(FIXTURE, [body])) == {"batchItemFailures": []}
    # When the model is registered and the same object is delivered again (redelivery or backfill)
    stack.registry.register(churn_config("late").model_copy(update={"endpoint": "late-endpoint"}))
    assert invoke(sqs_batch(FIXTURE, [body])) == {"batchItemFailures": []}
    # Then its rows land and are counted, once
    item = stack.state.objects.processed(CAPTURE_BUCKET, key, body["detail"]["object"]["version-id"])
    assert item is not None and item["status"] == "ingested"
    assert read_rows(stack.lake, "captures", "late").height == 2
    assert [c.rows for c in stack.state.counters.hours("late")] == [2]
    assert invoke(sqs_batch(FIXTURE, [body])) == {"batchItemFailures": []}
    assert [c.rows for c in stack.state.counters.hours("late")] == [2]


def test_url_encoded_keys_from_classic_notifications_are_decoded(stack):
    key = capture_key(T0, "with space+plus.jsonl")
    body = capture_event(stack, key, capture_file(T0, 2))
    body["detail"]["object"]["key"] = key.replace("+", "%2B").replace(" ", "+")
    assert invoke(sqs_batch(FIXTURE, [body])) == {"batchItemFailures": []}
    assert read_rows(stack.lake, "captures", "churn").height == 2
    assert stack.state.objects.processed(CAPTURE_BUCKET, key, body["detail"]["object"]["version-id"]) is not None


def test_real_s3_eventbridge_sqs_delivery_matches_the_fixture_and_ingests(stack):
    # Given a capture object put into the bucket (moto delivers the EventBridge notification to the rule's queue)
    key = capture_key(T0 + timedelta(hours=3))
    stack.put(key, capture_file(T0 + timedelta(hours=3), 5))
    stack.put("elsewhere/file.jsonl", b"{}")  # outside the prefix: not delivered
    messages = stack.drain(stack.capture_queue)
    assert len(messages) == 1
    delivered = json.loads(messages[0]["Body"])
    # Then its shape is the fixture's (moto spells the ETag field `eTag`; AWS spells it `etag`)
    fixture = json.loads(load_event(FIXTURE)["Records"][0]["body"])
    assert set(delivered) == set(fixture)
    assert set(delivered["detail"]) == set(fixture["detail"])
    normalise = {"eTag": "etag"}
    assert {normalise.get(k, k) for k in delivered["detail"]["object"]} == set(fixture["detail"]["object"])
    assert delivered["detail"]["object"]["key"] == key
    # And the handler ingests it as delivered
    event = {
        "Records": [
            {**load_event(FIXTURE)["Records"][0], "messageId": m["MessageId"], "body": m["Body"]} for m in messages
        ]
    }
    assert invoke(event) == {"batchItemFailures": []}
    assert read_rows(stack.lake, "captures", "churn").height == 5
    assert stack.state.objects.processed(CAPTURE_BUCKET, key, delivered["detail"]["object"]["version-id"])


def test_a_concurrent_duplicate_loses_the_transaction_and_counts_nothing(stack, monkeypatch):
    # Given an object already ingested by another invocation that raced past our "already processed" check
    body = capture_event(stack, capture_key(T0), capture_file(T0, 4))
    assert invoke(sqs_batch(FIXTURE, [body])) == {"batchItemFailures": []}
    ref = parse_object_created(json.dumps(body))
    real = stack.state.objects.processed
    calls = {"n": 0}

    def not_yet(*args):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(*args)

    monkeypatch.setattr(stack.state.objects, "processed", not_yet)
    # When this invocation decodes, writes the same files and tries to record
    result = ingest_capture_object(
        ref, s3_client=stack.s3, store=stack.lake, state=stack.state, registry=stack.registry, clock=SystemClock()
    )
    # Then its condition fails: a duplicate, with the rows and counters as they were
    assert result.status == "duplicate"
    assert read_rows(stack.lake, "captures", "churn").height == 4
    assert [(c.rows, c.data_version) for c in stack.state.counters.hours("churn")] == [(4, 1)]


def test_every_model_reading_the_endpoint_gets_the_rows(stack):
    stack.registry.register(churn_config("churn-shadow"))
    body = capture_event(stack, capture_key(T0), capture_file(T0, 3))
    assert invoke(sqs_batch(FIXTURE, [body])) == {"batchItemFailures": []}
    for model in ("churn", "churn-shadow"):
        assert read_rows(stack.lake, "captures", model).height == 3
        assert [c.rows for c in stack.state.counters.hours(model)] == [3]
