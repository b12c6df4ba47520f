"""Ingestion calls the workflow trigger last: a completed chunk starts one Monitor execution, redeliveries none."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3

from tests.helpers import load_handler
from tests.integration.ingest.conftest import CAPTURE_BUCKET, REGION, LambdaContext, capture_event, sqs_batch
from tests.unit.ingest.helpers import capture_file, capture_key

T0 = datetime(2024, 3, 1, 10, 5, tzinfo=UTC)
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def test_a_completed_chunk_starts_one_execution_after_the_object_is_recorded(stack, monkeypatch):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name="monitor", definition=PASS, roleArn="arn:aws:iam::123456789012:role/sfn")[
        "stateMachineArn"
    ]
    monkeypatch.setenv("MONITOR_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("MODELWATCH_CLOCK", "2024-03-01T13:00:00Z")  # the 10h and 11h chunks are complete
    import modelwatch.ingest.service as ingest_service

    real = ingest_service.trigger_ready_runs
    seen = []

    def spy(models, **kwargs):
        seen.append((models, kwargs["state"].objects.processed(CAPTURE_BUCKET, key, version) is not None))
        return real(models, **kwargs)

    monkeypatch.setattr(ingest_service, "trigger_ready_runs", spy)
    key = capture_key(T0)
    body = capture_event(stack, key, capture_file(T0, 12))
    version = body["detail"]["object"]["version-id"]
    handler = load_handler("ingest_capture")
    assert handler.lambda_handler(sqs_batch("sqs_capture_object_created", [body]), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert seen == [(["churn"], True)]  # called for the model, after the record was written
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
    # A redelivery calls the (idempotent) trigger again and starts nothing new
    assert handler.lambda_handler(sqs_batch("sqs_capture_object_created", [body]), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert len(seen) == 2
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
