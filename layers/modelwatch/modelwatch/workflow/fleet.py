"""The scheduled fleet run: list the registered models for the Distributed Map, start one model's Monitor run."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.clock import Clock, to_utc
from modelwatch.constants import DEFAULT_METRIC_NAMESPACE
from modelwatch.errors import ModelwatchError
from modelwatch.publishing.alerting import put_heartbeat
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch.workflow.trigger import (
    NO_DATA,
    NOT_REGISTERED,
    UP_TO_DATE,
    start_monitor_execution,
)
from modelwatch.workflow.window import plan_window


class FleetItem(BaseModel):
    """One Distributed Map item."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1)
    trigger: str = "schedule"


class FleetInput(BaseModel):
    """The fleet execution's input (the schedule's, or a person's)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    trigger: str = "schedule"


def list_models(
    registry: Registry,
    trigger: str = "schedule",
    *,
    cloudwatch: Any = None,
    namespace: str = DEFAULT_METRIC_NAMESPACE,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """The Map's items: one small object per registered model (names only; each run loads its own config). With
    a CloudWatch client, the fleet's heartbeat (the fleet-level stalled alarm counts them)."""
    names = registry.names()
    if cloudwatch is not None and clock is not None:
        put_heartbeat(cloudwatch, namespace, clock.now())
    return {"models": [{"model": name, "trigger": trigger} for name in names], "count": len(names)}


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
    if run_state is None or run_state.last_input_version == window.input_version:
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
    )
