"""`modelwatch fire-drill`: prove the alert path end to end, on a deployed stack or the embedded one.

Hops, each timed: the model's alarms are in place; a temporary SQS queue subscribed to both topics; a temporary
drill alarm (the model alarm's settings on the drill's own metric, the same actions); the PublishFunction publishes
the drill's synthetic degradation and a drill message (`{drill: ...}`: the function's own role, namespace and
topic); the drill alarm goes to ALARM; its message reaches the alarms topic; the drill message reaches the
notifications topic; the all-clear brings the alarm back to OK with its message; everything temporary is deleted.
The model's real metrics, incidents and reports are never touched (`modelwatch.publishing.drill`).

The drill runs against a `DrillTarget`: clients and hooks that differ between AWS (wall time, polling) and the
embedded stack (the simulated clock, alarms evaluated when the stack settles).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from modelwatch.errors import ModelwatchError, PublishError
from modelwatch.publishing.alarms import ALERT, AlarmSettings, alarm_name, delete_alarms, drill_alarm, owned_alarms
from modelwatch_cli.local.stack import LocalStack

POLL_SECONDS = 5.0
MAX_QUEUE_NAME = 80


@dataclass
class DrillTarget:
    """Where the drill runs: the clients, the stack's topics and alarm settings, and how time passes there."""

    cloudwatch: Any
    sns: Any
    sqs: Any
    alarms: AlarmSettings
    notifications_topic_arn: str
    invoke_publish: Callable[[dict[str, Any]], Any]  # the PublishFunction: payload in, payload out (raises on error)
    settle: Callable[[], None]  # let time pass for alarms and deliveries (AWS: sleep; local: settle the stack)
    next_minute: Callable[[], None]  # move past the current minute (the alarms' one-minute periods)
    timeout_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic


