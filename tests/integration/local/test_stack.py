"""LocalStack on a small stand-in template: polling with partial failures, workflows, schedules, EMF, alarms."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelwatch.clock import SimulatedClock
from modelwatch_cli.local.stack import LocalStack

FIXTURE = Path(__file__).parent / "fixture" / "template.yaml"
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(FIXTURE, clock=SimulatedClock(START), log_stream=io.StringIO(), settle_timeout=60) as local:
        yield local


def _executions(stack: LocalStack, status: str | None = None) -> list[dict[str, object]]:
    sfn = stack.clients["stepfunctions"]
    arn = stack.resources.state_machines["FlowStateMachine"]
    kwargs = {"statusFilter": status} if status else {}
    return list(sfn.list_executions(stateMachineArn=arn, **kwargs)["executions"])


def test_outputs_and_resources_follow_the_template(stack: LocalStack) -> None:
    outputs = stack.outputs
    assert outputs["CaptureBucketName"] == "modelwatch-local-capturebucket"
    assert outputs["FlowArn"].endswith(":stateMachine:modelwatch-local-FlowStateMachine")
    buckets = {b["Name"] for b in stack.clients["s3"].list_buckets()["Buckets"]}
    assert {"modelwatch-local-capturebucket", "modelwatch-local-lakebucket"} <= buckets
    attributes = stack.clients["sqs"].get_queue_attributes(
        QueueUrl=stack.resources.queues["CaptureQueue"], AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
    )["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
    assert attributes["VisibilityTimeout"] == "60"
    alarms = {a["AlarmName"] for a in stack.clients["cloudwatch"].describe_alarms()["MetricAlarms"]}
    assert "modelwatch-local-ScoreAlarm" in alarms


def test_captures_flow_through_sqs_batches_and_start_named_workflows(stack: LocalStack) -> None:
    for i in range(7):
        stack.put_capture(f"datacapture/ep/v/2026/03/02/00/file-{i}.jsonl", b"{}")
    stack.put_capture("elsewhere/file-9.jsonl", b"{}")  # not under the prefix: no event
    stack.run_until_idle()

    poller = stack.pollers["CaptureQueue"]
    assert poller.batch_size == 3
    assert poller.stats.messages == 7
    assert poller.stats.batches == 3  # 3 + 3 + 1
    succeeded = _executions(stack, "SUCCEEDED")
    assert len(succeeded) == 7
    assert all(str(e["name"]).startswith("ingest-") for e in succeeded)


def test_each_batch_runs_its_workflows_to_the_end_before_the_next_batch(stack: LocalStack) -> None:
    assert stack.functions is not None
    order: list[str] = []
    stack.functions.listeners.append(lambda invocation: order.append(invocation.function.logical_id))
    for i in range(7):
        stack.put_capture(f"datacapture/ep/v/2026/03/02/00/file-{i}.jsonl", b"{}")
    stack.run_until_idle()
    # Batches of 3, 3, 1: a batch's workflows (Work then Estimate each, concurrently) end before the next batch.
    batches = "/".join(order).split("IngestFunction")[1:]
    assert [sorted(b.strip("/").split("/")) for b in batches] == [
        sorted(["WorkFunction", "EstimateFunction"] * 3),
        sorted(["WorkFunction", "EstimateFunction"] * 3),
        ["EstimateFunction", "WorkFunction"],
    ]
    assert _executions(stack, "FAILED") == []


def test_messages_queued_before_a_schedule_fires_are_handled_first(stack: LocalStack) -> None:
    assert stack.functions is not None
    seen: list[tuple[str, datetime]] = []
    stack.functions.listeners.append(lambda i: seen.append((i.function.logical_id, i.simulated_time)))
    stack.advance(timedelta(minutes=50))
    stack.put_capture("datacapture/ep/v/2026/03/02/00/file-1.jsonl", b"{}")
    stack.advance(timedelta(minutes=10))  # the hourly schedule fires at 01:00
    one = START + timedelta(hours=1)
    # The capture's workflow (Work, Estimate) completes before the scheduled one starts at the same instant.
    assert seen == [("IngestFunction", one), *[("WorkFunction", one), ("EstimateFunction", one)] * 2]
    names = [str(e["name"]) for e in sorted(_executions(stack), key=lambda e: str(e["startDate"]))]
    assert [n.split("-")[0] for n in names] == ["ingest", "schedule"]


def test_partial_batch_failures_are_retried_then_dead_lettered(stack: LocalStack) -> None:
    stack.put_capture("datacapture/ep/v/2026/03/02/00/good-1.jsonl", b"{}")
    stack.put_capture("datacapture/ep/v/2026/03/02/00/bad-2.jsonl", b"{}")
    stack.run_until_idle()

    poller = stack.pollers["CaptureQueue"]
    assert poller.stats.succeeded == 1
    assert poller.stats.failed == 3  # received 3 times (maxReceiveCount), then moto moved it to the DLQ
    dlq = stack.resources.queues["CaptureDeadLetterQueue"]
    dead = stack.clients["sqs"].receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in dead] == [
        "datacapture/ep/v/2026/03/02/00/bad-2.jsonl"
    ]
    assert stack.alarms is not None
    assert stack.alarms.states["modelwatch-local-DeadLetterAlarm"] == "ALARM"
    subjects = [n.subject for n in stack.notifications]
    assert any("ALARM" in s and "DeadLetterAlarm" in s for s in subjects)


def test_handlers_get_their_template_environment_and_the_simulated_clock(stack: LocalStack) -> None:
    invocation = stack.invoke("WorkFunction", {"x": 21})
    assert invocation.result.payload == {
        "x": 42,
        "clock": START.isoformat(),
        "lake": "modelwatch-local-lakebucket",
    }


def test_emf_becomes_datapoints_and_alarms_fire_once_per_transition(stack: LocalStack) -> None:
    stack.start_execution("FlowStateMachine", "score-high", {"x": 7})  # Work doubles it: Score 14 > 10
    stack.run_until_idle()
    assert stack.datapoints_published == 1
    score = [n for n in stack.notifications if "ScoreAlarm" in n.subject]
    assert len(score) == 1
    message = score[0].json()
    assert message["NewStateValue"] == "ALARM"
    assert message["Trigger"]["Dimensions"] == [{"name": "Model", "value": "m1"}]

    stack.run_until_idle()  # still breaching: no new action
    assert len([n for n in stack.notifications if "ScoreAlarm" in n.subject]) == 1

    stack.advance(timedelta(minutes=10))  # past its period but still in the evaluation range: CloudWatch keeps ALARM
    assert len([n for n in stack.notifications if "ScoreAlarm" in n.subject]) == 1
    # The datapoint leaves the evaluation range (EvaluationPeriods + 2 periods of 5 minutes): notBreaching -> OK
    stack.advance(timedelta(minutes=10))
    states = [n.json()["NewStateValue"] for n in stack.notifications if "ScoreAlarm" in n.subject]
    assert states == ["ALARM", "OK"]
    described = stack.clients["cloudwatch"].describe_alarms(AlarmNames=["modelwatch-local-ScoreAlarm"])
    assert described["MetricAlarms"][0]["StateValue"] == "OK"


def test_failed_executions_feed_the_executions_failed_alarm(stack: LocalStack) -> None:
    stack.start_execution("FlowStateMachine", "will-fail", {"fail": True})
    stack.run_until_idle()
    assert [e["name"] for e in _executions(stack, "FAILED")] == ["will-fail"]
    assert stack.alarms is not None
    assert stack.alarms.states["modelwatch-local-FlowFailuresAlarm"] == "ALARM"
    assert "modelwatch-local-LambdaErrorsAlarm" in stack.alarms.not_evaluable


def test_advance_fires_rate_and_cron_schedules_on_the_simulated_clock(stack: LocalStack) -> None:
    stack.advance(timedelta(hours=27))
    scheduled = [e for e in _executions(stack) if str(e["name"]).startswith("schedule-")]
    assert len(scheduled) == 27  # rate(1 hour) from 00:00 to 03:00 the next day
    ticks = stack.clients["s3"].list_objects_v2(Bucket=stack.lake_bucket, Prefix="ticks/")["Contents"]
    assert [t["Key"] for t in ticks] == [
        "ticks/2026-03-02T02:30:00+00:00.json",
        "ticks/2026-03-03T02:30:00+00:00.json",
    ]
    assert stack.clock.now() == START + timedelta(hours=27)


def test_the_real_template_builds_locally() -> None:
    with LocalStack(clock=SimulatedClock(START), log_stream=io.StringIO()) as real:
        assert set(real.resources.state_machines) == {"MonitorStateMachine", "FleetStateMachine"}
        assert {p.batch_size for p in real.pollers.values()} == {10}
        assert set(real.pollers) == {"CaptureQueue", "GroundTruthQueue", "EndpointEventsQueue"}
        assert real.outputs["CaptureBucketName"] == real.capture_bucket
        assert any(event.expression == "rate(1 hour)" for event, _ in real.schedules)
        functions = real.clients["lambda"].list_functions()["Functions"]
        assert {f["FunctionName"] for f in functions} >= {
            "modelwatch-local-IngestCaptureFunction",
            "modelwatch-local-AnalyseFunction",
        }
        real.run_until_idle()  # nothing queued: settles at once, evaluates every alarm without errors
        assert real.alarms is not None and real.alarms.states
