"""AnalyseFunction: one step of a monitor run's analysis (a monitor over the window, or the run assembled)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws
from modelwatch.analysis import run_analysis_step
from modelwatch.analysis.requests import parse_analysis_request
from modelwatch.config.settings import Settings, load_settings
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
    """Input {action: "analyse", monitor, run} or {action: "assemble", run, monitors}; output: small summaries.

    Errors are ModelwatchError subclasses (ConfigMismatchError, EmptyWindowError, ReferenceDataError, ...) so the
    state machine can Catch them by name.
    """
    settings: Settings = load_settings()  # per invocation: the local stack moves MODELWATCH_CLOCK between runs
    request = parse_analysis_request(event)
    logger.append_keys(model=request.run.model, run_id=request.run.run_id, step=request.action)
    lake, state = _stores(settings.lake_bucket, settings.state_table)
    return run_analysis_step(request, store=lake, state=state, now=settings.clock().now())
