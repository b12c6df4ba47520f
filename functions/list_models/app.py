"""ListModelsFunction: the registered models, as the Fleet state machine's Distributed Map items."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws
from modelwatch.config.settings import Settings, load_settings
from modelwatch.lake.store import S3Store
from modelwatch.observability import logger, tracer
from modelwatch.registry.store import Registry
from modelwatch.workflow.fleet import list_models


@cache
def _registry(bucket: str) -> Registry:
    return Registry(S3Store(aws.client("s3"), bucket), cache_seconds=0)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input: the fleet execution input ({trigger?}); output {models: [{model, trigger}], count}."""
    settings: Settings = load_settings()
    trigger = str(event.get("trigger") or "schedule") if isinstance(event, dict) else "schedule"
    listed = list_models(_registry(settings.lake_bucket), trigger=trigger)
    logger.info("models listed", count=listed["count"], trigger=trigger)
    return listed
