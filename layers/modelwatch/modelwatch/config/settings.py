"""Each function's environment as a settings model (pydantic-settings), read by its handler and passed down.

`FunctionSettings` holds what every function has (template.yaml Globals); each function's model adds and requires
what that function reads, so a template that forgets a variable fails at the first invocation with one line naming
it. Domain code never reads the environment: it receives these models or the values in them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelwatch.clock import Clock, SimulatedClock, SystemClock, parse_iso
from modelwatch.constants import DEFAULT_METRIC_NAMESPACE
from modelwatch.errors import ConfigError

S = TypeVar("S", bound="FunctionSettings")


class FunctionSettings(BaseSettings):
    """Environment shared by every function (template.yaml Globals)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=True, populate_by_name=True)

    lake_bucket: str = Field(alias="LAKE_BUCKET", min_length=1)
    state_table: str = Field(alias="STATE_TABLE", min_length=1)
    metric_namespace: str = Field(alias="METRIC_NAMESPACE", default=DEFAULT_METRIC_NAMESPACE)
    stack_name: str = Field(alias="STACK_NAME", default="modelwatch")
    # Local stack only: ISO-8601 time of the simulated clock; absent on AWS (wall time).
    clock_override: str = Field(alias="MODELWATCH_CLOCK", default="")

    def clock(self) -> Clock:
        """The pipeline's clock: the local stack's simulated time when MODELWATCH_CLOCK is set, wall time otherwise."""
        return SimulatedClock(parse_iso(self.clock_override)) if self.clock_override else SystemClock()


class IngestSettings(FunctionSettings):
    """IngestCaptureFunction, IngestGroundTruthFunction: where captures and labels land, the run trigger."""

    capture_prefix: str = Field(alias="CAPTURE_PREFIX", default="")
    ground_truth_prefix: str = Field(alias="GROUND_TRUTH_PREFIX", default="")
    monitor_state_machine_arn: str = Field(alias="MONITOR_STATE_MACHINE_ARN", default="")


class StartMonitorSettings(FunctionSettings):
    """StartMonitorFunction: the Monitor state machine it starts."""

    monitor_state_machine_arn: str = Field(alias="MONITOR_STATE_MACHINE_ARN", min_length=1)


class AnalyseSettings(FunctionSettings):
    """AnalyseFunction: the KMS key that signs and verifies its stored baselines and analyses (only its role may)."""

    artifact_key_id: str = Field(alias="ARTIFACT_KEY_ID", min_length=1)


class PublishSettings(FunctionSettings):
    """PublishFunction, RecordFailureFunction: where notifications go and how reports are linked."""

    notifications_topic_arn: str = Field(alias="NOTIFICATIONS_TOPIC_ARN", default="")
    alarms_topic_arn: str = Field(alias="ALARMS_TOPIC_ARN", default="")
    report_links: str = Field(alias="REPORT_LINKS", default="console")


# Everything any function reads: the CLI and tests build one from a stack's outputs.
class EndpointEventSettings(FunctionSettings):
    """EndpointUpdateFunction: where the alarms of a variant found in service notify, and the fleet schedule they
    are measured against."""

    alarms_topic_arn: str = Field(alias="ALARMS_TOPIC_ARN", default="")
    schedule_interval_seconds: int = Field(alias="SCHEDULE_INTERVAL_SECONDS", default=3600, gt=0)


class Settings(IngestSettings, PublishSettings):
    """All of it (the local stack, `modelwatch run`, tests)."""


def load_settings(environ: Mapping[str, str] | None = None, kind: type[S] = Settings) -> S:  # type: ignore[assignment]
    """The function's settings from the environment (or `environ`); ConfigError naming every invalid variable."""
    try:
        if environ is None:
            return kind()  # type: ignore[call-arg]  # pydantic-settings reads the required fields from the environment
        values: dict[str, Any] = dict(environ)
        return kind.model_validate(values)
    except ValidationError as exc:
        names = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ConfigError(f"function environment is invalid: {names}: {exc.errors()[0]['msg']}") from exc
