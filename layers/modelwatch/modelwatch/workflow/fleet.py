"""The scheduled fleet run: the registered models in batches for the Distributed Map, each batch's runs started.

Sized for a fleet of a thousand models (BENCHMARKS.md, "Fleet"): one Map item is a batch of up to FLEET_BATCH_SIZE
models, so a thousand models are 40 child executions and 40 StartMonitor invocations rather than a thousand; each
batch sends its models' heartbeats in one PutMetricData call and answers with a small summary (counts, the names
started, failures with their causes cut short), since the Map gathers every child's output into one state of at
most 256 KiB.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from modelwatch.clock import Clock, to_utc
from modelwatch.constants import DEFAULT_METRIC_NAMESPACE
from modelwatch.errors import ModelwatchError
from modelwatch.observability import logger
from modelwatch.publishing.alerting import heartbeat_datapoint, put_heartbeat
from modelwatch.publishing.metrics import Datapoint, put_datapoints
from modelwatch.registry.store import Registry
from modelwatch.state import RunState, State
from modelwatch.workflow.trigger import (
    FAILED,
    NO_DATA,
    NOT_REGISTERED,
    UP_TO_DATE,
    start_monitor_execution,
)
from modelwatch.workflow.window import plan_window

# Models per Map item. 25 keeps a batch's work (a config read, two state queries, a claim and a StartExecution per
# model: about 0.1 s each on AWS) well inside StartMonitorFunction's timeout even with throttling retries, and makes
# a thousand models 40 child executions.
FLEET_BATCH_SIZE = 25
MAX_FLEET_BATCH_SIZE = 200
# A failed model's cause in the batch summary, at most this long: a thousand failing models still fit in 256 KiB.
MAX_CAUSE_CHARS = 100
HEARTBEAT_STATUSES = (NO_DATA, UP_TO_DATE)


class FleetItem(BaseModel):
    """One Distributed Map item: a batch of models."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    models: list[str] = Field(min_length=1, max_length=MAX_FLEET_BATCH_SIZE)
    trigger: str = "schedule"


class FleetInput(BaseModel):
    """The fleet execution's input (the schedule's, or a person's)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    trigger: str = "schedule"
    batch_size: int = Field(default=FLEET_BATCH_SIZE, ge=1, le=MAX_FLEET_BATCH_SIZE)


def list_models(
    registry: Registry,
    trigger: str = "schedule",
    *,
    batch_size: int = FLEET_BATCH_SIZE,
    cloudwatch: Any = None,
    namespace: str = DEFAULT_METRIC_NAMESPACE,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """The Map's items: the registered model names (one LIST, no config read) in batches of `batch_size`. With a
    CloudWatch client, the fleet's heartbeat (the fleet-level stalled alarm counts them)."""
    if not 1 <= batch_size <= MAX_FLEET_BATCH_SIZE:
        raise ValueError(f"batch_size must be 1..{MAX_FLEET_BATCH_SIZE}, got {batch_size}")
    names = registry.names()
    if cloudwatch is not None and clock is not None:
        put_heartbeat(cloudwatch, namespace, clock.now())
    batches = [
        {"models": names[start : start + batch_size], "trigger": trigger} for start in range(0, len(names), batch_size)
    ]
    return {"batches": batches, "count": len(names)}


def start_model_run(
    model: str,
    *,
    registry: Registry,
    state: State,
    sfn_client: Any,
    state_machine_arn: str,
    clock: Clock,
    trigger: str = "schedule",
    cloudwatch: Any = None,
    namespace: str = DEFAULT_METRIC_NAMESPACE,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Start the model's Monitor run when its window's inputs changed since the last successful run.

    Unlike the ingest trigger this also re-runs for late rows in already analysed chunks, and retries a failed run
    for unchanged inputs (a bounded number of times). No rows in the window and an unchanged input version both
    return without starting anything, and (with a CloudWatch client) count as the model's heartbeat: nothing to do
    is not a stall.
    """
    now = to_utc(clock.now())
    try:
        config = registry.get(model)
    except ModelwatchError:
        return {"model": model, "status": NOT_REGISTERED}
    window = plan_window(config, state.counters.hours(model), now)
    run_state = state.runs.load(model) if not window.is_empty else None
    deferred = run_state is not None and _deferred(run_state)
    if run_state is None or (run_state.last_input_version == window.input_version and not deferred):
        if cloudwatch is not None:
            put_heartbeat(cloudwatch, namespace, now, model)
        if run_state is None:
            return {"model": model, "status": NO_DATA}
        return {"model": model, "status": UP_TO_DATE, "input_version": window.input_version}
    return start_monitor_execution(
        window,
        state=state,
        sfn_client=sfn_client,
        state_machine_arn=state_machine_arn,
        now=now,
        trigger=trigger,
        config=config,
        retry_failed=True,
        sleep=sleep,
        rerun_succeeded=deferred,
    )


def _deferred(run_state: RunState) -> bool:
    """Whether the model's last published run left chunks for the next run (a step's time ran out): a quiet model
    gets no new data to trigger one, so the scheduled run runs again for the same inputs (a bounded number of
    times, as for a failed run)."""
    data = run_state.last_run_data or {}
    return data.get("run_id") == run_state.last_run and int(data.get("chunks_deferred") or 0) > 0


def start_model_runs(
    models: list[str],
    *,
    registry: Registry,
    state: State,
    sfn_client: Any,
    state_machine_arn: str,
    clock: Clock,
    trigger: str = "schedule",
    cloudwatch: Any = None,
    namespace: str = DEFAULT_METRIC_NAMESPACE,
) -> dict[str, Any]:
    """One Map item: `start_model_run` for each model of the batch, one model's failure never another's.

    The heartbeats of the models with nothing to do go out together in one PutMetricData call (retried with
    backoff; a failure there fails the batch, since a missing heartbeat would page as a stall). The answer is a
    summary: the count per status, the models started, and each failed model with its error type and a cause cut
    to MAX_CAUSE_CHARS.
    """
    statuses: dict[str, int] = {}
    started: list[str] = []
    failed: list[dict[str, str]] = []
    heartbeats: list[Datapoint] = []
    for model in models:
        try:
            result = start_model_run(
                model,
                registry=registry,
                state=state,
                sfn_client=sfn_client,
                state_machine_arn=state_machine_arn,
                clock=clock,
                trigger=trigger,
            )
        except (ModelwatchError, ClientError, BotoCoreError) as exc:
            # Reported by name in the output (and so in the fleet execution), never dropped.
            logger.warning("fleet model failed", model=model, error=type(exc).__name__)
            failed.append({"model": model, "error": type(exc).__name__, "cause": str(exc)[:MAX_CAUSE_CHARS]})
            statuses[FAILED] = statuses.get(FAILED, 0) + 1
            continue
        status = str(result["status"])
        statuses[status] = statuses.get(status, 0) + 1
        if status in HEARTBEAT_STATUSES:
            heartbeats.append(heartbeat_datapoint(clock.now(), model))
        elif result.get("execution_arn"):
            started.append(model)
    if cloudwatch is not None and heartbeats:
        put_datapoints(cloudwatch, namespace, heartbeats)
    return {"models": len(models), "statuses": dict(sorted(statuses.items())), "started": started, "failed": failed}
