"""Debounced triggers on moto DynamoDB + Step Functions: a burst of files starts one execution."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelwatch.errors import WorkflowError
from modelwatch.retry import DEFAULT_BASE_DELAY
from modelwatch.state import State
from modelwatch.workflow.fleet import list_models, start_model_run
from modelwatch.workflow.trigger import START_EXECUTION_ATTEMPTS, trigger_ready_runs
from tests.integration.workflow.conftest import Aws
from tests.unit.workflow.helpers import T0, model_config


def _trigger(aws: Aws, models: list[str]) -> list[dict]:
    return trigger_ready_runs(
        models,
        state=aws.state,
        registry=aws.registry,
        sfn_client=aws.sfn,
        state_machine_arn=aws.monitor_arn,
        clock=aws.clock,
    )


def test_a_burst_of_files_starts_one_execution(aws: Aws) -> None:
    # Given a model with three complete hours of captures
    aws.register(model_config("loans"))
    for hour in range(3):
        aws.ingest("loans", T0 + timedelta(hours=hour), rows=400)
    aws.clock.set(T0 + timedelta(hours=3, minutes=20))
    # When a burst of 20 capture files for the open hour is ingested, each ingest calling the trigger last
    results = []
    for _ in range(20):
        aws.ingest("loans", T0 + timedelta(hours=3, minutes=5), rows=50)
        results.extend(_trigger(aws, ["loans"]))
    # Then exactly one execution covers the three complete chunks; the other calls found nothing new
    executions = aws.executions()
    assert len(executions) == 1
    statuses = [r["status"] for r in results]
    assert statuses.count("started") == 1 and statuses[0] == "started"
    assert set(statuses[1:]) == {"not_ready"}
    started = json.loads(aws.sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert started["window_start"] == "2024-03-01T00:00:00Z"
    assert started["window_end"] == "2024-03-01T03:00:00Z"
    assert executions[0]["name"] == results[0]["execution_name"]
    # And when the open hour completes, the next file starts the next window's run
    aws.clock.advance(timedelta(hours=1))
    aws.ingest("loans", T0 + timedelta(hours=4, minutes=1), rows=10)
    assert [r["status"] for r in _trigger(aws, ["loans"])] == ["started"]
    assert len(aws.executions()) == 2


def test_concurrent_triggers_for_the_same_inputs_claim_once(aws: Aws) -> None:
    # Given two ingest calls that read the same counters (e.g. two Lambdas finishing together)
    aws.register(model_config("loans"))
    aws.ingest("loans", T0, rows=400)
    aws.clock.set(T0 + timedelta(hours=2))
    first = _trigger(aws, ["loans"])
    # When the second runs before the first recorded its trigger (run state cleared to simulate the race)
    aws.dynamodb.delete_item(TableName="state", Key={"pk": {"S": "model#loans"}, "sk": {"S": "state"}})
    second = _trigger(aws, ["loans"])
    # Then the conditional claim on (model, window, input version) lets only one start
    assert [r["status"] for r in first + second] == ["started", "already_claimed"]
    assert len(aws.executions()) == 1


def test_execution_already_exists_means_done(aws: Aws) -> None:
    # Given a closed execution under the deterministic name but no claim (e.g. the claim item expired)
    aws.register(model_config("loans"))
    aws.ingest("loans", T0, rows=400)
    aws.clock.set(T0 + timedelta(hours=2))
    started = _trigger(aws, ["loans"])[0]
    name = started["execution_name"]
    aws.sfn.stop_execution(executionArn=started["execution_arn"])
    aws.dynamodb.delete_item(TableName="state", Key={"pk": {"S": "model#loans"}, "sk": {"S": f"run#{name}"}})
    aws.dynamodb.delete_item(TableName="state", Key={"pk": {"S": "model#loans"}, "sk": {"S": "state"}})
    # When the trigger runs again for the same inputs
    result = _trigger(aws, ["loans"])
    # Then StartExecution's ExecutionAlreadyExists is reported as already done, not an error
    assert result == [{**result[0], "status": "already_exists", "execution_name": name}]
    assert len(aws.executions()) == 1


def test_new_labels_trigger_realized_recomputation_debounced(aws: Aws) -> None:
    # Given a model whose complete chunks were already triggered
    aws.register(model_config("loans"))
    for hour in range(2):
        aws.ingest("loans", T0 + timedelta(hours=hour), rows=400)
    aws.clock.set(T0 + timedelta(hours=2, minutes=30))
    assert _trigger(aws, ["loans"])[0]["status"] == "started"
    # When a burst of ground-truth files labels rows of those chunks
    statuses = []
    for _ in range(10):
        aws.ingest("loans", T0 + timedelta(hours=1), labels=40)
        statuses += [r["status"] for r in _trigger(aws, ["loans"])]
    # Then one run recomputes realized performance (a new input version), the rest of the burst is debounced
    assert statuses[0] == "started" and set(statuses[1:]) == {"debounced"}
    executions = aws.executions()
    assert len(executions) == 2
    assert len({e["name"] for e in executions}) == 2
    # And after the debounce interval the next label file triggers again
    aws.clock.advance(timedelta(minutes=6))
    aws.ingest("loans", T0, labels=5)
    assert [r["status"] for r in _trigger(aws, ["loans"])] == ["started"]


def test_unknown_models_and_empty_windows_start_nothing(aws: Aws) -> None:
    aws.register(model_config("loans"))
    aws.ingest("loans", T0, rows=400)
    results = _trigger(aws, ["ghost", "loans"])  # the clock is still inside the first hour
    assert [(r["model"], r["status"]) for r in results] == [("ghost", "not_registered"), ("loans", "not_ready")]
    assert aws.executions() == []


def test_fleet_run_restarts_only_changed_models(aws: Aws) -> None:
    # Given two models, one of them already analysed with its current inputs
    for name in ("loans", "prices"):
        aws.register(model_config(name))
        aws.ingest(name, T0, rows=400)
    aws.clock.set(T0 + timedelta(hours=2))
    assert list_models(aws.registry) == {
        "batches": [{"models": ["loans", "prices"], "trigger": "schedule"}],
        "count": 2,
    }
    first = start_model_run(
        "loans",
        registry=aws.registry,
        state=aws.state,
        sfn_client=aws.sfn,
        state_machine_arn=aws.monitor_arn,
        clock=aws.clock,
    )
    State(aws.dynamodb, "state").runs.record_success(
        "loans",
        run_id=first["execution_name"],
        input_version=first["input_version"],
        last_chunk_end="2024-03-01T01:00:00Z",
        now=aws.clock.now(),
    )
    # When the schedule runs every model
    results = [
        start_model_run(
            name,
            registry=aws.registry,
            state=aws.state,
            sfn_client=aws.sfn,
            state_machine_arn=aws.monitor_arn,
            clock=aws.clock,
        )
        for name in ("loans", "prices", "ghost")
    ]
    # Then only the model whose inputs changed starts; the analysed one is up to date
    assert [r["status"] for r in results] == ["up_to_date", "started", "not_registered"]
    # And a late file for the analysed chunk makes the next scheduled run re-estimate it
    aws.ingest("loans", T0 + timedelta(minutes=30), rows=7)
    again = start_model_run(
        "loans",
        registry=aws.registry,
        state=aws.state,
        sfn_client=aws.sfn,
        state_machine_arn=aws.monitor_arn,
        clock=aws.clock,
    )
    assert again["status"] == "started" and again["input_version"] != first["input_version"]
    assert State(aws.dynamodb, "state").runs.load("loans").last_run == first["execution_name"]


def _schedule(aws: Aws, model: str = "loans", sfn_client: Any = None) -> dict:
    return start_model_run(
        model,
        registry=aws.registry,
        state=aws.state,
        sfn_client=sfn_client or aws.sfn,
        state_machine_arn=aws.monitor_arn,
        clock=aws.clock,
    )


def test_scheduled_run_retries_a_failed_run_a_bounded_number_of_times(aws: Aws) -> None:
    # Given a model whose run for its current inputs ended unsuccessfully
    aws.register(model_config("loans"))
    aws.ingest("loans", T0, rows=400)
    aws.clock.set(T0 + timedelta(hours=2))
    first = _schedule(aws)
    aws.sfn.stop_execution(executionArn=first["execution_arn"])
    # When the ingest trigger sees the same inputs, it does not retry (a lost claim = already under way or done)
    aws.dynamodb.delete_item(TableName="state", Key={"pk": {"S": "model#loans"}, "sk": {"S": "state"}})
    assert _trigger(aws, ["loans"])[0]["status"] == "already_claimed"
    # But the scheduled run retries under attempt-numbered names, then gives up
    names = [first["execution_name"]]
    for attempt in (1, 2):
        retry = _schedule(aws)
        assert retry["status"] == "started"
        assert retry["execution_name"] == f"{first['execution_name']}-r{attempt}"
        names.append(retry["execution_name"])
        aws.sfn.stop_execution(executionArn=retry["execution_arn"])
    assert _schedule(aws)["status"] == "gave_up"
    assert sorted(e["name"] for e in aws.executions()) == sorted(names)


class _FailingStarts:
    """A Step Functions client whose StartExecution answers `codes` in turn, then starts for real."""

    def __init__(self, real: Any, codes: list[str]) -> None:
        self.real = real
        self.codes = list(codes)
        self.calls = 0

    def start_execution(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.codes:
            code = self.codes.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "StartExecution")
        return self.real.start_execution(**kwargs)

    def describe_execution(self, **kwargs: Any) -> Any:
        return self.real.describe_execution(**kwargs)


def _ready(aws: Aws) -> None:
    aws.register(model_config("loans"))
    aws.ingest("loans", T0, rows=400)
    aws.clock.set(T0 + timedelta(hours=2))


def test_a_start_that_fails_releases_its_claim(aws: Aws) -> None:
    # Given a StartExecution the role may not call (not worth retrying)
    _ready(aws)
    denied = _FailingStarts(aws.sfn, ["AccessDeniedException"])
    # When the scheduled run tries to start the model's run
    with pytest.raises(WorkflowError, match="AccessDeniedException: cannot start execution"):
        start_model_run(
            "loans",
            registry=aws.registry,
            state=aws.state,
            sfn_client=denied,
            state_machine_arn=aws.monitor_arn,
            clock=aws.clock,
            sleep=_no_sleep,
        )
    # Then it was tried once, and the claim was released, so the next attempt starts the run
    assert denied.calls == 1
    assert _schedule(aws)["status"] == "started"


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds} s for an error that is not worth retrying")


def test_a_throttled_start_is_retried_with_growing_jittered_delays(aws: Aws) -> None:
    # Given StartExecution throttled three times (its token bucket drained by a fleet run), then accepting
    _ready(aws)
    throttled = _FailingStarts(aws.sfn, ["ThrottlingException"] * 3)
    slept: list[float] = []
    # When the scheduled run starts the model
    result = start_model_run(
        "loans",
        registry=aws.registry,
        state=aws.state,
        sfn_client=throttled,
        state_machine_arn=aws.monitor_arn,
        clock=aws.clock,
        sleep=slept.append,
    )
    # Then the fourth call started the run, after three backoffs each within [base/2, base] of a doubling base
    assert result["status"] == "started" and throttled.calls == 4
    assert [e["name"] for e in aws.executions()] == [result["execution_name"]]
    for attempt, delay in enumerate(slept):
        base = DEFAULT_BASE_DELAY * 2**attempt
        assert base / 2 <= delay <= base
    assert len(slept) == 3


def test_a_start_throttled_past_every_attempt_fails_named_and_frees_the_claim(aws: Aws) -> None:
    _ready(aws)
    throttled = _FailingStarts(aws.sfn, ["ThrottlingException"] * START_EXECUTION_ATTEMPTS)
    slept: list[float] = []
    with pytest.raises(WorkflowError, match=f"after {START_EXECUTION_ATTEMPTS} attempts"):
        start_model_run(
            "loans",
            registry=aws.registry,
            state=aws.state,
            sfn_client=throttled,
            state_machine_arn=aws.monitor_arn,
            clock=aws.clock,
            sleep=slept.append,
        )
    assert throttled.calls == START_EXECUTION_ATTEMPTS and len(slept) == START_EXECUTION_ATTEMPTS - 1
    assert _schedule(aws)["status"] == "started"


def _scheduled_retry_with_describe_error(aws: Aws, code: str) -> dict:
    """The scheduled run for inputs another caller has claimed, with DescribeExecution answering `code`."""
    import boto3
    from botocore.stub import Stubber

    aws.register(model_config("loans"))
    aws.ingest("loans", T0, rows=400)
    aws.clock.set(T0 + timedelta(hours=2))
    held = _schedule(aws)
    # The claim is held but no execution is visible: the other caller has not called StartExecution yet
    aws.dynamodb.delete_item(TableName="state", Key={"pk": {"S": "model#loans"}, "sk": {"S": "state"}})
    sfn = boto3.client("stepfunctions", region_name=aws.sfn.meta.region_name)
    with Stubber(sfn) as stub:
        stub.add_client_error("describe_execution", service_error_code=code, http_status_code=400)
        result = start_model_run(
            "loans",
            registry=aws.registry,
            state=aws.state,
            sfn_client=sfn,
            state_machine_arn=aws.monitor_arn,
            clock=aws.clock,
        )
        stub.assert_no_pending_responses()
    assert result["execution_name"] == held["execution_name"]
    return result


def test_a_claimed_run_not_yet_started_is_left_to_its_claimant(aws: Aws) -> None:
    # Given a claimed run whose execution does not exist yet (ExecutionDoesNotExist)
    # When the scheduled run checks whether it failed
    result = _scheduled_retry_with_describe_error(aws, "ExecutionDoesNotExist")
    # Then it reads as claimed by the other caller, and no retry starts
    assert result["status"] == "already_claimed"
    assert len(aws.executions()) == 1


def test_a_denied_describe_execution_fails_the_trigger_instead_of_reading_as_claimed(aws: Aws) -> None:
    import pytest

    from modelwatch.errors import WorkflowError

    # Given a role that may not call DescribeExecution (AccessDenied on AWS)
    # When the scheduled run checks whether the claimed run failed
    # Then the trigger fails with a named error (a missing permission must not read as "already claimed")
    with pytest.raises(WorkflowError, match="cannot read the state of execution"):
        _scheduled_retry_with_describe_error(aws, "AccessDeniedException")


class _Statuses:
    """A Step Functions client that starts for real and describes each execution with the status the test sets."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.status: dict[str, str] = {}

    def start_execution(self, **kwargs: Any) -> Any:
        self.status[kwargs["name"]] = "RUNNING"
        return self.real.start_execution(**kwargs)

    def describe_execution(self, executionArn: str) -> Any:
        return {"status": self.status[executionArn.rsplit(":", 1)[1]]}


