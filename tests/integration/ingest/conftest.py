"""Fixtures: moto capture bucket (versioned, EventBridge notifications on), lake, state table, queues and rules like
template.yaml, and events built from the canonical `events/` fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch.state import State
from tests.helpers import create_state_table, load_event
from tests.unit.ingest.helpers import CAPTURE_PREFIX, GROUND_TRUTH_PREFIX, churn_config

REGION = "us-east-1"
CAPTURE_BUCKET = "capture"
LAKE_BUCKET = "lake"
STATE_TABLE = "state"


@dataclass
class LambdaContext:
    function_name: str = "modelwatch-IngestCaptureFunction"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-IngestCaptureFunction"
    aws_request_id: str = "6f1c2d3e-0000-4000-8000-000000000000"


@dataclass
class Stack:
    s3: Any
    dynamodb: Any
    sqs: Any
    events: Any
    lake: S3Store
    state: State
    registry: Registry
    capture_queue: str
    ground_truth_queue: str

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        """Put an object in the capture bucket; returns its ETag (unquoted), VersionId and size."""
        response = self.s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body=body)
        return {"etag": response["ETag"].strip('"'), "version": response.get("VersionId"), "size": len(body)}

    def drain(self, queue: str) -> list[dict[str, Any]]:
        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])
            if not batch.get("Messages"):
                return messages
            messages.extend(batch["Messages"])


def object_created(fixture: str, key: str, etag: str, version: str | None, size: int) -> dict[str, Any]:
    """The canonical EventBridge event from `events/`, pointed at one object."""
    event = load_event(fixture)
    event["detail"]["bucket"]["name"] = CAPTURE_BUCKET
    event["resources"] = [f"arn:aws:s3:::{CAPTURE_BUCKET}"]
    event["detail"]["object"].update({"key": key, "etag": etag, "size": size})
    if version:
        event["detail"]["object"]["version-id"] = version
    else:
        event["detail"]["object"].pop("version-id", None)
    return event


def sqs_batch(fixture: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The canonical SQS batch event from `events/`, one record per EventBridge event body."""
    template = load_event(fixture)["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = json.loads(json.dumps(template))
        record["messageId"] = f"msg-{index}"
        record["body"] = json.dumps(body)
        records.append(record)
    return {"Records": records}


def capture_event(stack: Stack, key: str, body: bytes) -> dict[str, Any]:
    meta = stack.put(key, body)
    return object_created("s3_object_created_capture", key, meta["etag"], meta["version"], meta["size"])


def ground_truth_event(stack: Stack, key: str, body: bytes) -> dict[str, Any]:
    meta = stack.put(key, body)
    return object_created("s3_object_created_ground_truth", key, meta["etag"], meta["version"], meta["size"])


def _queue(sqs: Any, events: Any, name: str, prefix: str) -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [CAPTURE_BUCKET]}, "object": {"key": [{"prefix": prefix}]}},
    }
    events.put_rule(Name=f"{name}-rule", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"{name}-rule", Targets=[{"Id": name, "Arn": arn}])
    return url


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("LAKE_BUCKET", LAKE_BUCKET)
    monkeypatch.setenv("STATE_TABLE", STATE_TABLE)
    monkeypatch.setenv("CAPTURE_PREFIX", CAPTURE_PREFIX)
    monkeypatch.setenv("GROUND_TRUTH_PREFIX", GROUND_TRUTH_PREFIX)
    monkeypatch.delenv("MONITOR_STATE_MACHINE_ARN", raising=False)
    monkeypatch.delenv("MODELWATCH_CLOCK", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (CAPTURE_BUCKET, LAKE_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=CAPTURE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=CAPTURE_BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, STATE_TABLE)
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        lake = S3Store(s3, LAKE_BUCKET)
        registry = Registry(lake, cache_seconds=0)
        registry.register(churn_config())
        yield Stack(
            s3=s3,
            dynamodb=dynamodb,
            sqs=sqs,
            events=events,
            lake=lake,
            state=State(dynamodb, STATE_TABLE),
            registry=registry,
            capture_queue=_queue(sqs, events, "capture-queue", CAPTURE_PREFIX),
            ground_truth_queue=_queue(sqs, events, "ground-truth-queue", GROUND_TRUTH_PREFIX),
        )
