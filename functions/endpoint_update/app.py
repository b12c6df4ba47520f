"""EndpointUpdateFunction: SQS batch of SageMaker "Endpoint State Change" events (via EventBridge) -> a model's
pending version live at the endpoint's update."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import entry
from modelwatch.config.settings import FunctionSettings, load_settings
from modelwatch.observability import logger, tracer
from modelwatch.workflow.versions import EndpointChangeMessage, activate_pending_versions

# A message that fails is reported back (SQS retries it, then its DLQ keeps it), even when the whole batch fails.
processor = BatchProcessor(event_type=EventType.SQS, model=EndpointChangeMessage, raise_on_entire_batch_failure=False)


@tracer.capture_lambda_handler
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    registry = entry.registry(load_settings(kind=FunctionSettings))

    def record_handler(record: EndpointChangeMessage) -> list[dict[str, str]]:
        return activate_pending_versions(registry, record.body)

    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
