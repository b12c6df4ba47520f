"""Where the CLI verbs act: a deployed stack (CloudFormation outputs), an endpoint (local stack), or a lake folder."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from modelwatch.constants import DEFAULT_METRIC_NAMESPACE
from modelwatch.errors import ConfigError
from modelwatch.lake.store import LocalStore, ObjectStore, S3Store
from modelwatch.publishing.alarms import AlarmSettings
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch_cli import registration

# CloudFormation output keys of template.yaml.
OUTPUT_LAKE_BUCKET = "LakeBucketName"
OUTPUT_STATE_TABLE = "StateTableName"
OUTPUT_MONITOR_ARN = "MonitorStateMachineArn"
OUTPUT_FLEET_ARN = "FleetStateMachineArn"
OUTPUT_ALARMS_TOPIC = "AlarmsTopicArn"
OUTPUT_NOTIFICATIONS_TOPIC = "NotificationsTopicArn"
OUTPUT_PUBLISH_FUNCTION = "PublishFunctionName"
PARAMETER_NAMESPACE = "MetricNamespace"
PARAMETER_SCHEDULE_INTERVAL = "ScheduleIntervalSeconds"
DEFAULT_SCHEDULE_INTERVAL_SECONDS = 3600
SAMCONFIG = "samconfig.toml"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class StackContext:
    """The resources one stack's verbs use, with clients built on demand.

    `outputs` uses the template's output names; a local stack (moto server) builds one with `from_outputs` and an
    `endpoint_url`; `lake_dir` alone gives a lake-only context (registry in a folder, no AWS).
    """

    stack_name: str
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    lake_dir: Path | None = None
    credentials: dict[str, str] = field(default_factory=dict, repr=False)  # a local stack's operator keys
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_outputs(
        cls, stack_name: str, outputs: dict[str, str], *, region: str | None = None, endpoint_url: str | None = None
    ) -> StackContext:
        return cls(stack_name=stack_name, outputs=dict(outputs), region=region, endpoint_url=endpoint_url)

    @property
    def is_local_folder(self) -> bool:
        return self.lake_dir is not None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            self._clients[service] = session.client(service, endpoint_url=self.endpoint_url, **self.credentials)
        return self._clients[service]

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise ConfigError(f"stack {self.stack_name}: output {key} not found (is the stack deployed and current?)")
        return value

    @property
    def metric_namespace(self) -> str:
        return self.parameters.get(PARAMETER_NAMESPACE) or DEFAULT_METRIC_NAMESPACE

    def alarm_settings(self) -> AlarmSettings:
        """What `register` gives the per-model alarms: the stack, its alarms topic, namespace and schedule."""
        seconds = int(self.parameters.get(PARAMETER_SCHEDULE_INTERVAL) or DEFAULT_SCHEDULE_INTERVAL_SECONDS)
        return AlarmSettings(
            stack=self.stack_name,
            alarms_topic_arn=self.outputs.get(OUTPUT_ALARMS_TOPIC, ""),
            namespace=self.metric_namespace,
            schedule_interval=timedelta(seconds=seconds),
        )

    def lake(self) -> ObjectStore:
        if self.lake_dir is not None:
            return LocalStore(self.lake_dir)
        return S3Store(self.client("s3"), self.output(OUTPUT_LAKE_BUCKET))

    def registry(self) -> Registry:
        return Registry(self.lake(), cache_seconds=0)

    @property
    def state_table(self) -> str | None:
        return None if self.lake_dir is not None else self.output(OUTPUT_STATE_TABLE)

    def state(self) -> State | None:
        """The stack's state table (None for a lake folder, which has none)."""
        table = self.state_table
        return None if table is None else State(self.client("dynamodb"), table)


def stack_outputs(cloudformation: Any, stack_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """A stack's outputs and parameters (describe_stacks)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # botocore ClientError: the stack does not exist or no credentials
        raise ConfigError(f"stack {stack_name}: cannot describe it: {exc}") from exc
    stack = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return outputs, parameters


def samconfig_stack_name(path: str | Path = SAMCONFIG) -> str | None:
    """`stack_name` from samconfig.toml's default deploy parameters, when the file exists."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for section in ("deploy", "global"):
        name = data.get("default", {}).get(section, {}).get("parameters", {}).get("stack_name")
        if name:
            return str(name)
    return None


def boto3_default_region(profile: str | None) -> str | None:
    """The region boto3 would use without --region (environment, profile), None when it has none."""
    import boto3

    return boto3.session.Session(profile_name=profile).region_name


def resolve_context(
    *,
    stack: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    local: Path | None = None,
    samconfig: str | Path = SAMCONFIG,
) -> StackContext:
    """`--local DIR` (a lake folder), else the stack named by `--stack` or samconfig.toml, via its outputs. A stack
    `modelwatch local up` serves (found by name or by `--endpoint-url`) needs nothing else: its endpoint, region and
    operator keys come from what it registered."""
    if local is not None:
        if stack or endpoint_url:
            raise click.UsageError("--local DIR is a lake folder: it takes no --stack or --endpoint-url")
        return StackContext(stack_name="local", lake_dir=Path(local))
    running = None if profile else registration.find(stack, endpoint_url)
    name = stack or (running.stack if running else None) or samconfig_stack_name(samconfig)
    if not name:
        raise click.UsageError(
            "no stack: pass --stack NAME (or set stack_name in samconfig.toml), --local DIR, "
            "or --endpoint-url of a running `modelwatch local up`"
        )
    context = StackContext(stack_name=name, region=region, endpoint_url=endpoint_url, profile=profile)
    if running is not None:
        context.endpoint_url = endpoint_url or running.endpoint_url
        context.region = region or running.region
        context.credentials = running.credentials()
    elif endpoint_url and not region and not boto3_default_region(profile):
        raise click.UsageError(
            f"--endpoint-url {endpoint_url}: no running `modelwatch local up` serves it; pass --region (and keys)"
        )
    context.outputs, context.parameters = stack_outputs(context.client("cloudformation"), name)
    return context


def stack_options(command: F) -> F:
    """--stack/--region/--endpoint-url/--profile/--local, resolved into a `context: StackContext` argument."""
    return _stack_options(command, local_folder=True)


def stack_only_options(command: F) -> F:
    """As stack_options, without --local: for verbs that only a stack can serve (its buckets, queues, alarms)."""
    return _stack_options(command, local_folder=False)


def _stack_options(command: F, *, local_folder: bool) -> F:
    @click.option("--stack", help="Stack name: deployed, or `modelwatch local up`'s (default: samconfig.toml's).")
    @click.option("--region", help="AWS region of the stack.")
    @click.option(
        "--endpoint-url",
        help="AWS endpoint, e.g. a running `modelwatch local up`'s (its region and keys are then found).",
    )
    @click.option("--profile", help="AWS profile.")
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        stack: str | None,
        region: str | None,
        endpoint_url: str | None,
        profile: str | None,
        local: Path | None = None,
        **kwargs: Any,
    ) -> Any:
        context = resolve_context(stack=stack, region=region, endpoint_url=endpoint_url, profile=profile, local=local)
        return command(*args, context=context, **kwargs)

    if local_folder:
        wrapper = click.option(
            "--local",
            type=click.Path(file_okay=False, path_type=Path),
            help="A lake folder written by `modelwatch run`, `demo` or `decode` instead of a stack.",
        )(wrapper)
    return wrapper  # type: ignore[return-value]