@dataclass
class Hop:
    """One step of the alert path and how long it took (from the injection for the path's hops)."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class DrillReport:
    model: str
    drill_id: str
    hops: list[Hop] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.hops) and all(h.ok for h in self.hops)

    def lines(self) -> list[str]:
        rows = [f"fire drill {self.drill_id} of model {self.model}"]
        for hop in self.hops:
            mark = "ok  " if hop.ok else "FAIL"
            rows.append(f"  {mark} {hop.name:<44} {hop.seconds:7.2f} s  {hop.detail}")
        rows.append("every hop worked" if self.ok else "the alert path is broken: see the failed hop(s)")
        return rows


class _Inbox:
    """A temporary queue subscribed to both topics; collects every SNS envelope it receives."""

    def __init__(self, target: DrillTarget, topics: list[str], name: str) -> None:
        self.target = target
        sqs = target.sqs
        self.url = str(sqs.create_queue(QueueName=name[:MAX_QUEUE_NAME])["QueueUrl"])
        self.arn = str(
            sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": self.arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topics}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=self.url, Attributes={"Policy": json.dumps(policy)})
        self.subscriptions = [
            str(
                target.sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=self.arn, ReturnSubscriptionArn=True)[
                    "SubscriptionArn"
                ]
            )
            for t in topics
        ]
        self.messages: list[dict[str, Any]] = []

    def poll(self) -> None:
        while True:
            batch = self.target.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = batch.get("Messages", [])
            if not messages:
                return
            for message in messages:
                with contextlib.suppress(ValueError):  # not an SNS envelope: not ours to read
                    self.messages.append(json.loads(message["Body"]))
                self.target.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def find(self, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        self.poll()
        return next((m for m in self.messages if test(m)), None)

    def close(self) -> None:
        for arn in self.subscriptions:
            self.target.sns.unsubscribe(SubscriptionArn=arn)
        self.target.sqs.delete_queue(QueueUrl=self.url)


def _alarm_message(name: str, state: str) -> Callable[[dict[str, Any]], bool]:
    def test(envelope: dict[str, Any]) -> bool:
        try:
            message = json.loads(str(envelope.get("Message", "")))
        except ValueError:
            return False
        return isinstance(message, dict) and message.get("AlarmName") == name and message.get("NewStateValue") == state

    return test


def _drill_message(drill_id: str) -> Callable[[dict[str, Any]], bool]:
    def test(envelope: dict[str, Any]) -> bool:
        subject = str(envelope.get("Subject", ""))
        return "DRILL" in subject and drill_id in subject

    return test


def _state(target: DrillTarget, name: str) -> str:
    alarms = target.cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    return str(alarms[0]["StateValue"]) if alarms else "missing"


def _wait(target: DrillTarget, what: Callable[[], Any], deadline: float) -> Any:
    """Settle and look again until `what()` is truthy or the deadline passes; the last answer."""
    while True:
        found = what()
        if found or target.clock() >= deadline:
            return found
        target.settle()


def run_fire_drill(target: DrillTarget, model: str, drill_id: str | None = None) -> DrillReport:
    """Run every hop of the drill against the target; always clean up; the report says which hops worked."""
    drill_id = drill_id or uuid.uuid4().hex[:12]
    report = DrillReport(model, drill_id)
    settings = target.alarms
    hop_start = target.clock()

    def hop(name: str, ok: bool, since: float, detail: str = "") -> bool:
        report.hops.append(Hop(name, ok, target.clock() - since, detail))
        return ok

    real = owned_alarms(target.cloudwatch, settings.stack, model)
    state_alarm = next((a for a in real if a["AlarmName"] == alarm_name(settings.stack, model, ALERT)), None)
    in_place = state_alarm is not None and settings.alarms_topic_arn in state_alarm.get("AlarmActions", [])
    hop(
        "model alarms in place",
        in_place,
        hop_start,
        f"{len(real)} alarm(s), the state alarm notifies the alarms topic"
        if in_place
        else "no state alarm notifying "
        f"the alarms topic: register the model ({alarm_name(settings.stack, model, ALERT)})",
    )
    topics = [t for t in (settings.alarms_topic_arn, target.notifications_topic_arn) if t]
    inbox: _Inbox | None = None
    alarm = drill_alarm(settings, model, drill_id)
    created_alarm = False
    try:
        start = target.clock()
        inbox = _Inbox(target, topics, f"modelwatch-drill-{settings.stack}-{drill_id}"[-MAX_QUEUE_NAME:])
        hop("temporary subscription to both topics", len(topics) == 2, start, inbox.url.rsplit("/", 1)[-1])
        start = target.clock()
        target.cloudwatch.put_metric_alarm(**alarm)
        created_alarm = True
        hop("drill alarm created", True, start, alarm["AlarmName"])

        box = inbox
        name = alarm["AlarmName"]
        injected = target.clock()
        deadline = injected + target.timeout_seconds
        try:
            answer = target.invoke_publish({"drill": {"model": model, "drill_id": drill_id, "phase": "start"}})
            hop("synthetic degradation published", True, injected, "by the PublishFunction, marked as a drill")
        except ModelwatchError as exc:
            hop("synthetic degradation published", False, injected, str(exc))
            return report
        target.settle()
        _wait(target, lambda: _state(target, name) == "ALARM", deadline)
        hop("drill alarm in ALARM", _state(target, name) == "ALARM", injected, _state(target, name))
        found = _wait(target, lambda: box.find(_alarm_message(name, "ALARM")), deadline)
        hop("alarm message on the alarms topic", found is not None, injected, "ALARM" if found else "not received")
        expected = str(answer.get("notification", {}).get("subject", "")) if isinstance(answer, dict) else ""
        note = _wait(target, lambda: box.find(_drill_message(drill_id)), deadline)
        detail = str(note.get("Subject")) if note else f"not received ({expected or 'no subject'})"
        hop("drill message on the notifications topic", note is not None, injected, detail)

        target.next_minute()  # the all-clear must land in a later one-minute period than the degradation
        cleared = target.clock()
        deadline = cleared + target.timeout_seconds
        try:
            target.invoke_publish({"drill": {"model": model, "drill_id": drill_id, "phase": "end"}})
        except ModelwatchError as exc:
            hop("all clear: drill alarm back to OK", False, cleared, str(exc))
            return report
        target.settle()
        back = _wait(target, lambda: box.find(_alarm_message(name, "OK")), deadline)
        hop("all clear: drill alarm back to OK", back is not None, cleared, _state(target, name))
        return report
    finally:
        start = target.clock()
        problems = []
        try:
            if created_alarm:
                delete_alarms(target.cloudwatch, [alarm["AlarmName"]])
        except Exception as exc:  # cleanup reports every failure instead of hiding the first
            problems.append(f"alarm: {exc}")
        try:
            if inbox is not None:
                inbox.close()
        except Exception as exc:
            problems.append(f"subscription: {exc}")
        hop("cleaned up", not problems, start, "; ".join(problems) or "drill alarm, subscriptions and queue deleted")


def local_target(stack: LocalStack, timeout_seconds: float = 60.0) -> DrillTarget:
    """The embedded stack as a drill target: its clients, the PublishFunction invoked in-process as its role,
    alarms evaluated whenever the stack settles, and the simulated clock moved a minute for the all-clear."""

    def invoke(payload: dict[str, Any]) -> Any:
        invocation = stack.invoke("PublishFunction", payload)
        if invocation.result.error_type is not None:
            raise PublishError(
                f"PublishFunction failed: {invocation.result.error_type}: {invocation.result.error_message}"
            )
        return invocation.result.payload

    return DrillTarget(
        cloudwatch=stack.clients["cloudwatch"],
        sns=stack.clients["sns"],
        sqs=stack.clients["sqs"],
        alarms=stack.alarm_settings(),
        notifications_topic_arn=stack.outputs.get("NotificationsTopicArn", ""),
        invoke_publish=invoke,
        settle=stack.run_until_idle,
        next_minute=lambda: stack.advance(timedelta(minutes=1)),
        timeout_seconds=timeout_seconds,
    )
