"""What the ingest functions need, built from their settings, and the per-message entry points they call: each SQS
record is parsed by Powertools' batch processor into an `ObjectCreatedMessage`; any record that fails (a message that
is not an S3 Object Created event, an unreadable object) is counted as an ingest error and retried by SQS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json, model_validator

from modelwatch import aws
from modelwatch.clock import Clock
from modelwatch.config.settings import IngestSettings
from modelwatch.constants import METRIC_INGEST_ERRORS
from modelwatch.errors import ModelwatchError, describe, withheld
from modelwatch.ingest.events import ObjectCreatedEvent
from modelwatch.ingest.service import ingest_capture_object, ingest_ground_truth_object
from modelwatch.lake.store import S3Store
from modelwatch.observability import logger, metrics
from modelwatch.registry.store import Registry
from modelwatch.state import State


class S3ObjectCreated(ObjectCreatedEvent):
    """An EventBridge event that must be S3's `Object Created` (other sources or types are refused)."""

    @model_validator(mode="after")
    def _object_created(self) -> S3ObjectCreated:
        if self.source != "aws.s3" or self.detail_type != "Object Created":
            raise ValueError(f"unexpected event {self.source}/{self.detail_type}, expected aws.s3/Object Created")
        return self


class ObjectCreatedMessage(SqsRecordModel):
    """One ingest queue message: its body is the S3 Object Created event EventBridge delivered."""

    body: Json[S3ObjectCreated]


class IngestBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor whose failed records are counted (IngestErrors) and logged by error type,
    never with the message body. Another library's error is kept as `errors.withheld` (same type name, reduced
    message): Powertools' "All records failed" error quotes each record's error, and Lambda logs it."""

    def __init__(self, kind: str) -> None:
        super().__init__(event_type=EventType.SQS, model=ObjectCreatedMessage)
        self.kind = kind

    def failure_handler(self, record: Any, exception: Any) -> Any:
        error = exception[1] if isinstance(exception, tuple) and len(exception) > 1 else None
        metrics.add_metric(name=METRIC_INGEST_ERRORS, unit=MetricUnit.Count, value=1)
        logger.error(
            "ingest failed", kind=self.kind, error=type(error).__name__, reason=_reason(error), message_id=_id(record)
        )
        if error is not None and not isinstance(error, ModelwatchError):
            reduced = withheld(error)
            exception = (type(reduced), reduced, exception[2])
        return super().failure_handler(record, exception)


def _reason(error: BaseException | None) -> str:
    if error is None:
        return ""
    errors = getattr(error, "errors", None)
    if callable(errors):  # a pydantic ValidationError: name the fields, not the values
        return "; ".join(".".join(str(p) for p in e["loc"]) + ": " + str(e["msg"]) for e in errors()[:3])
    return describe(error, limit=500)


def _id(record: Any) -> str:
    value = record.get("messageId") if isinstance(record, dict) else getattr(record, "message_id", "")
    return str(value or "")


@dataclass
class IngestContext:
    """Clients, lake, state, registry and clock of one invocation."""

    settings: IngestSettings
    s3_client: Any
    store: S3Store
    state: State
    registry: Registry
    clock: Clock
    sfn_client: Any

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> IngestContext:
        """Clients from `modelwatch.aws`; the registry is fresh per invocation (new models count)."""
        s3 = aws.client("s3")
        store = S3Store(s3, settings.lake_bucket)
        return cls(
            settings=settings,
            s3_client=s3,
            store=store,
            state=State(aws.client("dynamodb"), settings.state_table),
            registry=Registry(store),
            clock=settings.clock(),
            sfn_client=aws.client("stepfunctions"),
        )

    def _common(self) -> dict[str, Any]:
        return {
            "s3_client": self.s3_client,
            "store": self.store,
            "state": self.state,
            "registry": self.registry,
            "clock": self.clock,
            "sfn_client": self.sfn_client,
            "state_machine_arn": self.settings.monitor_state_machine_arn,
        }


def handle_capture_message(message: ObjectCreatedMessage, ctx: IngestContext) -> dict[str, Any]:
    """One capture queue message -> capture rows in the lake."""
    ref = message.body.ref()
    return ingest_capture_object(ref, capture_prefix=ctx.settings.capture_prefix, **ctx._common()).to_dict()


def handle_ground_truth_message(message: ObjectCreatedMessage, ctx: IngestContext) -> dict[str, Any]:
    """One ground-truth queue message -> labels in the lake."""
    return ingest_ground_truth_object(message.body.ref(), **ctx._common()).to_dict()


__all__ = ["IngestBatchProcessor", "IngestContext", "ObjectCreatedMessage", "PartialItemFailureResponse"]
