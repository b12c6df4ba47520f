"""IAM enforced on the local stack: functions, workflows and schedules act as their SAM roles; a gap fails as on AWS."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelwatch.clock import SimulatedClock
from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch_cli.local.functions import Invocation
from modelwatch_cli.local.stack import LocalStack
from tests.helpers import ROOT, load_event
from tests.unit.ingest.helpers import capture_file, capture_key, churn_config

FIXTURE = Path(__file__).parent / "fixture"
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
TICK_POLICY = """      Policies:
        - S3WritePolicy:
            BucketName: !Ref LakeBucket
"""
WORK_INVOKE_POLICY = "        - LambdaInvokePolicy: { FunctionName: !Ref WorkFunction }\n"
# ListModelsFunction's lake policy (unique: followed by its heartbeat statement, whose comment is the anchor).
LIST_MODELS_POLICY = """      Policies:
        - S3ReadPolicy:
            BucketName: !Ref LakeBucket
        # The fleet's heartbeat (RunHeartbeat)."""


def _fixture_without(tmp_path: Path, statement: str) -> Path:
    """A copy of the stand-in template (and its code) with one policy statement removed."""
    copy = tmp_path / "fixture"
    shutil.copytree(FIXTURE, copy)
    template = copy / "template.yaml"
    text = template.read_text()
    assert text.count(statement) == 1, "the statement to remove is in the template"
    template.write_text(text.replace(statement, ""))
    return template


def _real_template_without(tmp_path: Path, statement: str, replacement: str = "") -> Path:
    """template.yaml with one policy removed, beside links to the real functions and state machines."""
    for folder in ("functions", "statemachines", "layers"):
        (tmp_path / folder).symlink_to(ROOT / folder, target_is_directory=True)
    text = (ROOT / "template.yaml").read_text()
    assert text.count(statement) == 1, "the statement to remove is in the template"
    template = tmp_path / "template.yaml"
    template.write_text(text.replace(statement, replacement))
    return template


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(FIXTURE / "template.yaml", clock=SimulatedClock(START), log_stream=io.StringIO()) as local:
        yield local


def test_every_function_workflow_and_schedule_acts_as_its_own_role(stack: LocalStack) -> None:
    # Given the stand-in template's stack
    assert stack.identities is not None
    roles = stack.identities.roles
    # Then each function, state machine and ScheduleV2 has the role SAM generates for it, and only that one
    assert roles.principals == {
        "IngestFunction": "IngestFunctionRole",
        "WorkFunction": "WorkFunctionRole",
        "EstimateFunction": "EstimateFunctionRole",
        "TickFunction": "TickFunctionRole",
        "TickFunctionDaily": "TickFunctionDailyRole",
        "FlowStateMachine": "FlowStateMachineRole",
        "FlowStateMachineSchedule": "FlowStateMachineScheduleRole",
    }
    functions = stack.clients["lambda"].list_functions()["Functions"]
    assert {f["FunctionName"]: f["Role"].rsplit("/", 1)[-1] for f in functions}["modelwatch-local-TickFunction"] == (
        "modelwatch-local-TickFunctionRole"
    )
    # And a function's code finds its role's temporary keys where Lambda puts them
    tick = stack.identities.of("TickFunction")
    assert tick is not None and tick.session_token
    assert stack.invoke("TickFunction", {}).result.error_type is None


def test_a_function_without_a_statement_it_needs_fails_with_access_denied(tmp_path: Path) -> None:
    # Given the stand-in template whose scheduled function lost its S3 write policy
    template = _fixture_without(tmp_path, TICK_POLICY)
    with LocalStack(template, clock=SimulatedClock(START), log_stream=io.StringIO()) as stack:
        # When it is invoked, and when its schedule fires
        invocation = stack.invoke("TickFunction", {})
        stack.advance(timedelta(hours=3))
        # Then both fail as on AWS, and nothing was written
        assert invocation.result.error_type == "AccessDenied"
        assert stack.functions is not None and stack.functions.errors == 2
        listed = stack.clients["s3"].list_objects_v2(Bucket=stack.lake_bucket, Prefix="ticks/")
        assert listed.get("KeyCount") == 0


