"""What an endpoint back in service means to the models watching it (SageMaker's "Endpoint State Change" events, from
EventBridge through the endpoint events queue to EndpointUpdateFunction).

- A model's pending version goes live at the event's time (`modelwatch.workflow.versions`).
- A model watching every variant (`variants: "*"`) gets its units, and their alarms, for every variant the endpoint
  now serves: a variant added by the update is alarmed before its first run, not only when the model is registered
  again (the low-traffic alarm, measured against the reference at registration, waits for that).

SageMaker may send an event more than once: each step is idempotent (a version goes live once; alarms are put).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json

from modelwatch.config.model import ALL_VARIANTS
from modelwatch.config.settings import EndpointEventSettings
from modelwatch.observability import logger
from modelwatch.publishing.alarms import AlarmSettings, put_model_alarms, seed_heartbeat
from modelwatch.registry.store import Registry
from modelwatch.workflow.versions import activate_pending_versions

IN_SERVICE = "IN_SERVICE"


class ProductionVariant(BaseModel):
    """A variant the endpoint serves, as the event lists it."""

    model_config = ConfigDict(extra="ignore")

    variant_name: str = Field(alias="VariantName", min_length=1)


class EndpointDetail(BaseModel):
    """The part of a SageMaker "Endpoint State Change" event modelwatch reads."""

    model_config = ConfigDict(extra="ignore")

    endpoint_name: str = Field(alias="EndpointName", min_length=1)
    endpoint_status: str = Field(alias="EndpointStatus")
    endpoint_config_name: str | None = Field(default=None, alias="EndpointConfigName")
    production_variants: list[ProductionVariant] = Field(default_factory=list, alias="ProductionVariants")
    shadow_production_variants: list[ProductionVariant] = Field(default_factory=list, alias="ShadowProductionVariants")

    @property
    def variant_names(self) -> list[str]:
        """Every variant the endpoint serves, shadow ones included (their captures land in the same prefix)."""
        return sorted({v.variant_name for v in [*self.production_variants, *self.shadow_production_variants]})


class EndpointStateChange(BaseModel):
    """An EventBridge event from SageMaker: an endpoint changed state (created, updated, rolled back, ...)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: str
    detail_type: str = Field(alias="detail-type")
    time: datetime
    detail: EndpointDetail

    @property
    def in_service(self) -> bool:
        return self.detail.endpoint_status.upper().replace(" ", "_") in (IN_SERVICE, "INSERVICE")


class EndpointChangeMessage(SqsRecordModel):
    """One message of the endpoint events queue: its body is the endpoint event EventBridge delivered."""

    body: Json[EndpointStateChange]


class EndpointBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor whose failed records are logged by error type and reason (an endpoint event
    holds no inference data), so a message left for the DLQ says why; SQS retries it, then the DLQ keeps it, even
    when the whole batch fails."""

    def __init__(self) -> None:
        super().__init__(event_type=EventType.SQS, model=EndpointChangeMessage, raise_on_entire_batch_failure=False)

    def failure_handler(self, record: Any, exception: Any) -> Any:
        error = exception[1] if isinstance(exception, tuple) and len(exception) > 1 else None
        logger.error("endpoint event failed", error=type(error).__name__, reason=str(error)[:500])
        return super().failure_handler(record, exception)


@dataclass(frozen=True)
class EndpointEventContext:
    """What the endpoint events need besides the registry: CloudWatch and the stack's alarm settings (None: no
    alarms, e.g. a lake folder)."""

    registry: Registry
    cloudwatch: Any = None
    alarms: AlarmSettings | None = None

    @classmethod
    def from_settings(
        cls, settings: EndpointEventSettings, registry: Registry, cloudwatch: Any
    ) -> EndpointEventContext:
        alarms = AlarmSettings(
            stack=settings.stack_name,
            alarms_topic_arn=settings.alarms_topic_arn,
            namespace=settings.metric_namespace,
            schedule_interval=timedelta(seconds=settings.schedule_interval_seconds),
        )
        return cls(registry, cloudwatch, alarms)


def on_endpoint_in_service(change: EndpointStateChange, ctx: EndpointEventContext) -> dict[str, Any]:
    """Pending versions live, and the alarms of every variant a model watching every variant now sees; nothing for
    another state."""
    if not change.in_service:
        return {"versions": [], "alarmed": []}
    endpoint = change.detail.endpoint_name
    activated = activate_pending_versions(ctx.registry, endpoint, change.time)
    alarmed = _alarm_variants(change, ctx) if ctx.cloudwatch is not None and ctx.alarms is not None else []
    logger.info("endpoint in service", endpoint=endpoint, versions_live=len(activated), units_alarmed=len(alarmed))
    return {"versions": activated, "alarmed": alarmed}


def _alarm_variants(change: EndpointStateChange, ctx: EndpointEventContext) -> list[str]:
    """The units, made now if new, of models watching every variant of the endpoint, for each variant it serves:
    their alarms put (created or updated) and a first heartbeat."""
    assert ctx.alarms is not None
    endpoint = change.detail.endpoint_name
    watching = {c.name for c in ctx.registry.models() if c.endpoint == endpoint and c.variants == ALL_VARIANTS}
    alarmed: list[str] = []
    for variant in change.detail.variant_names:
        for unit in ctx.registry.for_capture(endpoint, variant):  # remembers a variant not seen before
            if unit.model_name not in watching:
                continue  # listed variants get their alarms when registered
            put_model_alarms(ctx.cloudwatch, ctx.alarms, unit)  # a new unit: nothing stale to remove
            seed_heartbeat(ctx.cloudwatch, ctx.alarms.namespace, unit.name, change.time)
            alarmed.append(unit.name)
    return alarmed
