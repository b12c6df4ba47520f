"""Each function's environment, parsed once by its handler into a pydantic model and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.clock import Clock, SimulatedClock, SystemClock, parse_iso
from modelwatch.constants import DEFAULT_METRIC_NAMESPACE
from modelwatch.errors import ConfigError


class Settings(BaseModel):
    """Environment shared by every function (template.yaml Globals plus per-function variables)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    lake_bucket: str = Field(alias="LAKE_BUCKET", min_length=1)
    state_table: str = Field(alias="STATE_TABLE", min_length=1)
    metric_namespace: str = Field(alias="METRIC_NAMESPACE", default=DEFAULT_METRIC_NAMESPACE)
    stack_name: str = Field(alias="STACK_NAME", default="modelwatch")
    capture_prefix: str = Field(alias="CAPTURE_PREFIX", default="")
    ground_truth_prefix: str = Field(alias="GROUND_TRUTH_PREFIX", default="")
    monitor_state_machine_arn: str = Field(alias="MONITOR_STATE_MACHINE_ARN", default="")
    notifications_topic_arn: str = Field(alias="NOTIFICATIONS_TOPIC_ARN", default="")
    alarms_topic_arn: str = Field(alias="ALARMS_TOPIC_ARN", default="")
    report_links: str = Field(alias="REPORT_LINKS", default="console")
    # Local stack only: ISO-8601 time of the simulated clock; absent on AWS (wall time).
    clock_override: str = Field(alias="MODELWATCH_CLOCK", default="")

    def clock(self) -> Clock:
        """The pipeline's clock: the local stack's simulated time when MODELWATCH_CLOCK is set, wall time otherwise."""
        return SimulatedClock(parse_iso(self.clock_override)) if self.clock_override else SystemClock()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment once (handlers call this at import or per invocation)."""
    env = dict(os.environ if environ is None else environ)
    try:
        return Settings.model_validate(env)
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ConfigError(f"function environment is invalid: {missing}: {exc.errors()[0]['msg']}") from exc
