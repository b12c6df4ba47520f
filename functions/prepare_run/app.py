"""PrepareRunFunction: the Monitor state machine's first step (config, window, method, input version)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws
from modelwatch.config.settings import Settings, load_settings
from modelwatch.lake.store import S3Store
from modelwatch.observability import logger, tracer
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch.workflow.prepare import parse_prepare_input, prepare_run


@cache
def _stores(bucket: str, table: str) -> tuple[Registry, State]:
    # One set of clients per warm container.
    return Registry(S3Store(aws.client("s3"), bucket)), State(aws.client("dynamodb"), table)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {input: <execution input>, run_id}; output {model, run_id, method, window_start, window_end, ...}."""
    settings: Settings = load_settings()  # per invocation: the local stack moves MODELWATCH_CLOCK between runs
    request = parse_prepare_input(event)
    logger.append_keys(model=request.input.model, run_id=request.run_id)
    registry, state = _stores(settings.lake_bucket, settings.state_table)
    prepared = prepare_run(request, registry=registry, state=state, clock=settings.clock())
    logger.info("run prepared", monitors=prepared["monitors"], chunks=prepared["chunks"], labels=prepared["labels"])
    return prepared
