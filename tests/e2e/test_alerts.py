"""Alerts through the embedded stack (real template, IAM enforced, alarms evaluated on the simulated clock): alarm
state follows the model's state whatever the schedule, reminders over days, and silence as an alert (stalled,
no data, label lag, quarantined records, dead letters).

Runs are the PublishFunction invoked as the Monitor state machine would, on results staged in the lake (the
analysis is tested elsewhere): what is tested here is everything from Publish to the SNS subscriber.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from modelwatch.clock import SimulatedClock
from modelwatch.config.model import ModelConfig, parse_model_config
from modelwatch.lake.layout import results_key
from modelwatch.lake.store import S3Store
from modelwatch.monitors.results import conform, to_parquet
from modelwatch.registry.store import Registry
from modelwatch.workflow.lifecycle import ReferenceData, register_model
from modelwatch_cli.local.stack import LocalStack

pytestmark = pytest.mark.slow

START = datetime(2026, 2, 2, tzinfo=UTC)
SCHEDULES = {"15m": ("rate(15 minutes)", 900), "1h": ("rate(1 hour)", 3600), "1d": ("rate(1 day)", 86400)}
LOWER, UPPER = 0.93, 0.99  # f1's thresholds in the staged results


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, LocalStack]]:
    """The embedded stack of the schedule the tests use, kept for the next test with the same schedule (starting one
    is slow; one runs at a time in a process, so the tests are ordered by schedule)."""
    started: dict[str, LocalStack] = {}
    yield started
    for stack in started.values():
        stack.stop()


def _stack(stacks: dict[str, LocalStack], schedule: str) -> LocalStack:
    if schedule not in stacks:
        for other in list(stacks):
            stacks.pop(other).stop()
        expression, seconds = SCHEDULES[schedule]
        stack = LocalStack(
            clock=SimulatedClock(START),
            log_stream=io.StringIO(),
            parameters={"ScheduleExpression": expression, "ScheduleIntervalSeconds": str(seconds)},
        )
        stacks[schedule] = stack.start()
    return stacks[schedule]


def _config(name: str, **extra: Any) -> ModelConfig:
    return parse_model_config(
        {
            "name": name,
            "endpoint": f"{name}-endpoint",
            "problem_type": "binary_classification",
            "features": [{"name": "income"}, {"name": "region", "type": "categorical"}],
            "output": {"format": "csv", "columns": ["y_pred_proba"]},
            "target": "repaid",
            "timestamp": "ts",
            # Size chunks that never fill: captures never start a run, so every run here is one the test makes.
            "chunking": {"size": 1_000_000},
            "estimation": {"metrics": ["f1"]},
            **extra,
        },
        f"test:{name}",
    )


def _reference() -> bytes:
    rows = 240
    frame = pd.DataFrame(
        {
            "income": [1000.0 + i for i in range(rows)],
            "region": [["north", "south"][i % 2] for i in range(rows)],
            "y_pred_proba": [(i % 10) / 10 for i in range(rows)],
            "y_pred": [int(i % 10 >= 5) for i in range(rows)],
            "repaid": [i % 2 for i in range(rows)],
            "ts": [START - timedelta(days=2) + timedelta(minutes=i) for i in range(rows)],  # 60 rows an hour
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _register(stack: LocalStack, config: ModelConfig) -> None:
    registry = Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0)
    with stack.quiet():
        register_model(
            registry,
            config,
            ReferenceData(_reference(), ".parquet", "test"),
            cloudwatch=stack.clients["cloudwatch"],
            alarms=stack.alarm_settings(),
            clock=stack.clock,
        )


@dataclass
class Model:
    """A registered model on a stack, and its runs: each publishes results whose latest chunk has the given f1."""

    stack: LocalStack
    config: ModelConfig
    runs: int = 0

    @property
    def name(self) -> str:
        return self.config.name

    def run(self, f1: float, coverage: float = 0.0) -> dict[str, Any]:
        """A run now whose latest complete chunk (the hour before) has estimated f1 `f1` (label coverage given)."""
        now = self.stack.clock.now()
        latest = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        rows = [
            {
                "model": self.name,
                "monitor": "performance",
                "metric": "f1",
                "kind": "estimated",
                "chunk_key": f"{start:%Y%m%d%H}",
                "chunk_index": i,
                "chunk_start": start,
                "chunk_end": start + timedelta(hours=1),
                "value": value,
                "lower_confidence_boundary": value - 0.002,
                "upper_confidence_boundary": value + 0.002,
                "lower_threshold": LOWER,
                "upper_threshold": UPPER,
                "alert": not LOWER <= value <= UPPER,
                "label_coverage": coverage,
                "rows": 1000,
                "labelled_rows": int(1000 * coverage),
            }
            for i, (start, value) in enumerate(
                [*((latest - timedelta(hours=h), 0.95) for h in (3, 2, 1)), (latest, f1)]
            )
        ]
        self.runs += 1
        run_id = f"{self.name}-run-{self.runs}"
        store = S3Store(self.stack.clients["s3"], self.stack.lake_bucket)
        store.put(results_key(self.name, run_id), to_parquet(conform(pd.DataFrame(rows))))
        outcome = {"model": self.name, "run_id": run_id, "results_uri": store.uri(results_key(self.name, run_id))}
        invocation = self.stack.invoke("PublishFunction", {"outcome": outcome, "config": self.config.model_dump()})
        assert invocation.result.error_type is None, invocation.result.error_message
        self.stack.run_until_idle()
        return dict(invocation.result.payload)


def _model(stack: LocalStack, name: str, **extra: Any) -> Model:
    config = _config(name, **extra)
    _register(stack, config)
    return Model(stack, config)


def _changes(stack: LocalStack, alarm: str) -> list[tuple[str, str, datetime]]:
    """The alarm's state changes the alarms topic delivered: (old, new, when), first evaluations to OK left out."""
    topic = stack.outputs["AlarmsTopicArn"]
    found = []
    for note in stack.notifications:
        message = note.json()
        if note.topic_arn == topic and isinstance(message, dict) and message.get("AlarmName") == alarm:
            change = (str(message["OldStateValue"]), str(message["NewStateValue"]), note.received_at)
            if change[:2] != ("INSUFFICIENT_DATA", "OK"):
                found.append(change)
    return found


