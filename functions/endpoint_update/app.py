"""EndpointUpdateFunction: SQS batch of SageMaker "Endpoint State Change" events (via EventBridge) -> pending model
versions live, and the alarms of variants a model watching every variant now sees."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws, entry
from modelwatch.config.settings import EndpointEventSettings, load_settings
from modelwatch.observability import logger, tracer
from modelwatch.workflow.endpoint_events import (
    EndpointBatchProcessor,
    EndpointChangeMessage,
    EndpointEventContext,
    on_endpoint_in_service,
)

processor = EndpointBatchProcessor()


@tracer.capture_lambda_handler
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(kind=EndpointEventSettings)
    ctx = EndpointEventContext.from_settings(settings, entry.registry(settings), aws.client("cloudwatch"))

    def record_handler(record: EndpointChangeMessage) -> dict[str, Any]:
        return on_endpoint_in_service(record.body, ctx)

    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
