"""PrepareRunFunction: the Monitor state machine's first step (the run's plan, its monitors and the model config)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import entry
from modelwatch.config.settings import FunctionSettings, load_settings
from modelwatch.observability import logger, tracer
from modelwatch.workflow.prepare import PrepareInput, prepare_run


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@entry.parsed_event(PrepareInput)
def lambda_handler(event: PrepareInput, context: LambdaContext) -> dict[str, Any]:
    """Input {input: <execution input>, run_id}; output the run's spec (model, run_id, window, monitors, config)."""
    settings = load_settings(kind=FunctionSettings)  # per invocation: the local stack moves MODELWATCH_CLOCK
    logger.append_keys(model=event.input.model, run_id=event.run_id)
    prepared = prepare_run(
        event, registry=entry.registry(settings), state=entry.state(settings), clock=settings.clock()
    )
    logger.info("run prepared", monitors=prepared["monitors"], chunks=prepared["chunks"], labels=prepared["labels"])
    return prepared