def test_a_quiet_models_deferred_chunks_get_a_scheduled_run_for_the_same_inputs(aws: Aws) -> None:
    # Given a model whose run succeeded for its inputs but deferred chunks to the next run (a step's time ran out),
    # and no new data since
    _ready(aws)
    sfn = _Statuses(aws.sfn)

    def schedule() -> dict:
        return _schedule(aws, sfn_client=sfn)

    def succeed(run: dict, deferred: int) -> None:
        sfn.status[run["execution_name"]] = "SUCCEEDED"
        runs = State(aws.dynamodb, "state").runs
        name, version = run["execution_name"], run["input_version"]
        runs.record_success("loans", run_id=name, input_version=version, last_chunk_end="2026-01-05T01:00:00Z", now=T0)
        runs.record_run_data("loans", run_id=name, counts={"chunks_skipped": deferred, "chunks_deferred": deferred})

    first = schedule()
    succeed(first, deferred=3)

    # When the scheduled run comes, then again while that run is under way, then after it finished without deferring
    again = schedule()
    while_running = schedule()
    succeed(again, deferred=0)
    after = schedule()

    # Then it starts one run for the same inputs under the next attempt's name, never a second beside it, and once
    # nothing is deferred the model is up to date
    assert again["status"] == "started" and again["execution_name"] == f"{first['execution_name']}-r1"
    assert while_running["status"] == "already_claimed"
    assert after["status"] == "up_to_date"
