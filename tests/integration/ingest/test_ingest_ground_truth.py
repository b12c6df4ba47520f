"""IngestGroundTruthFunction on moto: labels into the lake, label counters on the inference hours they belong to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from modelwatch.lake.reader import read_ground_truth
from tests.helpers import load_handler
from tests.integration.ingest.conftest import (
    CAPTURE_BUCKET,
    LambdaContext,
    capture_event,
    ground_truth_event,
    sqs_batch,
)
from tests.integration.ingest.test_ingest_capture import emitted
from tests.unit.ingest.helpers import capture_file, capture_key, ground_truth_file, ground_truth_key, ground_truth_line

T0 = datetime(2024, 3, 1, 10, 5, tzinfo=UTC)


def invoke_capture(event):
    return load_handler("ingest_capture").lambda_handler(event, LambdaContext())


def invoke_labels(event):
    return load_handler("ingest_ground_truth").lambda_handler(event, LambdaContext())


def ingest_captures(stack):
    """Captures ev-0 .. ev-11 every 7 minutes from 10:05: ev-0..7 at 10h, ev-8..11 at 11h."""
    body = capture_event(stack, capture_key(T0), capture_file(T0, 12))
    assert invoke_capture(sqs_batch("sqs_capture_object_created", [body])) == {"batchItemFailures": []}


def test_labels_land_in_the_lake_and_count_on_their_inference_hours(stack):
    ingest_captures(stack)
    # Given labels collected the next day for three 10h inferences and one 11h inference (and one unknown id)
    labels = {"ev-0": 1, "ev-3": 0, "ev-7": 1, "ev-9": 0, "nobody": 1}
    key = ground_truth_key(T0 + timedelta(days=1))
    body = ground_truth_event(stack, key, ground_truth_file(labels))
    # When the ground-truth queue delivers it
    assert invoke_labels(sqs_batch("sqs_ground_truth_object_created", [body])) == {"batchItemFailures": []}
    # Then the labels are in the lake under the collection hour, typed, with their source
    frame = read_ground_truth(stack.lake, "churn").sort("inference_id")
    assert frame["inference_id"].to_list() == ["ev-0", "ev-3", "ev-7", "ev-9", "nobody"]
    assert frame["y_true"].to_list() == [1, 0, 1, 0, 1]
    assert frame["label_time"].unique().to_list() == [datetime(2024, 3, 2, 10, tzinfo=UTC)]
    [label_file] = list(stack.lake.list("ground_truth/"))
    assert label_file.startswith("ground_truth/model=churn/dt=2024-03-02/hour=10/")
    # And the label counters moved on exactly the inference hours of the matched labels
    counters = {c.hour.hour: c for c in stack.state.counters.hours("churn")}
    assert (counters[10].labels, counters[10].label_version) == (3, 1)
    assert (counters[11].labels, counters[11].label_version) == (1, 1)
    assert (counters[10].rows, counters[11].rows) == (8, 4)


def test_labels_without_a_capture_are_counted_as_a_metric_and_in_the_run_state(stack, capsys):
    ingest_captures(stack)
    capsys.readouterr()
    # Given a label object with two labels for captured requests and three for requests never captured
    labels = {"ev-0": 1, "ev-9": 0, "nobody": 1, "no-one": 0, "none": 1}
    body = ground_truth_event(stack, ground_truth_key(T0 + timedelta(days=1)), ground_truth_file(labels))
    # When it is delivered twice (a redelivery)
    event = sqs_batch("sqs_ground_truth_object_created", [body])
    assert invoke_labels(event) == {"batchItemFailures": []}
    assert invoke_labels(event) == {"batchItemFailures": []}
    # Then the three unmatched labels are one UnmatchedLabels datapoint of the model, counted once
    metrics = emitted(capsys.readouterr().out)
    assert [(m["Model"], m["UnmatchedLabels"]) for m in metrics["UnmatchedLabels"]] == [("churn", [3.0])]
    # And the model's run state keeps their running total (what `modelwatch status` shows)
    state = stack.state.runs.load("churn")
    assert state.labels_unmatched == 3 and state.labels_unmatched_at is not None
    # And another object with only matched labels adds nothing
    matched = ground_truth_event(stack, ground_truth_key(T0 + timedelta(days=2)), ground_truth_file({"ev-1": 0}))
    assert invoke_labels(sqs_batch("sqs_ground_truth_object_created", [matched])) == {"batchItemFailures": []}
    assert stack.state.runs.load("churn").labels_unmatched == 3


def test_a_later_label_object_replaces_an_earlier_one(stack):
    ingest_captures(stack)
    first = ground_truth_event(stack, ground_truth_key(T0 + timedelta(days=1)), ground_truth_file({"ev-1": 0}))
    second = ground_truth_event(stack, ground_truth_key(T0 + timedelta(days=2)), ground_truth_file({"ev-1": 1}))
    # Delivered out of order: the later folder still wins
    assert invoke_labels(sqs_batch("sqs_ground_truth_object_created", [second, first])) == {"batchItemFailures": []}
    frame = read_ground_truth(stack.lake, "churn")
    assert frame.filter(frame["inference_id"] == "ev-1")["y_true"].to_list() == [1]
    counters = {c.hour.hour: c for c in stack.state.counters.hours("churn")}
    assert counters[10].label_version == 2


def test_duplicate_delivery_counts_once_and_a_label_count_mismatch_is_quarantined(stack):
    ingest_captures(stack)
    text = ground_truth_line("ev-2", [1]) + "\n" + ground_truth_line("ev-4", [0, 1]) + "\n"  # 2 labels for 1 row
    body = ground_truth_event(stack, ground_truth_key(T0 + timedelta(hours=5)), text.encode())
    event = sqs_batch("sqs_ground_truth_object_created", [body, body])
    assert invoke_labels(event) == {"batchItemFailures": []}
    counters = {c.hour.hour: c for c in stack.state.counters.hours("churn")}
    assert (counters[10].labels, counters[10].label_version) == (1, 1)
    frame = read_ground_truth(stack.lake, "churn")
    assert frame["inference_id"].to_list() == ["ev-2"]
    [quarantine] = list(stack.lake.list("quarantine/model=churn/"))
    entry = json.loads(stack.lake.get(quarantine).decode().splitlines()[0])
    assert entry["line"] == 2
    assert entry["reason"] == "label count mismatch: 2 labels for a request of 1 rows"
    assert entry["raw"] == ground_truth_line("ev-4", [0, 1])


def test_labels_outside_any_model_prefix_are_skipped(stack):
    body = ground_truth_event(stack, "ground-truth/other/2024/03/02/10/x.jsonl", ground_truth_file({"a": 1}))
    assert invoke_labels(sqs_batch("sqs_ground_truth_object_created", [body])) == {"batchItemFailures": []}
    item = stack.state.objects.processed(
        CAPTURE_BUCKET, body["detail"]["object"]["key"], body["detail"]["object"]["version-id"]
    )
    assert item is not None and item["status"] == "skipped"
    assert list(stack.lake.list("ground_truth/")) == []


def test_labels_whose_captures_land_while_they_are_ingested_still_count(stack, monkeypatch):
    # Given labels for 10h inferences whose capture file is ingested after the label ingest read the captures
    # (empty) but before it wrote the labels: the race between the two ingests
    from modelwatch.ingest import service

    real = service.decode_ground_truth_to_lake

    def captures_land_meanwhile(*args, **kwargs):
        ingest_captures(stack)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "decode_ground_truth_to_lake", captures_land_meanwhile)
    body = ground_truth_event(
        stack, ground_truth_key(T0 + timedelta(days=1)), ground_truth_file({"ev-0": 1, "ev-9": 0})
    )

    # When the labels are ingested
    assert invoke_labels(sqs_batch("sqs_ground_truth_object_created", [body])) == {"batchItemFailures": []}

    # Then they still count on their inference hours (looked up again among the captures that arrived meanwhile),
    # so the chunks are re-estimated with them
    counters = {c.hour.hour: c for c in stack.state.counters.hours("churn")}
    assert (counters[10].labels, counters[10].label_version) == (1, 1)
    assert (counters[11].labels, counters[11].label_version) == (1, 1)
