"""Where moto's quirks are known (pinned moto==5.2.5; tests/integration/local/test_adapter.py checks each).

IAM enforcement has its own module, `authorization` (test_authorization.py). Facts wrapped here:
- Step Functions executes real ASL only with `{"stepfunctions": {"execute_state_machine": True}}`; executions run
  in daemon threads, so callers wait on `list_executions(statusFilter="RUNNING")` (which fails inside moto while
  another thread is starting an execution: `running_executions` counts that as running).
- Lambda invocations (from Step Functions tasks or `lambda:Invoke`) go to `LambdaFunction.invoke`, which would
  need Docker; it is private, and we replace it with an in-process router.
- An unnamed `start_execution` gets the literal name `None`; `start_named_execution` refuses to start one.
- S3 -> EventBridge -> SQS delivers (bucket with EventBridge notifications on); EventBridge -> Lambda does not, so
  schedules are fired by the local clock instead of rules.
- A moto server's ASL interpreter calls Lambda on `localhost:$MOTO_PORT`; `configure_server` sets it.
- The ASL interpreter parses but ignores `ToleratedFailurePercentage` (it logs a warning per execution; silenced).
- CloudWatch stores datapoints but never evaluates alarms, and `get_metric_statistics` ignores the exact-dimension
  match CloudWatch uses; `cloudwatch_datapoints` reads the raw datapoints for our own evaluator.
- moto counts no requests: `counted_api_calls` counts the calls of every boto3 client created while it is active
  (botocore's `before-parameter-build` event, once per call whatever the retries), for the benchmarks.
- KMS implements HMAC keys (`GenerateMac`/`VerifyMac`) but draws every key id at random; `create_key_with_id`
  creates a key under the id the local stack named it by before it existed.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import requests
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.cloudwatch.models import cloudwatch_backends
from moto.kms import models as kms_models

from modelwatch.clock import to_utc
from modelwatch.errors import LocalStackError

MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}
MOTO_SERVER_DEFAULTS: dict[str, Any] = {"stepfunctions": {"execute_state_machine": False}}


@dataclass(frozen=True)
class InvocationResult:
    """What a routed invocation returns: a JSON-able payload, or an error Step Functions can Catch by type."""

    payload: Any = None
    error_type: str | None = None
    error_message: str = ""


Router = Callable[[str, Any], InvocationResult]


def embedded_aws() -> Any:
    """moto's in-process AWS with real ASL execution (a context manager / decorator)."""
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").setLevel(logging.ERROR)
    return mock_aws(config=MOTO_CONFIG)  # type: ignore[call-overload]


@contextmanager
def route_lambda_invocations(router: Router) -> Iterator[None]:
    """Send every moto Lambda invocation to `router(function_name, event)` instead of Docker."""
    original = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        result = router(self.function_name, event)
        if result.error_type is not None:
            # Step Functions names the error by errorType: States.Catch/Retry on our exception class names.
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": result.error_type, "errorMessage": result.error_message}).encode()
        return json.dumps(result.payload).encode()

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaFunction.invoke = original  # type: ignore[method-assign]


def create_key_with_id(kms: Any, key_id: str, arguments: dict[str, Any]) -> str:
    """CreateKey, the new key getting `key_id` (what the template's policies and environments already name)."""
    original = kms_models.generate_key_id

    def pinned(multi_region: bool = False) -> str:
        return key_id

    kms_models.generate_key_id = pinned
    try:
        created = str(kms.create_key(**arguments)["KeyMetadata"]["KeyId"])
    finally:
        kms_models.generate_key_id = original
    if created != key_id:
        raise LocalStackError(f"KMS key created as {created}, not under the id {key_id} the template names")
    return created


