"""StartMonitorFunction: one Distributed Map item, a batch of models: start each model's Monitor run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import aws, entry
from modelwatch.config.settings import StartMonitorSettings, load_settings
from modelwatch.observability import logger, tracer
from modelwatch.workflow.fleet import FleetItem, start_model_runs


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@entry.parsed_event(FleetItem)
def lambda_handler(event: FleetItem, context: LambdaContext) -> dict[str, Any]:
    """Input {models: [...], trigger?}; output {models, statuses: {status: count}, started: [...], failed: [...]}."""
    settings = load_settings(kind=StartMonitorSettings)
    summary = start_model_runs(
        event.models,
        registry=entry.registry(settings),
        state=entry.state(settings),
        sfn_client=aws.client("stepfunctions"),
        state_machine_arn=settings.monitor_state_machine_arn,
        clock=settings.clock(),
        trigger=event.trigger,
        cloudwatch=aws.client("cloudwatch"),
        namespace=settings.metric_namespace,
    )
    logger.info("fleet batch done", models=summary["models"], statuses=summary["statuses"])
    return summary
