"""Fixtures: a moto CloudFormation stack shaped like template.yaml's outputs (versioned capture bucket, lake, state
table, capture and ground-truth queues with their dead-letter queues, the events DLQ) and a registered churn model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from modelwatch.config.model import ModelConfig
from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch.state import State
from tests.unit.ingest.helpers import CAPTURE_PREFIX, GROUND_TRUTH_PREFIX, churn_config

STACK = "mw-verbs"
CAPTURE_BUCKET = "mw-verbs-capture"
LAKE_BUCKET = "mw-verbs-lake"
STATE_TABLE = "mw-verbs-state"


def _queue(dlq: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"VisibilityTimeout": 30}
    if dlq:
        properties["RedrivePolicy"] = {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}, "maxReceiveCount": 5}
    return {"Type": "AWS::SQS::Queue", "Properties": properties}


TEMPLATE = {
    "Parameters": {
        "CapturePrefix": {"Type": "String", "Default": CAPTURE_PREFIX},
        "GroundTruthPrefix": {"Type": "String", "Default": GROUND_TRUTH_PREFIX},
    },
    "Resources": {
        "CaptureBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": CAPTURE_BUCKET, "VersioningConfiguration": {"Status": "Enabled"}},
        },
        "LakeBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": LAKE_BUCKET}},
        "StateTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": STATE_TABLE,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            },
        },
        "CaptureDeadLetterQueue": _queue(),
        "CaptureQueue": _queue("CaptureDeadLetterQueue"),
        "GroundTruthDeadLetterQueue": _queue(),
        "GroundTruthQueue": _queue("GroundTruthDeadLetterQueue"),
        "EventsDeadLetterQueue": _queue(),
    },
    "Outputs": {
        "CaptureBucketName": {"Value": {"Ref": "CaptureBucket"}},
        "LakeBucketName": {"Value": {"Ref": "LakeBucket"}},
        "StateTableName": {"Value": {"Ref": "StateTable"}},
        "CaptureQueueUrl": {"Value": {"Ref": "CaptureQueue"}},
        "CaptureDeadLetterQueueUrl": {"Value": {"Ref": "CaptureDeadLetterQueue"}},
        "GroundTruthQueueUrl": {"Value": {"Ref": "GroundTruthQueue"}},
        "GroundTruthDeadLetterQueueUrl": {"Value": {"Ref": "GroundTruthDeadLetterQueue"}},
        "EventsDeadLetterQueueUrl": {"Value": {"Ref": "EventsDeadLetterQueue"}},
    },
}


@dataclass
class Stack:
    """The moto clients, the stack's outputs and the modelwatch objects on them."""

    s3: Any
    sqs: Any
    outputs: dict[str, str]
    lake: S3Store
    state: State
    registry: Registry

    def put_capture(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body=body)

    def lake_keys(self, prefix: str = "") -> list[str]:
        return sorted(self.lake.list(prefix))

    def register(self, config: ModelConfig) -> ModelConfig:
        return self.registry.register(config, b"PAR1", ".parquet")


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
        described = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        s3 = boto3.client("s3", region_name="us-east-1")
        # moto's CloudFormation leaves VersioningConfiguration out; the template's capture bucket is versioned.
        s3.put_bucket_versioning(Bucket=CAPTURE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        lake = S3Store(s3, LAKE_BUCKET)
        built = Stack(
            s3=s3,
            sqs=boto3.client("sqs", region_name="us-east-1"),
            outputs=outputs,
            lake=lake,
            state=State(boto3.client("dynamodb", region_name="us-east-1"), STATE_TABLE),
            registry=Registry(lake, cache_seconds=0),
        )
        built.register(churn_config())
        yield built


def invoke(command: Any, *args: str) -> Result:
    """Run a verb against the test stack (`--stack` appended unless `--local` is given)."""
    argv = list(args) if "--local" in args else [*args, "--stack", STACK]
    return CliRunner().invoke(command, argv, catch_exceptions=True)
