"""CompactFunction: merge a day's small lake files per partition ({"days_ago": 1} or {"model": m, "dt": d})."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch import entry
from modelwatch.config.settings import FunctionSettings, load_settings
from modelwatch.lake.compaction import CompactRequest, run_compaction
from modelwatch.observability import logger, metrics, tracer


@tracer.capture_lambda_handler
@logger.inject_lambda_context(log_event=True)
@metrics.log_metrics
@entry.parsed_event(CompactRequest)
def lambda_handler(event: CompactRequest, context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(kind=FunctionSettings)
    registry = entry.registry(settings)
    return run_compaction(
        event,
        store=entry.lake(settings),
        models=registry.names(),
        lease=entry.state(settings).leases,
        clock=settings.clock(),
    )
