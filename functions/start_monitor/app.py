"""StartMonitorFunction: one Distributed Map item: start the model's Monitor run under its deterministic name."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws
from modelwatch.config.settings import Settings, load_settings
from modelwatch.errors import ConfigError
from modelwatch.lake.store import S3Store
from modelwatch.observability import logger, tracer
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch.workflow.fleet import parse_fleet_item, start_model_run


@cache
def _clients(bucket: str, table: str) -> tuple[Registry, State, Any]:
    registry = Registry(S3Store(aws.client("s3"), bucket), cache_seconds=0)
    return registry, State(aws.client("dynamodb"), table), aws.client("stepfunctions")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {model, trigger?}; output {model, status, execution_name?, input_version?}."""
    settings: Settings = load_settings()
    if not settings.monitor_state_machine_arn:
        raise ConfigError("function environment is invalid: MONITOR_STATE_MACHINE_ARN is not set")
    item = parse_fleet_item(event)
    logger.append_keys(model=item.model)
    registry, state, sfn = _clients(settings.lake_bucket, settings.state_table)
    result = start_model_run(
        item.model,
        registry=registry,
        state=state,
        sfn_client=sfn,
        state_machine_arn=settings.monitor_state_machine_arn,
        clock=settings.clock(),
        trigger=item.trigger,
    )
    logger.info("fleet item done", status=result["status"])
    return result
