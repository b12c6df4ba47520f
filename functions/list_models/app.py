"""ListModelsFunction: the registered models in batches, the Fleet state machine's Distributed Map items."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws, entry
from modelwatch.config.settings import FunctionSettings, load_settings
from modelwatch.observability import logger, tracer
from modelwatch.workflow.fleet import FleetInput, list_models


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@entry.parsed_event(FleetInput)
def lambda_handler(event: FleetInput, context: LambdaContext) -> dict[str, Any]:
    """Input: the fleet execution input ({trigger?, batch_size?}); output {batches: [{models, trigger}], count}."""
    settings = load_settings(kind=FunctionSettings)
    listed = list_models(
        entry.registry(settings),
        trigger=event.trigger,
        batch_size=event.batch_size,
        cloudwatch=aws.client("cloudwatch"),
        namespace=settings.metric_namespace,
        clock=settings.clock(),
    )
    logger.info("models listed", count=listed["count"], batches=len(listed["batches"]), trigger=event.trigger)
    return listed
