"""IngestCaptureFunction on moto for a batch transform job with data capture: the output manifest's .out files land
in the lake as the model's captures (counters by the job's hour), the input manifest is skipped, and Model
Monitor's merged records decode as captures and as labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from modelwatch.lake.reader import read_rows
from tests.helpers import EVENTS, load_handler
from tests.integration.ingest.conftest import CAPTURE_BUCKET, LambdaContext, capture_event, sqs_batch
from tests.unit.capture.conftest import CAR_LOAN_FEATURES
from tests.unit.ingest.helpers import churn_config

BATCH = EVENTS / "batch_transform"
CAPTURE = "datacapture/car-loan-batch"  # the job's DestinationS3Uri, under the stack's capture prefix
OUTPUT_KEY = "transform-output/car-loan/car-loan-2024-03-01.csv.out"


def _batch_model():  # type: ignore[no-untyped-def]
    return churn_config(
        "car-loan-batch",
        endpoint="car-loan-batch",
        features=CAR_LOAN_FEATURES,
        batch_transform={"capture": f"s3://{CAPTURE_BUCKET}/{CAPTURE}"},
        ground_truth={"prefix": "ground-truth/car-loan-batch/"},
    )


def _manifest(name: str) -> bytes:
    manifest = json.loads((BATCH / name).read_text())
    manifest[0]["prefix"] = manifest[0]["prefix"].replace("capture-bucket", CAPTURE_BUCKET)
    return json.dumps(manifest, indent=4).encode()


def test_an_output_manifest_brings_the_jobs_records_into_the_lake(stack) -> None:
    # Given a batch transform model, the job's .out file and its output manifest in the capture bucket
    stack.registry.register(_batch_model())
    stack.put(OUTPUT_KEY, (BATCH / "car-loan-2024-03-01.csv.out").read_bytes())
    body = capture_event(
        stack,
        f"{CAPTURE}/output/2024/03/01/10/5ef12a7a-2c09-4d6f-817b-84823cee935f.json",
        _manifest("output_manifest.json"),
    )

    # When the queue delivers the manifest's Object Created event to the ingest function
    response = load_handler("ingest_capture").lambda_handler(
        sqs_batch("sqs_capture_object_created", [body]), LambdaContext()
    )

    # Then its records are the model's captures, with the job's inference ids, and the job's hour is counted
    assert response == {"batchItemFailures": []}
    rows = read_rows(stack.lake, "captures", "car-loan-batch")
    assert rows.height == 4 and rows["y_pred_proba"].to_list() == [0.91, 0.12, 0.57, 0.08]
    assert rows["inference_id"].to_list()[0] == "1f1d57b1-2e6f-488c-8c30-db4e6d757861"
    counters = stack.state.counters.hours("car-loan-batch")
    assert [(c.hour, c.rows) for c in counters] == [(datetime(2024, 3, 1, 10, tzinfo=UTC), 4)]
    assert read_rows(stack.lake, "captures", "churn").height == 0  # the endpoint model reads none of it


def test_the_input_manifest_is_skipped_and_a_missing_output_is_retried(stack) -> None:
    # Given the job's input manifest, and an output manifest whose .out file is not (yet) readable
    stack.registry.register(_batch_model())
    folder = f"{CAPTURE}/{{}}/2024/03/01/10/5ef12a7a-2c09-4d6f-817b-84823cee935f.json"
    skipped = capture_event(stack, folder.format("input"), _manifest("input_manifest.json"))
    failing = capture_event(stack, folder.format("output"), _manifest("output_manifest.json"))

    # When the queue delivers both
    response = load_handler("ingest_capture").lambda_handler(
        sqs_batch("sqs_capture_object_created", [skipped, failing]), LambdaContext()
    )

    # Then the input manifest is recorded as skipped saying why (the inputs come joined in the outputs), and the
    # output manifest's message fails (retried, then the DLQ) with nothing recorded
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    item = stack.state.objects.processed(
        CAPTURE_BUCKET, folder.format("input"), skipped["detail"]["object"]["version-id"]
    )
    assert item is not None and item["status"] == "skipped"
    assert item["reason"] == "batch transform capture: only output/ manifests are read"
    version = failing["detail"]["object"]["version-id"]
    assert stack.state.objects.processed(CAPTURE_BUCKET, folder.format("output"), version) is None
