"""The ASL files as written, executed on moto's Step Functions interpreter with Lambda calls routed in-process.

PrepareRun, ListModels and StartMonitor are the real handlers; the analyse, publish and record-failure functions
are recording fakes here (their own suites and the end-to-end demo run the real ones through the same files).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from modelwatch.clock import parse_iso
from modelwatch.errors import EmptyWindowError, ModelwatchError
from modelwatch.state import State
from modelwatch_cli.local.adapter import InvocationResult, embedded_aws, route_lambda_invocations
from modelwatch_cli.local.functions import LambdaContext
from tests.helpers import load_handler
from tests.integration.workflow.conftest import (
    LAKE_BUCKET,
    ROLE_ARN,
    STATE_TABLE,
    Aws,
    create_backends,
    definition_with,
    lambda_arn,
)
from tests.unit.workflow.helpers import T0, model_config

FUNCTIONS = ("prepare-run", "analyse", "publish", "record-failure", "list-models", "start-monitor")
Fake = Callable[[dict[str, Any]], Any]


class Router:
    """Routes moto Lambda invocations: real handlers for the workflow's own functions, fakes for the others."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {name: [] for name in FUNCTIONS}
        self.handlers = {
            "prepare-run": load_handler("prepare_run"),
            "list-models": load_handler("list_models"),
            "start-monitor": load_handler("start_monitor"),
        }
        self.fakes: dict[str, Fake] = {
            "analyse": self.analysis,
            "publish": lambda event: {"datapoints": 4, "notifications": 0},
            "record-failure": lambda event: {"recorded": True},
        }

    @staticmethod
    def analysis(event: dict[str, Any]) -> dict[str, Any]:
        """One monitor's outcome, or the assembled run's."""
        run = event["run"]
        if event["action"] == "analyse":
            return {"monitor": event["monitor"], "results_key": f"runs/{run['run_id']}/{event['monitor']}.parquet"}
        return {
            "model": run["model"],
            "run_id": run["run_id"],
            "problem_type": "binary_classification",
            "results_uri": f"s3://{LAKE_BUCKET}/results/model={run['model']}/run={run['run_id']}/results.parquet",
            "report_uri": f"s3://{LAKE_BUCKET}/reports/model={run['model']}/run={run['run_id']}/report.html",
            "chunks_analysed": 3,
            "chunks_skipped": [],
            "alerts": [],
            "alerts_total": 0,
        }

    def __call__(self, function_name: str, event: Any) -> InvocationResult:
        self.calls[function_name].append(event)
        try:
            if function_name in self.handlers:
                handler = self.handlers[function_name].lambda_handler
                context = LambdaContext(function_name, lambda_arn(function_name))
                return InvocationResult(payload=handler(event, context))
            return InvocationResult(payload=self.fakes[function_name](event))
        except ModelwatchError as exc:
            return InvocationResult(error_type=type(exc).__name__, error_message=str(exc))


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Aws, Router]]:
    with embedded_aws():
        aws = create_backends()
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")
        role = iam.get_role(RoleName="lambda")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
        lam = boto3.client("lambda", region_name="us-east-1")
        for name in FUNCTIONS:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="app.lambda_handler",
                Code={"ZipFile": archive.getvalue()},
            )
        monkeypatch.setenv("LAKE_BUCKET", LAKE_BUCKET)
        monkeypatch.setenv("STATE_TABLE", STATE_TABLE)
        monkeypatch.setenv("MONITOR_STATE_MACHINE_ARN", aws.monitor_arn)
        monkeypatch.setenv("MODELWATCH_CLOCK", (T0 + timedelta(hours=3, minutes=30)).isoformat())
        router = Router()
        for module in router.handlers.values():  # warm-container caches must not outlive this moto instance
            for attribute in ("_stores", "_registry", "_clients"):
                if hasattr(module, attribute):
                    getattr(module, attribute).cache_clear()
        with route_lambda_invocations(router):
            yield aws, router


