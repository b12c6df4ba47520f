"""A fire drill's synthetic degradation, published by the PublishFunction itself so the drill proves its role, its
metric namespace and its topic: a drill datapoint (`AlertDrill`, dimensions Model and Drill) that only the drill's
own temporary alarm watches, and a notification marked as a drill. The model's real metrics (`AlertState`, the
performance series), incidents, ledger, results and reports are never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.config.settings import PublishSettings
from modelwatch.constants import DIM_DRILL, METRIC_ALERT_DRILL
from modelwatch.errors import ConfigError
from modelwatch.observability import logger
from modelwatch.publishing.metrics import Datapoint, iso, put_datapoints
from modelwatch.publishing.notify import build_drill_notification, send_notification
from modelwatch.units import model_dimensions

DRILL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-]{0,39}$"


class DrillRequest(BaseModel):
    """`{drill: {model, drill_id, phase}}`: start publishes the synthetic degradation and the drill message; end
    publishes the all-clear (the drill alarm's OK)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, max_length=63)
    drill_id: str = Field(pattern=DRILL_ID_PATTERN)
    phase: Literal["start", "end"] = "start"


@dataclass
class DrillSummary:
    """What the drill step published."""

    model: str
    drill_id: str
    phase: str
    metric: str
    published_at: str
    datapoint: dict[str, Any]
    notification: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "drill": True,
            "model": self.model,
            "drill_id": self.drill_id,
            "phase": self.phase,
            "metric": self.metric,
            "published_at": self.published_at,
            "datapoint": self.datapoint,
            "notification": self.notification,
        }


def drill_datapoint(model: str, drill_id: str, value: float, now: datetime) -> Datapoint:
    """The drill's own series: what the drill alarm watches (`alarms.drill_alarm_params`)."""
    return Datapoint(METRIC_ALERT_DRILL, (*model_dimensions(model), (DIM_DRILL, drill_id)), now, value, unit="Count")


def run_drill(
    request: DrillRequest,
    config: ModelConfig,
    *,
    cloudwatch: Any,
    sns: Any,
    clock: Clock,
    settings: PublishSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> DrillSummary:
    """Publish the drill's datapoint (1 at start, 0 at the end) and, at start, the drill message."""
    if request.model != config.name:
        raise ConfigError(f"drill: request is for model {request.model!r} but the config is {config.name!r}")
    now = to_utc(clock.now())
    metric = config.metrics[0]
    point = drill_datapoint(config.name, request.drill_id, 1.0 if request.phase == "start" else 0.0, now)
    put_datapoints(cloudwatch, settings.metric_namespace, [point], sleep=sleep)
    summary = DrillSummary(config.name, request.drill_id, request.phase, metric, iso(now), point.describe())
    if request.phase == "start":
        note = build_drill_notification(config.name, request.drill_id, metric, now)
        if not settings.notifications_topic_arn:
            raise ConfigError("drill: no notifications topic is configured (NOTIFICATIONS_TOPIC_ARN)")
        send_notification(sns, settings.notifications_topic_arn, note, sleep=sleep)
        summary.notification = note.to_dict()
    logger.info("fire drill published", model=config.name, drill_id=request.drill_id, phase=request.phase)
    return summary
