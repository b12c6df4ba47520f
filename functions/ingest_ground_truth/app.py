"""IngestGroundTruthFunction: SQS batch of S3 "Object Created" events (via EventBridge) -> labels in the lake."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.config.settings import IngestSettings, load_settings
from modelwatch.ingest.context import (
    IngestBatchProcessor,
    IngestContext,
    ObjectCreatedMessage,
    handle_ground_truth_message,
)
from modelwatch.observability import logger, metrics, tracer

processor = IngestBatchProcessor("ground_truth")


@tracer.capture_lambda_handler
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = IngestContext.from_settings(load_settings(kind=IngestSettings))

    def record_handler(record: ObjectCreatedMessage) -> dict[str, Any]:
        return handle_ground_truth_message(record, ctx)

    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
