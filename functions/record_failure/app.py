"""RecordFailureFunction: remember a failed run's named error, count it, and notify once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import entry
from modelwatch.config.settings import PublishSettings, load_settings
from modelwatch.observability import logger, tracer
from modelwatch.publishing.clients import aws_clients
from modelwatch.publishing.failure import FailureInput, record_failure_event


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@entry.parsed_event(FailureInput)
def lambda_handler(event: FailureInput, context: LambdaContext) -> dict[str, Any]:
    """Input {model, run_id, error: {Error, Cause}} from the state machine's Catch; output: what was recorded."""
    settings = load_settings(kind=PublishSettings)
    logger.append_keys(model=event.model, run_id=event.run_id)
    return record_failure_event(event, settings, aws_clients(), settings.clock()).to_dict()