def start_named_execution(sfn: Any, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    """Start an execution under an explicit name (moto names unnamed ones `None`)."""
    if not name:
        raise ValueError("executions are always named (moto would call this one 'None')")
    response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
    return str(response["executionArn"])


def running_executions(sfn: Any, state_machine_arns: list[str]) -> list[str]:
    """ARNs of executions still running in moto's worker threads.

    moto appends a new execution to its state machine before giving it a status; a `list_executions` from another
    thread in that instant fails inside moto (AttributeError on the missing status). That execution is starting,
    so it counts as running (reported as `<starting>`) and the caller simply polls again.
    """
    running: list[str] = []
    for arn in state_machine_arns:
        paginator = sfn.get_paginator("list_executions")
        try:
            for page in paginator.paginate(stateMachineArn=arn, statusFilter="RUNNING"):
                running.extend(e["executionArn"] for e in page["executions"])
        except AttributeError:
            running.append(f"{arn} <starting>")
    return running


@dataclass(frozen=True)
class Datapoint:
    """One stored CloudWatch datapoint (a single value or a statistic set)."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    values: tuple[float, ...]  # raw values (a statistic set contributes its sum/count/min/max via stats below)
    stat_sum: float
    stat_count: float
    stat_min: float
    stat_max: float


def cloudwatch_datapoints(account_id: str, region: str) -> list[Datapoint]:
    """Every datapoint moto's CloudWatch holds, with exact dimensions (for our alarm evaluator)."""
    backend = cloudwatch_backends[account_id][region]
    points: list[Datapoint] = []
    for datum in backend.get_all_metrics():
        dims = tuple(sorted((str(d.name), str(d.value)) for d in datum.dimensions))
        if hasattr(datum, "value"):
            value = float(datum.value)
            stats = (value, 1.0, value, value)
            values: tuple[float, ...] = (value,)
        else:  # statistic set
            aggregated: Any = datum
            stats = (
                float(aggregated.sum),
                float(aggregated.sample_count),
                float(aggregated.min),
                float(aggregated.max),
            )
            values = ()
        points.append(
            Datapoint(
                namespace=str(datum.namespace),
                metric_name=str(datum.name),
                dimensions=dims,
                timestamp=to_utc(datum.timestamp),
                values=values,
                stat_sum=stats[0],
                stat_count=stats[1],
                stat_min=stats[2],
                stat_max=stats[3],
            )
        )
    return points


def configure_server(endpoint: str) -> None:
    """Turn on real ASL execution in a running in-process moto server (`/moto-api/config`).

    The server's ASL interpreter calls Lambda at `http://localhost:$MOTO_PORT` (default 5000), so MOTO_PORT is set
    to the server's port for this process.
    """
    port = urlsplit(endpoint).port
    if port is not None:
        os.environ["MOTO_PORT"] = str(port)
    response = requests.post(f"{endpoint}/moto-api/config", json=MOTO_CONFIG, timeout=10)
    response.raise_for_status()


def reset_server(endpoint: str) -> None:
    """Undo `configure_server`: an in-process server shares moto's process-wide config, which outlives the server."""
    response = requests.post(f"{endpoint}/moto-api/config", json=MOTO_SERVER_DEFAULTS, timeout=10)
    response.raise_for_status()


@dataclass
class ApiCalls:
    """AWS API calls by (service, operation), and the datapoints the PutMetricData calls carried."""

    calls: Counter[tuple[str, str]]
    datapoints: Counter[str]  # PutMetricData datapoints per namespace

    def count(self, service: str, operation: str) -> int:
        return self.calls[(service, operation)]

    def by_service(self, service: str) -> int:
        return sum(n for (s, _), n in self.calls.items() if s == service)


@contextmanager
def counted_api_calls() -> Iterator[ApiCalls]:
    """Count the API calls of the boto3 clients created (from boto3's default session) while this is active.

    Clients copy the session's event handlers when they are created, so callers drop cached clients first
    (`modelwatch.aws.clear()`) for the handlers' calls to count."""
    counted = ApiCalls(Counter(), Counter())

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        counted.calls[(model.service_model.service_name, model.name)] += 1
        if model.name == "PutMetricData":
            counted.datapoints[str(params.get("Namespace", ""))] += len(params.get("MetricData", []))

    events = boto3._get_default_session().events
    events.register("before-parameter-build", count, unique_id="modelwatch-counted-api-calls")
    try:
        yield counted
    finally:
        events.unregister("before-parameter-build", unique_id="modelwatch-counted-api-calls")
