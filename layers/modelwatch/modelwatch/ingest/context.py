"""What the ingest functions need, built once from their settings, and the per-message entry points they call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from modelwatch import aws
from modelwatch.clock import Clock
from modelwatch.config.settings import Settings
from modelwatch.constants import METRIC_INGEST_ERRORS
from modelwatch.ingest.events import parse_object_created
from modelwatch.ingest.service import ingest_capture_object, ingest_ground_truth_object
from modelwatch.lake.store import S3Store
from modelwatch.observability import logger, metrics
from modelwatch.registry.store import Registry
from modelwatch.state import State


@dataclass
class IngestContext:
    """Clients, lake, state, registry and clock of one invocation."""

    settings: Settings
    s3_client: Any
    store: S3Store
    state: State
    registry: Registry
    clock: Clock
    sfn_client: Any

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestContext:
        """Clients are reused across warm invocations; the registry is fresh per invocation (new models count)."""
        s3, dynamodb, sfn = aws.client("s3"), aws.client("dynamodb"), aws.client("stepfunctions")
        store = S3Store(s3, settings.lake_bucket)
        return cls(
            settings=settings,
            s3_client=s3,
            store=store,
            state=State(dynamodb, settings.state_table),
            registry=Registry(store),
            clock=settings.clock(),
            sfn_client=sfn,
        )


def _handle(kind: str, body: str, ctx: IngestContext, ingest: Any, **extra: Any) -> dict[str, Any]:
    """One queue message (an EventBridge Object Created event) -> ingest; errors counted and re-raised."""
    try:
        result = ingest(
            parse_object_created(body),
            s3_client=ctx.s3_client,
            store=ctx.store,
            state=ctx.state,
            registry=ctx.registry,
            clock=ctx.clock,
            sfn_client=ctx.sfn_client,
            state_machine_arn=ctx.settings.monitor_state_machine_arn,
            **extra,
        )
    except Exception as exc:
        metrics.add_metric(name=METRIC_INGEST_ERRORS, unit=MetricUnit.Count, value=1)
        logger.error("ingest failed", kind=kind, error=type(exc).__name__, reason=str(exc)[:500])
        raise
    return dict(result.to_dict())


def handle_capture_message(body: str, ctx: IngestContext) -> dict[str, Any]:
    """One capture queue message -> capture rows in the lake."""
    return _handle("capture", body, ctx, ingest_capture_object, capture_prefix=ctx.settings.capture_prefix)


def handle_ground_truth_message(body: str, ctx: IngestContext) -> dict[str, Any]:
    """One ground-truth queue message -> labels in the lake."""
    return _handle("ground_truth", body, ctx, ingest_ground_truth_object)
