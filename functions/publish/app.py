"""PublishFunction: a run's new datapoints to CloudWatch (once, via the ledger) and one notification if degraded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.config.settings import load_settings
from modelwatch.observability import logger, tracer
from modelwatch.publishing.clients import aws_clients
from modelwatch.publishing.service import parse_publish_input, publish_registered_run


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {outcome: RunOutcome, execution_start?} (or the RunOutcome itself); output: the PublishSummary.

    Publishing failures raise PublishError after retries, so the execution fails visibly.
    """
    settings = load_settings()  # per invocation: the local stack moves MODELWATCH_CLOCK between runs
    request = parse_publish_input(event)
    logger.append_keys(model=request.outcome.model, run_id=request.outcome.run_id)
    summary = publish_registered_run(event, settings, aws_clients(), settings.clock())
    return summary.to_dict()