def _alarm(stack: LocalStack, model: str, what: str) -> str:
    return f"modelwatch-{stack.template.stack_name}-{model}-{what}"


def _fleet(stack: LocalStack, logical_id: str) -> str:
    return stack.resources.alarms[logical_id]


def _subjects(stack: LocalStack, model: str) -> list[tuple[datetime, str]]:
    topic = stack.outputs["NotificationsTopicArn"]
    return [(n.received_at, n.subject) for n in stack.notifications if n.topic_arn == topic and model in n.subject]


def _alarm_follows_the_model(stacks: dict[str, LocalStack], schedule: str) -> None:
    # Given a model on a stack whose fleet runs every 15 minutes, hour or day, and runs at that pace, one of them
    # starting late (two thirds of an interval), with alarms evaluated at every run and every schedule tick
    stack = _stack(stacks, schedule)
    interval = timedelta(seconds=SCHEDULES[schedule][1])
    model = _model(stack, f"state-{schedule}")
    states = [0.95, 0.95, 0.91, 0.91, 0.90, 0.91, 0.95, 0.95]
    opened = closed = None
    for index, f1 in enumerate(states):
        late = interval * 2 / 3 if index == 4 else timedelta(0)
        stack.advance(interval + late)
        model.run(f1)
        if index == 2:
            opened = stack.clock.now()
        if index == 6:
            closed = stack.clock.now()
        stack.advance(interval - late)  # another schedule tick with no run of this model: nothing may change

    assert opened is not None and closed is not None
    # Then the model's alarm went ALARM on the run that opened the incident and OK on the run that closed it, once
    # each; and so did the fleet alarm (no other model of this stack was in alert then)
    assert _changes(stack, _alarm(stack, model.name, "alert")) == [("OK", "ALARM", opened), ("ALARM", "OK", closed)]
    fleet = [c for c in _changes(stack, _fleet(stack, "FleetAlertAlarm")) if opened <= c[2] <= closed]
    assert [c[:2] for c in fleet] == [("OK", "ALARM"), ("ALARM", "OK")]
    # and people heard once that it degraded and once that it recovered (with a daily schedule every run in between
    # is a day later: a reminder each, never a second "degraded")
    subjects = [s for _, s in _subjects(stack, model.name)]
    degraded = [s for s in subjects if f"{model.name} degraded:" in s]
    recovered = [s for s in subjects if f"{model.name} recovered:" in s]
    assert len(degraded) == len(recovered) == 1
    assert degraded[0].startswith(f"modelwatch: {model.name} degraded: f1 0.910 (est.) < 0.930 since ")
    assert recovered[0].startswith(f"modelwatch: {model.name} recovered: f1 back in range after ")
    assert subjects[0] == degraded[0] and subjects[-1] == recovered[0]
    reminders = subjects[1:-1]
    assert all(f"{model.name} reminder:" in s for s in reminders)
    assert len(reminders) == (3 if schedule == "1d" else 0)


