"""Poisoned inputs through the ingest functions on moto: gzip files, bad outputs, impossible or future times and bad
labels are quarantined with named reasons (replayable), damaged features are counted, and no value is logged."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

from modelwatch.clock import SystemClock
from modelwatch.ingest.events import parse_object_created
from modelwatch.ingest.replay import parse_quarantine
from modelwatch.ingest.service import ingest_capture_object
from modelwatch.lake.reader import read_ground_truth, read_rows
from tests.helpers import load_handler
from tests.integration.ingest.conftest import LambdaContext, capture_event, ground_truth_event, sqs_batch
from tests.unit.capture.conftest import capture_bytes, make_config
from tests.unit.ingest.helpers import (
    capture_file,
    capture_key,
    capture_line,
    ground_truth_key,
    ground_truth_line,
)

T0 = datetime(2024, 3, 1, 10, 5, tzinfo=UTC)
LOAN_KEY = "datacapture/car-loan-endpoint/AllTraffic/2024/03/01/10/00-00-000-poison.jsonl"


def quarantine_entries(stack, model: str) -> list[dict]:
    return [
        {"line": e.line, "reason": e.reason, "raw": e.raw}
        for key in sorted(stack.lake.list(f"quarantine/model={model}/"))
        for e in parse_quarantine(stack.lake.get(key))
    ]


def test_a_gzip_capture_with_poisoned_records_keeps_the_good_rows(stack):
    # Given the car-loan model and a gzip-compressed capture (named .jsonl) with bad outputs, an impossible time
    # and non-finite features among good records
    stack.registry.register(make_config(reference="s3://lake/models/car_loan/reference.parquet"))
    plain = capture_bytes("binary_poison.jsonl")
    body = capture_event(stack, LOAN_KEY, gzip.compress(plain))
    # When the capture function ingests it
    result = ingest_capture_object(
        parse_object_created(json.dumps(body)),
        s3_client=stack.s3,
        store=stack.lake,
        state=stack.state,
        registry=stack.registry,
        clock=SystemClock(),
    )
    # Then the good records are in the lake, the two with non-finite features included (values missing)
    rows = read_rows(stack.lake, "captures", "car_loan")
    assert rows.height == 5
    assert rows["feature_issues"].drop_nulls().len() == 2
    [summary] = result.to_dict()["models"]
    assert (summary["records"], summary["rows"], summary["quarantined"]) == (9, 5, 5)
    assert summary["feature_issues"] == {"non_finite": 2}
    # And the five poisons are quarantined with their reasons and their decompressed lines, ready for replay
    entries = quarantine_entries(stack, "car_loan")
    nan = "non-finite probability in endpointOutput column 'y_pred_proba' (row 0)"
    outside = "probability out of range [0, 1] in endpointOutput column 'y_pred_proba' (row 0)"
    time = "eventMetadata.inferenceTime out of range (1677-09-22 to 2262-04-11, what the lake holds)"
    assert [(e["line"], e["reason"]) for e in entries] == [(2, nan), (3, nan), (4, outside), (5, outside), (6, time)]
    assert [e["raw"] for e in entries] == plain.decode().splitlines()[1:6]


def test_records_timed_after_their_arrival_by_more_than_the_skew_are_quarantined(stack):
    # Given a capture object uploaded now, with one record timed an hour ago and one three days ahead
    now = datetime.now(UTC)
    lines = [
        capture_line("past", now - timedelta(hours=1), [(1.0, 2.0)], [0.4]),
        capture_line("future", now + timedelta(days=3), [(1.0, 2.0)], [0.4]),
    ]
    body = capture_event(stack, capture_key(now), ("\n".join(lines) + "\n").encode())
    # When ingested (the arrival is the object's LastModified)
    handler = load_handler("ingest_capture")
    assert handler.lambda_handler(sqs_batch("sqs_capture_object_created", [body]), LambdaContext()) == {
        "batchItemFailures": []
    }
    # Then the future record is quarantined, naming the setting, and the other one kept
    assert read_rows(stack.lake, "captures", "churn")["event_id"].to_list() == ["past"]
    [entry] = quarantine_entries(stack, "churn")
    assert entry["reason"] == (
        "eventMetadata.inferenceTime is more than 1d after the capture object arrived (validation.max_time_skew)"
    )


def test_bad_labels_are_quarantined_and_their_values_never_logged(stack, capsys):
    # Given captures ev-0 .. ev-3 and a gzip label file: two good labels, a label 7, and a label "maybe"
    capture = capture_event(stack, capture_key(T0), capture_file(T0, 4))
    assert load_handler("ingest_capture").lambda_handler(
        sqs_batch("sqs_capture_object_created", [capture]), LambdaContext()
    ) == {"batchItemFailures": []}
    lines = [
        ground_truth_line("ev-0", [1]),
        ground_truth_line("ev-1", [7]),
        ground_truth_line("ev-2", [0]),
        json.dumps({"groundTruthData": {"data": "maybe", "encoding": "CSV"}, "eventMetadata": {"eventId": "ev-3"}}),
    ]
    body = ground_truth_event(stack, ground_truth_key(T0 + timedelta(days=1)), gzip.compress("\n".join(lines).encode()))
    capsys.readouterr()
    # When the ground-truth function ingests it
    assert load_handler("ingest_ground_truth").lambda_handler(
        sqs_batch("sqs_ground_truth_object_created", [body]), LambdaContext()
    ) == {"batchItemFailures": []}
    # Then the good labels are in the lake and counted on their hour, the bad ones quarantined (same replay path)
    labels = read_ground_truth(stack.lake, "churn").sort("inference_id")
    assert labels.select("inference_id", "y_true").rows() == [("ev-0", 1), ("ev-2", 0)]
    assert [c.labels for c in stack.state.counters.hours("churn")] == [2]
    entries = quarantine_entries(stack, "churn")
    assert [(e["line"], e["reason"]) for e in entries] == [
        (2, "label outside the model's classes in groundTruthData.data label 0"),
        (4, "non-numeric label in groundTruthData.data label 0"),
    ]
    assert [e["raw"] for e in entries] == [lines[1], lines[3]]
    # And neither label value appears in the function's logs
    logged = capsys.readouterr()
    assert "maybe" not in logged.out + logged.err
    assert '"data": "7"' not in logged.out + logged.err
