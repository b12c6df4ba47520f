"""RecordFailureFunction: remember a failed run's named error, count it, and notify once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.config.settings import load_settings
from modelwatch.observability import logger, tracer
from modelwatch.publishing.clients import aws_clients
from modelwatch.publishing.failure import parse_failure_input, record_failure_event


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {model, run_id, error: {Error, Cause}} from the state machine's Catch; output: what was recorded."""
    settings = load_settings()
    request = parse_failure_input(event)
    logger.append_keys(model=request.model, run_id=request.run_id)
    record = record_failure_event(event, settings, aws_clients(), settings.clock())
    return record.to_dict()