def test_every_15_minutes_the_model_alarm_is_alarm_from_the_opening_run_to_the_closing_run(
    stacks: dict[str, LocalStack],
) -> None:
    _alarm_follows_the_model(stacks, "15m")


def test_every_day_the_model_alarm_is_alarm_from_the_opening_run_to_the_closing_run(
    stacks: dict[str, LocalStack],
) -> None:
    _alarm_follows_the_model(stacks, "1d")


def test_reminders_at_most_every_remind_every_over_several_days(stacks: dict[str, LocalStack]) -> None:
    # Given a model whose runs every 6 hours find it degraded for three days, with reminders every 24 h
    stack = _stack(stacks, "1d")
    model = _model(stack, "reminded", alerts={"remind_every": "24h"})
    begin = stack.clock.now()
    for _ in range(12):
        stack.advance(timedelta(hours=6))
        model.run(0.91)
    stack.advance(timedelta(hours=6))
    model.run(0.95)

    # Then one degraded message, a reminder 24 h and 48 h after it (not one per run), and one recovered message
    subjects = _subjects(stack, model.name)
    hours = [round((when - begin).total_seconds() / 3600) for when, _ in subjects]
    assert hours == [6, 30, 54, 78]
    assert [s.split(": ")[1] for _, s in subjects] == [
        "reminded degraded",
        "reminded reminder",
        "reminded reminder",
        "reminded recovered",
    ]
    assert subjects[1][1] == "modelwatch: reminded reminder: f1 0.910 (est.) < 0.930, incident open 25 h"
    assert subjects[3][1] == "modelwatch: reminded recovered: f1 back in range after 3 d"
    # and the model's alarm stayed ALARM the whole time (its first value was an alert)
    changes = [c[:2] for c in _changes(stack, _alarm(stack, model.name, "alert"))]
    assert changes == [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK")]


def test_every_hour_the_model_alarm_is_alarm_from_the_opening_run_to_the_closing_run(
    stacks: dict[str, LocalStack],
) -> None:
    _alarm_follows_the_model(stacks, "1h")


def test_a_stalled_pipeline_alarms_after_two_schedule_intervals(stacks: dict[str, LocalStack]) -> None:
    # Given a registered model whose fleet checks find nothing to do (its heartbeat), hourly
    stack = _stack(stacks, "1h")
    model = _model(stack, "stalls")
    stack.advance(timedelta(hours=2))
    name, fleet = _alarm(stack, model.name, "stalled"), _fleet(stack, "FleetStalledAlarm")
    assert stack.alarms is not None and stack.alarms.states[name] == "OK"

    # When the schedule stops firing (a deleted schedule, a target that cannot be reached) for 2.5 hours
    schedules, stack.schedules = stack.schedules, []
    stopped = stack.clock.now()
    for _ in range(5):
        stack.advance(timedelta(minutes=30))
    stack.schedules = schedules

    # Then the model's and the fleet's stalled alarms went to ALARM after two intervals without a heartbeat
    for alarm in (name, fleet):
        ((old, new, when),) = _changes(stack, alarm)[-1:]
        assert (old, new) == ("OK", "ALARM")
        assert timedelta(hours=2) <= when - stopped <= timedelta(hours=2, minutes=30)
    # and when the schedule fires again, both are OK at its first run
    stack.advance(timedelta(hours=1))
    assert [c[:2] for c in _changes(stack, name)[-2:]] == [("OK", "ALARM"), ("ALARM", "OK")]
    assert stack.alarms.states[fleet] == "OK"


def _capture_file(when: datetime, records: int, bad: int = 0) -> bytes:
    """SageMaker capture lines for the test model (income, region -> y_pred_proba); `bad` with an unreadable output."""
    lines = []
    for i in range(records + bad):
        output = "not-a-number\n" if i >= records else "0.7\n"
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "text/csv",
                            "mode": "INPUT",
                            "data": base64.b64encode(f"{1000 + i},north\n".encode()).decode(),
                            "encoding": "BASE64",
                        },
                        "endpointOutput": {
                            "observedContentType": "text/csv",
                            "mode": "OUTPUT",
                            "data": output,
                            "encoding": "CSV",
                        },
                    },
                    "eventMetadata": {
                        "eventId": f"{when:%H%M}-{i}",
                        "inferenceTime": f"{when + timedelta(seconds=i):%Y-%m-%dT%H:%M:%SZ}",
                    },
                    "eventVersion": "0",
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def _put_captures(stack: LocalStack, model: Model, records: int, bad: int = 0) -> None:
    now = stack.clock.now()
    prefix = stack.template.parameters.get("CapturePrefix", "datacapture/")
    key = f"{prefix}{model.config.endpoint}/AllTraffic/{now:%Y/%m/%d/%H}/{now:%M%S}-{records}-{bad}.jsonl"
    stack.put_capture(key, _capture_file(now, records, bad))
    stack.run_until_idle()


