"""EstimateFunction: one model's monitor run for the Monitor state machine (nannyml CBPE/DLE, realized, report)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws
from modelwatch.config.settings import Settings, load_settings
from modelwatch.estimation.service import parse_estimate_input, run_monitor_from_lake
from modelwatch.lake.store import S3Store
from modelwatch.observability import logger, tracer
from modelwatch.state import State


@cache
def _stores(bucket: str, table: str) -> tuple[S3Store, State]:
    # One set of clients per warm container.
    return S3Store(aws.client("s3"), bucket), State(aws.client("dynamodb"), table)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {model, run_id, window_start?, window_end?, input_complete?}; output: URIs and small summaries.

    Only chunks whose hour counters changed since they were last analysed are read and estimated.

    Errors are ModelwatchError subclasses (ConfigMismatchError, EmptyWindowError, ReferenceDataError, ...) so the
    state machine can Catch them by name.
    """
    settings: Settings = load_settings()  # per invocation: the local stack moves MODELWATCH_CLOCK between runs
    request = parse_estimate_input(event)
    logger.append_keys(model=request.model, run_id=request.run_id)
    lake, state = _stores(settings.lake_bucket, settings.state_table)
    # The hour counters first, then the lake: unchanged chunks keep their stored results (estimation.reuse).
    counters = state.counters.hours(request.model, request.window_start, request.window_end)
    outcome = run_monitor_from_lake(settings, lake, request, settings.clock(), counters)
    return outcome.to_dict()
