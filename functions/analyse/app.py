"""AnalyseFunction: one step of a monitor run's analysis (a monitor over the window, or the run assembled)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import entry
from modelwatch.analysis import run_analysis_step
from modelwatch.analysis.requests import AnalyseInput, AnalysisRequest, AssembleInput
from modelwatch.config.settings import AnalyseSettings, load_settings
from modelwatch.observability import logger, tracer


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@entry.parsed_event(AnalysisRequest)
def lambda_handler(event: AnalyseInput | AssembleInput, context: LambdaContext) -> dict[str, Any]:
    """Input {action: "analyse", monitor, run} or {action: "assemble", run, monitors}; output: small summaries.

    Errors are ModelwatchError subclasses (ConfigMismatchError, EmptyWindowError, ReferenceDataError, ...) so the
    state machine can Catch them by name.
    """
    settings = load_settings(kind=AnalyseSettings)  # per invocation: the local stack moves MODELWATCH_CLOCK
    logger.append_keys(model=event.run.model, run_id=event.run.run_id, step=event.action)
    return run_analysis_step(
        event,
        store=entry.lake(settings),
        state=entry.state(settings),
        now=settings.clock().now(),
        signer=entry.signer(settings),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
