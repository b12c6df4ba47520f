"""CompactFunction: merge a day's small lake files per partition ({"days_ago": 1} or {"model": m, "dt": d})."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.config.settings import load_settings
from modelwatch.ingest.context import IngestContext
from modelwatch.lake.compaction import CompactRequest, run_compaction
from modelwatch.observability import logger, metrics, tracer


@tracer.capture_lambda_handler
@logger.inject_lambda_context(log_event=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CompactRequest.model_validate(event)
    lake = IngestContext.from_settings(load_settings())
    return run_compaction(
        request, store=lake.store, models=lake.registry.names(), lease=lake.state.leases, clock=lake.clock
    )
