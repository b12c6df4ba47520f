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


@cache
def _lake(bucket: str) -> S3Store:
    # One client per warm container.
    return S3Store(aws.client("s3"), bucket)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {model, run_id, window_start?, window_end?, input_complete?}; output: URIs and small summaries.

    Errors are ModelwatchError subclasses (ConfigMismatchError, EmptyWindowError, ReferenceDataError, ...) so the
    state machine can Catch them by name.
    """
    settings: Settings = load_settings()  # per invocation: the local stack moves MODELWATCH_CLOCK between runs
    request = parse_estimate_input(event)
    logger.append_keys(model=request.model, run_id=request.run_id)
    outcome = run_monitor_from_lake(settings, _lake(settings.lake_bucket), request, settings.clock())
    return outcome.to_dict()
