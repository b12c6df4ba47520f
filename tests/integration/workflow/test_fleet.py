"""The fleet run at scale on moto: batches for the Distributed Map, one batch's runs, its heartbeats and its size."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from modelwatch.workflow.fleet import FLEET_BATCH_SIZE, MAX_CAUSE_CHARS, list_models, start_model_runs
from tests.integration.workflow.conftest import Aws
from tests.unit.workflow.helpers import T0, model_config

STATE_LIMIT_BYTES = 262_144  # Step Functions' largest state input or output (Standard workflows' quotas page)


class _RecordingCloudWatch:
    """Counts PutMetricData requests and their datapoints."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(MetricData)
        return {}


class _DeniedFor:
    """Step Functions whose StartExecution is denied for one model's runs."""

    def __init__(self, real: Any, model: str) -> None:
        self.real, self.model = real, model

    def start_execution(self, **kwargs: Any) -> Any:
        if kwargs["name"].startswith(self.model):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "StartExecution")
        return self.real.start_execution(**kwargs)

    def describe_execution(self, **kwargs: Any) -> Any:
        return self.real.describe_execution(**kwargs)


def test_a_thousand_models_are_listed_in_batches_within_the_state_limit(aws: Aws) -> None:
    # Given a thousand registered models
    names = [f"model-{i:04d}" for i in range(1000)]
    for name in names:
        aws.registry.store.put(f"models/{name}/config.yaml", b"name: x\n")
    # When ListModels lists them
    listed = list_models(aws.registry)
    # Then every model is in exactly one batch of at most FLEET_BATCH_SIZE, in 40 Map items
    assert listed["count"] == 1000
    assert len(listed["batches"]) == 1000 // FLEET_BATCH_SIZE
    assert [m for b in listed["batches"] for m in b["models"]] == names
    assert all(len(b["models"]) <= FLEET_BATCH_SIZE and b["trigger"] == "schedule" for b in listed["batches"])
    # And the output, which the fleet execution carries as state, is far below the 256 KiB limit
    assert len(json.dumps(listed).encode()) < STATE_LIMIT_BYTES / 4


def test_a_batch_starts_its_models_reports_failures_by_name_and_sends_heartbeats_once(aws: Aws) -> None:
    # Given four models: two with new data, one of them denied StartExecution, and two with nothing captured
    for name in ("loans", "prices", "idle-a", "idle-b"):
        aws.register(model_config(name))
    aws.ingest("loans", T0, rows=400)
    aws.ingest("prices", T0, rows=400)
    aws.clock.set(T0 + timedelta(hours=2))
    cloudwatch = _RecordingCloudWatch()
    # When one Map item holds them and a model that is not registered
    summary = start_model_runs(
        ["loans", "prices", "idle-a", "idle-b", "ghost"],
        registry=aws.registry,
        state=aws.state,
        sfn_client=_DeniedFor(aws.sfn, "prices"),
        state_machine_arn=aws.monitor_arn,
        clock=aws.clock,
        cloudwatch=cloudwatch,
    )
    # Then the batch summary counts each outcome, the denied model is named with its error, the others went on
    assert summary["models"] == 5
    assert summary["statuses"] == {"failed": 1, "no_data": 2, "not_registered": 1, "started": 1}
    assert summary["started"] == ["loans"]
    assert [(f["model"], f["error"]) for f in summary["failed"]] == [("prices", "WorkflowError")]
    assert "AccessDeniedException" in summary["failed"][0]["cause"]
    assert [e["name"].split("-")[0] for e in aws.executions()] == ["loans"]
    # And the two idle models' heartbeats went out in one PutMetricData request
    assert len(cloudwatch.requests) == 1
    assert sorted(d["Dimensions"][0]["Value"] for d in cloudwatch.requests[0]) == ["idle-a", "idle-b"]


def test_the_map_output_of_a_thousand_failing_models_stays_under_the_state_limit() -> None:
    # Given the worst case: every model of a thousand failed with a long cause (40 batch summaries)
    batch = {
        "models": FLEET_BATCH_SIZE,
        "statuses": {"failed": FLEET_BATCH_SIZE},
        "started": [],
        "failed": [
            {"model": f"a-model-name-of-sixty-four-characters-{i:025d}", "error": "WorkflowError", "cause": "x" * 500}
            for i in range(FLEET_BATCH_SIZE)
        ],
    }
    for failure in batch["failed"]:
        failure["cause"] = failure["cause"][:MAX_CAUSE_CHARS]
    runs = [batch] * (1000 // FLEET_BATCH_SIZE)
    # Then the Map's gathered output (the fleet execution's Summarise state) still fits in 256 KiB
    assert len(json.dumps({"models": 1000, "runs": runs}).encode()) < STATE_LIMIT_BYTES
