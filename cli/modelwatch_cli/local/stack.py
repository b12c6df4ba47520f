"""LocalStack: template.yaml on moto with in-process handlers, SQS pollers, a simulated clock, EMF and alarms."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.exceptions import ClientError

from modelwatch.clock import SimulatedClock, to_utc
from modelwatch.constants import DEFAULT_METRIC_NAMESPACE
from modelwatch.errors import LocalStackError, ModelwatchError
from modelwatch.publishing.alarms import AlarmSettings
from modelwatch_cli.local import adapter, authorization
from modelwatch_cli.local.alarms import AlarmEvaluator, AlarmTransition
from modelwatch_cli.local.functions import Invocation, LocalFunctions, redirect_logs, serialized_client_creation
from modelwatch_cli.local.iam import Credentials, Identities, set_up_identities
from modelwatch_cli.local.metrics import parse_emf, put_datapoints, retime
from modelwatch_cli.local.poller import SqsPoller
from modelwatch_cli.local.resources import CreatedResources, create_resources
from modelwatch_cli.local.schedules import Schedule
from modelwatch_cli.local.template import ScheduleEvent, Template
from modelwatch_cli.local.translation import translate

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
POLL_SECONDS = 0.02  # the shortest wait between polls of running executions
POLL_WAIT_SHARE = 4.0  # each wait at least this many times the poll it follows (polls: at most a fifth of the time)
SERVICES = (
    "s3",
    "sqs",
    "sns",
    "events",
    "dynamodb",
    "lambda",
    "stepfunctions",
    "cloudwatch",
    "iam",
    "logs",
    "sts",
    "kms",
)


@dataclass(frozen=True)
class Notification:
    """A message the local subscriber received from an SNS topic."""

    topic_arn: str
    subject: str
    message: str
    received_at: datetime

    def json(self) -> Any:
        try:
            return json.loads(self.message)
        except json.JSONDecodeError:
            return self.message


class LocalStack:
    """The whole pipeline on one machine, wired by template.yaml.

    `start()` creates every resource on moto (with `iam`, each function's role as SAM would create it, and IAM
    enforced: a missing permission fails as on AWS); `put_capture()` writes a capture object (S3 -> EventBridge -> SQS);
    `run_until_idle()` polls the queues (template BatchSize, partial batch failures), waits for executions,
    turns EMF into datapoints and evaluates alarms; `advance(delta)` moves the simulated clock, firing schedules.
    """

    def __init__(
        self,
        template_path: Path = DEFAULT_TEMPLATE,
        clock: SimulatedClock | None = None,
        stack_name: str = "modelwatch-local",
        parameters: dict[str, str] | None = None,
        log_stream: IO[str] | None = None,
        endpoint_url: str | None = None,
        settle_timeout: float = 600.0,
        iam: bool = True,
    ) -> None:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.clock = clock or SimulatedClock(start)
        self.template = Template(template_path, stack_name=stack_name, parameters=parameters)
        self._log_stream = log_stream
        self._endpoint_url = endpoint_url
        self._settle_timeout = settle_timeout
        # IAM enforced: every function, state machine and schedule signs as its own role (see authorization.py).
        self.iam = iam
        self.identities: Identities | None = None
        self._exit = contextlib.ExitStack()
        self.clients: dict[str, Any] = {}
        self.resources = CreatedResources()
        self.functions: LocalFunctions | None = None
        self.pollers: dict[str, SqsPoller] = {}
        self.schedules: list[tuple[ScheduleEvent, Schedule]] = []
        self.notifications: list[Notification] = []
        self.alarms: AlarmEvaluator | None = None
        self.datapoints_published = 0
        self.failed_executions: dict[str, tuple[str, datetime]] = {}  # execution ARN -> (state machine ARN, time)
        self._last_tick = self.clock.now()
        self._started = False
        self._saved_environ: dict[str, str | None] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        if self._started:
            return self
        # Translated before moto starts: the SAM translator runs in the tools venv, in a subprocess.
        translated = translate(self.template.path, self.template.parameters, self.template.region) if self.iam else None
        if self._endpoint_url is None:
            self._exit.enter_context(adapter.embedded_aws())
        functions = self.template.functions()
        base_environment = {
            "AWS_DEFAULT_REGION": self.template.region,
            "AWS_REGION": self.template.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self._endpoint_url is not None:
            # Handlers build their own clients: point them at the loopback server, never at real AWS.
            base_environment["AWS_ENDPOINT_URL"] = self._endpoint_url
        # Set process-wide for the stack's lifetime: moto's worker threads read AWS_REGION while handlers run, so
        # an invocation must never add and then remove it (a KeyError inside moto fails the execution).
        for key, value in base_environment.items():
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        try:
            self.identities = self._identities(translated) if translated is not None else None
            operator = self.identities.operator if self.identities is not None else None
            self.clients = {name: self._client(name, operator) for name in SERVICES}
            roles = self.identities.roles.role_arns() if self.identities is not None else None
            self.resources = create_resources(self.template, self.clients, roles)
            if self._endpoint_url is not None:
                self._describe_as_stack(operator)
        except ClientError as exc:
            self.stop()
            raise LocalStackError(f"cannot create the template's resources locally: {exc}") from exc
        except ModelwatchError:  # a role the local stack cannot build: leave nothing half started
            self.stop()
            raise
        credentials = {}
        if self.identities is not None:
            credentials = {lid: c.environment() for lid in functions if (c := self.identities.of(lid)) is not None}
        self.functions = LocalFunctions(functions, self.clock.now, base_environment, self._log_stream, credentials)
        self.functions.listeners.append(self._publish_emf)
        self._exit.enter_context(serialized_client_creation(self.functions.lock))
        self._exit.enter_context(adapter.route_lambda_invocations(self.functions.route))
        self._build_pollers(functions)
        for spec in functions.values():
            self.schedules.extend((event, Schedule(event.expression)) for event in spec.schedules)
        for machine in self.template.state_machines().values():
            self.schedules.extend((event, Schedule(event.expression)) for event in machine.schedules)
        self._check_schedule_interval()
        self.alarms = AlarmEvaluator(
            self.clients["cloudwatch"],
            self.clients["sns"],
            lambda: adapter.cloudwatch_datapoints(self.template.account_id, self.template.region),
            self._service_metric,
            self.template.region,
            self.template.account_id,
        )
        if self.identities is not None:
            self._exit.enter_context(authorization.enforced(self.identities.of_role_arn))
        self._last_tick = self.clock.now()
        self._started = True
        return self

    def _check_schedule_interval(self) -> None:
        """The stalled alarms' period (ScheduleIntervalSeconds) must be the fleet schedule's rate, or they misfire."""
        params = self.template.parameters
        expression, seconds = params.get("ScheduleExpression"), params.get("ScheduleIntervalSeconds")
        if not expression or not seconds:
            return
        interval = Schedule(expression).interval
        if interval is not None and int(interval.total_seconds()) != int(seconds):
            self.stop()
            raise LocalStackError(
                f"ScheduleIntervalSeconds {seconds} does not match ScheduleExpression {expression} "
                f"({int(interval.total_seconds())} seconds): the stalled alarms would misfire"
            )

    def _identities(self, translated: dict[str, Any]) -> Identities:
        """Create the operator and the roles (IAM not yet enforced), then sign as the operator outside invocations."""
        identities = set_up_identities(
            self._client("iam", None),
            self._client("sts", None),
            self.template,
            translated,
            authorization.aws_managed_policy,
        )
        # Whoever drives the stack (the CLI, tests, `aws --endpoint-url`) acts as the operator; removed before moto
        # stops (the exit stack unwinds in reverse), since moto restores the variables it set itself.
        self._exit.enter_context(
            _environment(identities.operator.environment(), removed=("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"))
        )
        return identities

    def _describe_as_stack(self, operator: Credentials | None) -> None:
        """A CloudFormation stack of the stack's name holding only its outputs and parameters (the resources are
        created one by one above): behind a loopback server, the CLI's `--stack NAME --endpoint-url URL` then finds
        the local stack's resources through `describe_stacks`, as it finds a deployed stack's."""
        document = {
            "Description": "modelwatch local stack: its outputs and parameters (resources created by modelwatch)",
            "Parameters": {name: {"Type": "String"} for name in self.template.parameters},
            "Resources": {},
            # CloudFormation outputs are never empty strings: an output that resolves to nothing is left out.
            "Outputs": {name: {"Value": value} for name, value in self.outputs.items() if value},
        }
        self._client("cloudformation", operator).create_stack(
            StackName=self.template.stack_name,
            TemplateBody=json.dumps(document),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.template.parameters.items()],
        )

    def _client(self, service: str, credentials: Credentials | None) -> Any:
        """A client of the stack itself: with the operator's keys given explicitly, so it keeps them in any thread."""
        arguments = credentials.client_arguments() if credentials is not None else {}
        return boto3.client(service, region_name=self.template.region, endpoint_url=self._endpoint_url, **arguments)

    def stop(self) -> None:
        self._exit.close()
        for key, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environ.clear()
        self._started = False

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _build_pollers(self, functions: dict[str, Any]) -> None:
        for spec in functions.values():
            for event in spec.queue_events:
                url = self.resources.queues[event.queue_logical_id]
                name = spec.name

                def invoke(batch: dict[str, Any], name: str = name) -> adapter.InvocationResult:
                    assert self.functions is not None
                    return self.functions.invoke(name, batch).result

                self.pollers[event.queue_logical_id] = SqsPoller(
                    self.clients["sqs"],
                    url,
                    self.template.attributes[(event.queue_logical_id, "Arn")],
                    self.template.region,
                    event.batch_size,
                    event.report_batch_item_failures,
                    invoke,
                )

    # ------------------------------------------------------------------ outputs and inputs
    @property
    def outputs(self) -> dict[str, str]:
        """The template's Outputs as CloudFormation would show them."""
        return self.template.outputs()

    def alarm_settings(self) -> AlarmSettings:
        """What `register` gives the per-model alarms: the stack, its alarms topic, namespace and schedule."""
        params = self.template.parameters
        return AlarmSettings(
            stack=self.template.stack_name,
            alarms_topic_arn=self.outputs.get("AlarmsTopicArn", ""),
            namespace=params.get("MetricNamespace") or DEFAULT_METRIC_NAMESPACE,
            schedule_interval=timedelta(seconds=int(params.get("ScheduleIntervalSeconds") or 3600)),
        )

    @property
    def capture_bucket(self) -> str:
        return self.resources.capture_bucket

    @property
    def lake_bucket(self) -> str:
        return self.outputs["LakeBucketName"]

    def put_capture(self, key: str, body: bytes, bucket: str | None = None) -> None:
        """Write one object into the capture bucket; S3 -> EventBridge -> SQS routes it as on AWS."""
        self.clients["s3"].put_object(Bucket=bucket or self.capture_bucket, Key=key, Body=body)

    def invoke(self, function: str, event: Any) -> Invocation:
        """Invoke a function (logical id or name) in-process, as `aws lambda invoke` would."""
        assert self.functions is not None, "start() the stack first"
        return self.functions.invoke(function, event)

    def quiet(self) -> contextlib.AbstractContextManager[None]:
        """Send domain logs emitted outside invocations (registration, exports) to the stack's log stream."""
        return redirect_logs(self._log_stream)

    def start_execution(self, state_machine: str, name: str, payload: dict[str, Any]) -> str:
        arn = self.resources.state_machines.get(state_machine, state_machine)
        return adapter.start_named_execution(self.clients["stepfunctions"], arn, name, payload)

    # ------------------------------------------------------------------ time
    def run_until_idle(self) -> None:
        """Process until nothing is queued or running, then publish metrics, evaluate alarms, collect messages."""
        self._settle()
        self._record_failed_executions()
        self.evaluate_alarms()
        self._collect_notifications()

    def _settle(self) -> None:
        """Let running executions finish, then handle queued messages one batch at a time, each batch's runs settled.

        Executions run in moto's threads while queue batches are invoked from this one; letting both proceed at once
        made their order (which run saw which labels, which run started a model's window first) a race decided by
        thread scheduling. Settling in between keeps every simulated instant reproducible.
        """
        deadline = time.monotonic() + self._settle_timeout
        self._wait_for_executions(deadline)
        while any(poller.poll_once() for poller in self.pollers.values()):
            self._wait_for_executions(deadline)
            if time.monotonic() > deadline:
                raise LocalStackError(f"queues still not drained after {self._settle_timeout:.0f}s")

    def _wait_for_executions(self, deadline: float) -> None:
        """Poll until no execution runs. A poll (moto's list_executions, filtered and serialised in Python) holds the
        GIL the executions' threads need, and costs more the more executions moto keeps: polled every 20 ms, the
        fleet benchmark's 200 models spent most of the process on polls. So the wait after a poll is at least
        POLL_WAIT_SHARE times the poll's own time: polls take at most a fifth of the time, and answer within 20 ms
        while they are cheap (a test's few executions)."""
        machines = list(self.resources.state_machines.values())
        while True:
            polled = time.monotonic()
            running = adapter.running_executions(self.clients["stepfunctions"], machines)
            if not running:
                return
            now = time.monotonic()
            if now > deadline:
                raise LocalStackError(f"executions still running after {self._settle_timeout:.0f}s: {running[:3]}")
            time.sleep(max(POLL_SECONDS, POLL_WAIT_SHARE * (now - polled)))

    def advance(self, delta: timedelta) -> None:
        """Move the simulated clock, firing every schedule due on the way (each followed by run_until_idle).

        Messages queued before a fire time are handled (at that time) before its schedules fire, as they would have
        been long before on AWS.
        """
        target = self.clock.now() + delta
        while True:
            due = sorted(
                ((when, event) for event, schedule in self.schedules for when in schedule.due(self._last_tick, target)),
                key=lambda item: item[0],
            )
            if not due:
                break
            when = due[0][0]
            self.clock.set(when)
            self._settle()
            for fire_time, event in due:
                if fire_time == when:
                    self._fire(event, when)
            self._last_tick = when
            self.run_until_idle()
        self.clock.set(target)
        self._last_tick = target
        self.run_until_idle()

    def _fire(self, event: ScheduleEvent, when: datetime) -> None:
        target = event.target_logical_id
        # A ScheduleV2 calls its target as the schedule's own role (SAM generates it with just that permission).
        role = self.identities.of(f"{target}{event.name}") if self.identities is not None else None
        if target in self.resources.state_machines:
            name = f"schedule-{event.name}-{when:%Y%m%dT%H%M%SZ}"
            if role is None:
                self.start_execution(target, name, dict(event.input))
            else:
                sfn = self._client("stepfunctions", role)
                adapter.start_named_execution(sfn, self.resources.state_machines[target], name, dict(event.input))
        elif role is None:
            self.invoke(target, dict(event.input))
        else:
            payload = json.dumps(dict(event.input)).encode()
            self._client("lambda", role).invoke(FunctionName=self.resources.functions[target], Payload=payload)

    # ------------------------------------------------------------------ metrics, alarms, notifications
    def _publish_emf(self, invocation: Invocation) -> None:
        points = parse_emf(invocation.stdout)
        if points:
            points = retime(points, invocation.wall_start, invocation.wall_end, invocation.simulated_time)
            self.datapoints_published += put_datapoints(self.clients["cloudwatch"], points)

    def evaluate_alarms(self) -> list[AlarmTransition]:
        assert self.alarms is not None
        transitions = self.alarms.evaluate(self.clock.now())
        if transitions:
            self._collect_notifications()
        return transitions

    def _record_failed_executions(self) -> None:
        sfn = self.clients["stepfunctions"]
        for arn in self.resources.state_machines.values():
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="FAILED"):
                for execution in page["executions"]:
                    if execution["executionArn"] not in self.failed_executions:
                        self.failed_executions[execution["executionArn"]] = (arn, self.clock.now())

    def _service_metric(self, alarm: dict[str, Any], start: datetime, end: datetime) -> list[adapter.Datapoint] | None:
        """AWS service metrics synthesised from what the local stack knows; None = not evaluable locally."""
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        now = self.clock.now()
        key = (alarm["Namespace"], alarm["MetricName"])
        if key == ("AWS/SQS", "ApproximateNumberOfMessagesVisible") and "QueueName" in dims:
            url = next(
                (
                    u
                    for lid, u in self.resources.queues.items()
                    if self.template.attributes[(lid, "QueueName")] == dims["QueueName"]
                ),
                None,
            )
            if url is None:
                return None
            attrs = self.clients["sqs"].get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            return [_point(alarm, now, float(attrs["ApproximateNumberOfMessages"]))]
        if key == ("AWS/States", "ExecutionsFailed") and "StateMachineArn" in dims:
            failed = [t for sm, t in self.failed_executions.values() if sm == dims["StateMachineArn"]]
            return [_point(alarm, t, 1.0) for t in failed]
        return None

    def _collect_notifications(self) -> None:
        sqs = self.clients["sqs"]
        url = self.resources.subscriber_queue_url
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return
            for message in messages:
                envelope = json.loads(message["Body"])
                self.notifications.append(
                    Notification(
                        topic_arn=str(envelope.get("TopicArn", "")),
                        subject=str(envelope.get("Subject") or ""),
                        message=str(envelope.get("Message", "")),
                        received_at=self.clock.now(),
                    )
                )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@contextlib.contextmanager
def _environment(values: dict[str, str], removed: tuple[str, ...] = ()) -> Iterator[None]:
    """Set (and remove) process environment variables until exit, then restore them."""
    saved = {key: os.environ.get(key) for key in (*values, *removed)}
    for key in removed:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _point(alarm: dict[str, Any], when: datetime, value: float) -> adapter.Datapoint:
    return adapter.Datapoint(
        namespace=alarm["Namespace"],
        metric_name=alarm["MetricName"],
        dimensions=tuple(sorted((d["Name"], d["Value"]) for d in alarm.get("Dimensions", []))),
        timestamp=to_utc(when),
        values=(value,),
        stat_sum=value,
        stat_count=1.0,
        stat_min=value,
        stat_max=value,
    )