def test_a_workflow_without_permission_to_invoke_a_function_fails(tmp_path: Path) -> None:
    # Given the stand-in workflow whose role may no longer invoke its first function
    template = _fixture_without(tmp_path, WORK_INVOKE_POLICY)
    with LocalStack(template, clock=SimulatedClock(START), log_stream=io.StringIO()) as stack:
        # When it runs
        arn = stack.start_execution("FlowStateMachine", "denied", {"x": 1})
        stack.run_until_idle()
        # Then the execution fails on the Lambda task, which never ran
        described = stack.clients["stepfunctions"].describe_execution(executionArn=arn)
        assert described["status"] == "FAILED"
        history = stack.clients["stepfunctions"].get_execution_history(executionArn=arn)["events"]
        causes = " ".join(str(e.get("lambdaFunctionFailedEventDetails", "")) for e in history)
        assert "is not authorized to perform: lambda:InvokeFunction" in causes
        assert stack.functions is not None and stack.functions.invocations == 0


def test_the_real_template_denies_what_a_function_role_lacks(tmp_path: Path) -> None:
    # Given template.yaml where ListModelsFunction lost its S3ReadPolicy on the lake (its heartbeat statement kept)
    template = _real_template_without(
        tmp_path, LIST_MODELS_POLICY, "      Policies:\n        # The fleet's heartbeat (RunHeartbeat)."
    )
    with LocalStack(template, clock=SimulatedClock(START), log_stream=io.StringIO()) as stack:
        # When the fleet's first step lists the registered models
        invocation = stack.invoke("ListModelsFunction", {"trigger": "schedule"})
    # Then it is denied reading the registry in the lake
    assert invocation.result.error_type is not None
    assert "AccessDenied" in f"{invocation.result.error_type} {invocation.result.error_message}"


def test_the_real_template_lets_each_step_do_its_work() -> None:
    # The whole pipeline (ingest, both workflows, schedules, publishing) runs under IAM in tests/e2e and `make demo`;
    # here: the real template's roles exist, and the fleet's first step may read the registry.
    with LocalStack(clock=SimulatedClock(START), log_stream=io.StringIO()) as stack:
        assert stack.identities is not None
        principals = stack.identities.roles.principals
        assert {"MonitorStateMachine", "FleetStateMachine", "FleetStateMachineSchedule"} <= set(principals)
        assert set(stack.template.functions()) <= set(principals)
        invocation = stack.invoke("ListModelsFunction", {"trigger": "schedule"})
    assert invocation.result.error_type is None
    assert invocation.result.payload == {"batches": [], "count": 0}


def test_ingest_and_compaction_do_their_work_as_their_roles_on_the_real_template() -> None:
    # Given the real stack at the start of an hour (no chunk complete, so no monitor run) and a registered model
    start = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    with LocalStack(clock=SimulatedClock(start), log_stream=io.StringIO()) as stack:
        Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0).register(churn_config())
        # When three capture files arrive (IngestCaptureFunction) and the day is compacted (CompactFunction: lake
        # reads, writes and deletes, the lease in the state table)
        for i in range(3):
            body = capture_file(start.replace(minute=i), 5, prefix=f"f{i}")
            stack.put_capture(capture_key(start, f"f{i}.jsonl"), body)
        stack.run_until_idle()
        compaction = stack.invoke("CompactFunction", load_event("compact_model_day"))
        # Then both succeed under IAM
        assert stack.functions is not None and stack.functions.errors == 0
        assert compaction.result.payload["compacted"] == 1
        assert compaction.result.payload["files_replaced"] == 3


def test_a_failed_run_is_recorded_and_notified_as_the_record_failure_role() -> None:
    # Given the real stack and a monitor run for a model nobody registered (PrepareRun fails, the Catch records it)
    with LocalStack(clock=SimulatedClock(START), log_stream=io.StringIO()) as stack:
        assert stack.functions is not None
        invocations: list[Invocation] = []
        stack.functions.listeners.append(invocations.append)
        # When the run fails
        arn = stack.start_execution("MonitorStateMachine", "unknown-model", {"model": "nobody", "trigger": "manual"})
        stack.run_until_idle()
        # Then RecordFailureFunction wrote the run state, put WorkflowFailures and notified, all as its own role
        assert stack.clients["stepfunctions"].describe_execution(executionArn=arn)["status"] == "FAILED"
        recorded = [i for i in invocations if i.function.logical_id == "RecordFailureFunction"]
        assert [r.result.error_type for r in recorded] == [None]
        assert any("nobody" in n.subject for n in stack.notifications)
