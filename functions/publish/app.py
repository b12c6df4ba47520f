"""PublishFunction: a run's new datapoints (once, via the ledger), incidents and alarm state; or a fire drill."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import entry
from modelwatch.config.settings import PublishSettings, load_settings
from modelwatch.observability import logger, tracer
from modelwatch.publishing.clients import aws_clients
from modelwatch.publishing.service import PublishInput, publish_requested_run


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@entry.parsed_event(PublishInput)
def lambda_handler(event: PublishInput, context: LambdaContext) -> dict[str, Any]:
    """Input {outcome: RunOutcome, config?, execution_start?} (or the RunOutcome itself), or {drill: {model,
    drill_id, phase}}; output: the PublishSummary (or the drill's summary).

    Publishing failures raise PublishError after retries, so the execution fails visibly.
    """
    settings = load_settings(kind=PublishSettings)  # per invocation: the local stack moves MODELWATCH_CLOCK
    logger.append_keys(model=event.model, run_id=event.outcome.run_id if event.outcome else "drill")
    return publish_requested_run(event, settings, aws_clients(), settings.clock())