def test_no_captured_rows_for_no_data_after_is_an_alarm(stacks: dict[str, LocalStack]) -> None:
    # Given a model whose endpoint's captures arrive, with no_data_after 90 minutes
    stack = _stack(stacks, "1h")
    model = _model(stack, "quiet", alerts={"no_data_after": "90m"})
    _put_captures(stack, model, records=20)
    name = _alarm(stack, model.name, "no-data")
    assert stack.alarms is not None and stack.alarms.states[name] == "OK"

    # When no capture arrives for two hours, then the no-data alarm goes to ALARM once 90 minutes have passed
    last = stack.clock.now()
    for _ in range(4):
        stack.advance(timedelta(minutes=30))
    ((old, new, when),) = _changes(stack, name)
    assert (old, new) == ("OK", "ALARM") and timedelta(minutes=90) <= when - last <= timedelta(minutes=120)

    # and the next capture brings it back to OK
    _put_captures(stack, model, records=5)
    assert [c[:2] for c in _changes(stack, name)] == [("OK", "ALARM"), ("ALARM", "OK")]


def test_a_rising_share_of_quarantined_records_is_an_alarm(stacks: dict[str, LocalStack]) -> None:
    # Given a model whose captures decode
    stack = _stack(stacks, "1h")
    model = _model(stack, "poisoned")
    _put_captures(stack, model, records=40)
    name = _alarm(stack, model.name, "quarantine")

    # When a file arrives with a quarter of its records unreadable (the model answers garbage)
    _put_captures(stack, model, records=30, bad=10)

    # Then the quarantine alarm goes to ALARM (10 of 80 records in the hour: above 5%)
    assert [c[:2] for c in _changes(stack, name)] == [("OK", "ALARM")]


def test_labels_that_do_not_arrive_by_their_deadline_are_an_alarm(stacks: dict[str, LocalStack]) -> None:
    # Given a model whose labels are due 2 hours after a chunk ends (coverage of at least 50%)
    stack = _stack(stacks, "1h")
    model = _model(stack, "unlabelled", ground_truth={"expected_delay": "2h"})
    name = _alarm(stack, model.name, "label-lag")

    # When runs find the due chunk without labels, then the label-lag alarm goes to ALARM ...
    stack.advance(timedelta(hours=3))
    model.run(0.95, coverage=0.0)
    # ... stays so between runs, and goes back to OK on the run that finds the labels
    stack.advance(timedelta(hours=3))
    model.run(0.95, coverage=0.9)
    assert [c[:2] for c in _changes(stack, name)] == [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK")]


def test_messages_in_a_dead_letter_queue_are_an_alarm(stacks: dict[str, LocalStack]) -> None:
    # Given a capture object that could not be read and waits in the capture DLQ
    stack = _stack(stacks, "1h")
    queue = stack.resources.queues["CaptureDeadLetterQueue"]
    stack.clients["sqs"].send_message(QueueUrl=queue, MessageBody=json.dumps({"Records": []}))

    # When the alarms are evaluated, then the DLQ alarm is ALARM, and OK again once the DLQ is empty
    stack.run_until_idle()
    name = _fleet(stack, "CaptureDeadLetterQueueAlarm")
    assert stack.alarms is not None and stack.alarms.states[name] == "ALARM"
    stack.clients["sqs"].purge_queue(QueueUrl=queue)
    stack.advance(timedelta(minutes=10))
    assert stack.alarms.states[name] == "OK"