def _run(aws: Aws, arn: str, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    execution_arn = aws.sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"]
    return _wait(aws, execution_arn)


def _wait(aws: Aws, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    """moto runs executions in threads: poll until this one has finished."""
    deadline = time.monotonic() + timeout
    while True:
        described = aws.sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"{execution_arn} still running after {timeout}s"
        time.sleep(0.05)


def _seed(aws: Aws, name: str, problem_type: str) -> None:
    aws.register(model_config(name, problem_type))
    for hour in range(3):
        aws.ingest(name, T0 + timedelta(hours=hour), rows=400)


@pytest.mark.parametrize(
    ("problem_type", "monitors"),
    # data quality runs by default since #14
    [
        ("binary_classification", ["performance", "drift", "data_quality"]),
        ("regression", ["performance", "drift", "data_quality"]),
    ],
)
def test_monitor_run_succeeds_and_records_run_state(
    stack: tuple[Aws, Router], problem_type: str, monitors: list[str]
) -> None:
    aws, router = stack
    # Given a registered model with three complete hours
    _seed(aws, "loans", problem_type)
    # When the Monitor state machine runs for it (no window given: PrepareRun plans it)
    described = _run(aws, aws.monitor_arn, "loans-manual-1", {"model": "loans"})
    # Then it succeeds, each configured monitor analysing the planned window as its own step, with the config
    assert described["status"] == "SUCCEEDED", described
    analysed = [c for c in router.calls["analyse"] if c["action"] == "analyse"]
    assert sorted(c["monitor"] for c in analysed) == sorted(monitors)
    for call in analysed:
        run = call["run"]
        assert (run["model"], run["run_id"]) == ("loans", "loans-manual-1")
        assert (run["window_start"], run["window_end"]) == ("2024-03-01T00:00:00Z", "2024-03-01T03:00:00Z")
        assert run["input_complete"] is False and run["monitors"] == monitors
        assert run["config"]["name"] == "loans" and run["config"]["problem_type"] == problem_type
    # And the run is assembled from the monitors' outcomes, in the configured order
    (assemble,) = [c for c in router.calls["analyse"] if c["action"] == "assemble"]
    assert [m["monitor"] for m in assemble["monitors"]] == monitors
    # And publishes the assembled outcome with the config the run carries, and never records a failure,
    # with the execution's start time, for the workflow-duration metric
    (publish,) = router.calls["publish"]
    assert publish["outcome"] == Router.analysis(assemble)
    assert publish["config"] == assemble["run"]["config"]
    started = parse_iso(described["startDate"].isoformat())  # described to the millisecond
    assert abs(parse_iso(publish["execution_start"]) - started) < timedelta(milliseconds=1)
    assert router.calls["record-failure"] == []
    output = json.loads(described["output"])
    assert output["results_uri"].endswith("run=loans-manual-1/results.parquet")
    assert (output["monitors"], output["chunks_analysed"]) == (monitors, 3)
    # And RecordSuccess wrote the model's run state
    state = State(aws.dynamodb, STATE_TABLE).runs.load("loans")
    assert state.last_run == "loans-manual-1"
    assert state.last_analysed_chunk == "2024-03-01T03:00:00Z"
    assert state.last_input_version == output["input_version"]


def test_a_failing_monitor_is_named_and_the_others_are_published(stack: tuple[Aws, Router]) -> None:
    # Given a run whose drift step fails while performance analyses (this used to fail the whole run)
    aws, router = stack
    _seed(aws, "loans", "binary_classification")

    def drift_fails(event: dict[str, Any]) -> Any:
        if event["action"] == "analyse" and event["monitor"] == "drift":
            raise EmptyWindowError("model loans: no captured rows with predictions in window")
        return Router.analysis(event)

    router.fakes["analyse"] = drift_fails
    described = _run(aws, aws.monitor_arn, "loans-manual-2", {"model": "loans"})
    # Then the run succeeds: Assemble gets performance's outcome and drift's failure by name, Publish runs
    assert described["status"] == "SUCCEEDED", described
    (assemble,) = [c for c in router.calls["analyse"] if c["action"] == "assemble"]
    by_monitor = {m["monitor"]: m for m in assemble["monitors"]}
    assert by_monitor["performance"]["results_key"].endswith("performance.parquet")
    assert by_monitor["drift"]["failed"]["Error"] == "EmptyWindowError"
    assert "no captured rows" in by_monitor["drift"]["failed"]["Cause"]
    assert len(router.calls["publish"]) == 1 and router.calls["record-failure"] == []


def test_when_every_monitor_fails_the_run_fails_by_the_first_error(stack: tuple[Aws, Router]) -> None:
    aws, router = stack
    _seed(aws, "loans", "binary_classification")

    def every_monitor_fails(event: dict[str, Any]) -> Any:
        if event["action"] == "analyse":
            raise EmptyWindowError("model loans: no captured rows with predictions in window")
        # as the real Assemble answers when no monitor analysed (analysis.assemble.assemble_run)
        first = event["monitors"][0]["failed"]
        return {**Router.analysis(event), "run_failure": {"Error": first["Error"], "Cause": first["Cause"]}}

    router.fakes["analyse"] = every_monitor_fails
    described = _run(aws, aws.monitor_arn, "loans-manual-3", {"model": "loans"})
    # Then the execution fails with the named error, after RecordFailure got it, and nothing was published
    assert described["status"] == "FAILED"
    assert described["error"] == "EmptyWindowError"
    (failure,) = router.calls["record-failure"]
    assert failure["model"] == "loans" and failure["run_id"] == "loans-manual-3"
    assert failure["error"]["Error"] == "EmptyWindowError"
    assert "no captured rows" in failure["error"]["Cause"]
    assert router.calls["publish"] == []


def test_unregistered_model_fails_in_prepare(stack: tuple[Aws, Router]) -> None:
    aws, router = stack
    described = _run(aws, aws.monitor_arn, "ghost-1", {"model": "ghost"})
    assert (described["status"], described["error"]) == ("FAILED", "RegistryError")
    assert router.calls["analyse"] == []
    assert router.calls["record-failure"][0]["error"]["Error"] == "RegistryError"


def test_a_throttled_analysis_step_is_retried(stack: tuple[Aws, Router]) -> None:
    aws, router = stack
    _seed(aws, "loans", "binary_classification")
    attempts: list[int] = []

    def throttled_once(event: dict[str, Any]) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise _Throttled("Rate exceeded")
        return Router.analysis(event)

    router.fakes["analyse"] = throttled_once
    described = _run(aws, aws.monitor_arn, "loans-manual-3", {"model": "loans"})
    assert described["status"] == "SUCCEEDED"
    assert len(attempts) == 5  # the throttled call again, then the two other monitors and the assembly


class _Throttled(ModelwatchError):
    """Stands in for Lambda's throttling error name."""


_Throttled.__name__ = "Lambda.TooManyRequestsException"


def test_fleet_runs_every_model_through_the_distributed_map(stack: tuple[Aws, Router]) -> None:
    aws, router = stack
    fleet = aws.sfn.create_state_machine(
        name="fleet",
        definition=definition_with(
            "FleetStateMachine",
            {
                "Partition": "aws",
                "ListModelsFunctionArn": lambda_arn("list-models"),
                "StartMonitorFunctionArn": lambda_arn("start-monitor"),
            },
        ),
        roleArn=ROLE_ARN,
    )
    # Given two models with data and one without
    _seed(aws, "loans", "binary_classification")
    _seed(aws, "prices", "regression")
    aws.register(model_config("idle"))
    # When the scheduled fleet run executes
    described = _run(aws, fleet["stateMachineArn"], "fleet-1", {"trigger": "schedule"})
    # Then each model got its StartMonitor call and the two with data started their Monitor runs
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["models"] == 3
    [batch] = output["runs"]  # three models are one batch (one child execution)
    assert batch["statuses"] == {"no_data": 1, "started": 2} and batch["failed"] == []
    assert sorted(batch["started"]) == ["loans", "prices"]
    assert sorted(e["name"].split("-")[0] for e in aws.executions()) == ["loans", "prices"]
    # And those Monitor runs (executing in moto's threads) finish successfully
    for execution in aws.executions():
        assert _wait(aws, execution["executionArn"])["status"] == "SUCCEEDED"
    assembled = [c["run"]["model"] for c in router.calls["analyse"] if c["action"] == "assemble"]
    assert sorted(assembled) == ["loans", "prices"]
