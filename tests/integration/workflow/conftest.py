"""Fixtures: moto S3 (lake + registry), DynamoDB (state table) and a Monitor state machine from the real ASL file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from checks.asl import state_machines
from modelwatch.clock import SimulatedClock
from modelwatch.config.model import ModelConfig
from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch.state import CounterDelta, ObjectRecord, State
from tests.helpers import ROOT, create_state_table
from tests.unit.workflow.helpers import T0, model_config

LAKE_BUCKET = "lake"
STATE_TABLE = "state"
ROLE_ARN = "arn:aws:iam::123456789012:role/sfn"


@dataclass
class Aws:
    """The moto clients and the modelwatch objects built on them."""

    s3: Any
    dynamodb: Any
    sfn: Any
    registry: Registry
    state: State
    clock: SimulatedClock
    monitor_arn: str
    _files: int = 0

    def register(self, config: ModelConfig) -> ModelConfig:
        return self.registry.register(config, b"PAR1", ".parquet")

    def ingest(self, model: str, hour: datetime, rows: int = 0, labels: int = 0) -> None:
        """What ingestion records for one source file: the object plus its hour counter increments."""
        self._files += 1
        delta = CounterDelta(
            model, hour, rows=rows, labels=labels, data_version=1 if rows else 0, label_version=1 if labels else 0
        )
        record = ObjectRecord("capture", f"file-{self._files}", "v1", "capture", "ingested", [model], rows)
        assert self.state.objects.record(record, [delta], self.clock.now())

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.monitor_arn)["executions"]


def definition_with(logical_id: str, arns: dict[str, str]) -> str:
    """The ASL file as written, with its DefinitionSubstitutions filled in."""
    machine = next(m for m in state_machines(ROOT / "template.yaml") if m.logical_id == logical_id)
    text = machine.path.read_text()
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    assert used == set(machine.substitutions) <= set(arns), (used, arns)
    for name, value in arns.items():
        text = text.replace("${" + name + "}", value)
    json.loads(text)
    return text


def lambda_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


MONITOR_ARNS = {
    "Partition": "aws",
    "PrepareRunFunctionArn": lambda_arn("prepare-run"),
    "AnalyseFunctionArn": lambda_arn("analyse"),
    "PublishFunctionArn": lambda_arn("publish"),
    "RecordFailureFunctionArn": lambda_arn("record-failure"),
    "StateTableName": STATE_TABLE,
}


def create_backends(region: str = "us-east-1") -> Aws:
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=LAKE_BUCKET)
    dynamodb = boto3.client("dynamodb", region_name=region)
    create_state_table(dynamodb, STATE_TABLE)
    sfn = boto3.client("stepfunctions", region_name=region)
    monitor = sfn.create_state_machine(
        name="monitor", definition=definition_with("MonitorStateMachine", MONITOR_ARNS), roleArn=ROLE_ARN
    )
    return Aws(
        s3=s3,
        dynamodb=dynamodb,
        sfn=sfn,
        registry=Registry(S3Store(s3, LAKE_BUCKET), cache_seconds=0),
        state=State(dynamodb, STATE_TABLE),
        clock=SimulatedClock(T0),
        monitor_arn=monitor["stateMachineArn"],
    )


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        yield create_backends()


@pytest.fixture
def handler_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """The backends with model `loans` registered and the environment the workflow's handlers read."""
    with mock_aws():
        backends = create_backends()
        monkeypatch.setenv("LAKE_BUCKET", LAKE_BUCKET)
        monkeypatch.setenv("STATE_TABLE", STATE_TABLE)
        monkeypatch.setenv("MONITOR_STATE_MACHINE_ARN", backends.monitor_arn)
        monkeypatch.setenv("MODELWATCH_CLOCK", (T0 + timedelta(hours=3, minutes=30)).isoformat())
        backends.register(model_config("loans"))
        yield backends
