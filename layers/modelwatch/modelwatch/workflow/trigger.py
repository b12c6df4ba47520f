"""Debounced run triggers: ingestion calls this last; a burst of files starts one Monitor execution, not hundreds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from modelwatch.clock import Clock, parse_iso, to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.errors import ModelwatchError, WorkflowError
from modelwatch.observability import logger
from modelwatch.registry.store import Registry
from modelwatch.retry import call_with_retries
from modelwatch.state import RunState, State
from modelwatch.workflow.window import RunWindow, iso, plan_window

# Label files arrive in bursts too: at most one label-triggered run per model per this interval; later labels in
# the interval are picked up by the next run (the run reads the lake when it executes) or the scheduled run.
LABEL_DEBOUNCE = timedelta(minutes=5)
CLAIM_TTL = timedelta(days=30)

STARTED = "started"
ALREADY_CLAIMED = "already_claimed"
ALREADY_EXISTS = "already_exists"
NOT_READY = "not_ready"
UP_TO_DATE = "up_to_date"
NO_DATA = "no_data"
DEBOUNCED = "debounced"
NOT_REGISTERED = "not_registered"
FAILED = "failed"
GAVE_UP = "gave_up"  # the run for these inputs failed MAX_ATTEMPTS times; new data or labels start a new one
MAX_ATTEMPTS = 3
# Step Functions state stops at 256 KB; a config this size still leaves room for everything a run carries.
MAX_CARRIED_CONFIG_BYTES = 64 * 1024
CLOSED_UNSUCCESSFULLY = ("FAILED", "TIMED_OUT", "ABORTED")
# Attempts of one StartExecution when throttled (after the client's own retries): 0.5, 1, 2, 4, 8, 10 s with jitter.
START_EXECUTION_ATTEMPTS = 7


def _after(candidate: datetime | None, *previous: str | None) -> bool:
    """True when `candidate` is later than every known previous chunk end."""
    if candidate is None:
        return False
    known = [parse_iso(p) for p in previous if p]
    return not known or to_utc(candidate) > max(known)


def ready_reason(window: RunWindow, run_state: RunState, size_chunks: bool) -> str | None:
    """Why new data warrants a run now: a newly completed chunk, or new labels for the window's chunks."""
    if window.is_empty:
        return None
    if size_chunks:
        if window.sealed_chunks > run_state.last_triggered_sealed:
            return "new_chunk"
    elif _after(window.last_chunk_end, run_state.last_triggered_end, run_state.last_analysed_chunk):
        return "new_chunk"
    if window.labels and window.label_digest != run_state.last_triggered_labels:
        return "labels"
    return None


def execution_input(window: RunWindow, trigger: str, config: ModelConfig | None) -> str:
    """The Monitor execution's input: the planned window and, so no step loads it again, the model config (left
    out above MAX_CARRIED_CONFIG_BYTES, then PrepareRun loads it)."""
    payload: dict[str, Any] = {**window.to_payload(), "trigger": trigger}
    if config is not None:
        carried = config.model_dump(mode="json")
        if len(json.dumps(carried)) <= MAX_CARRIED_CONFIG_BYTES:
            payload["config"] = carried
    return json.dumps(payload)


def _claim_attrs(now: datetime, **extra: Any) -> dict[str, Any]:
    return {"claimed_at": iso(now), "expires_at": int((now + CLAIM_TTL).timestamp()), **extra}


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def _closed_unsuccessfully(
    sfn_client: Any, state_machine_arn: str, name: str, statuses: tuple[str, ...] = CLOSED_UNSUCCESSFULLY
) -> bool:
    """True when the named execution exists and failed, timed out or was aborted (closed with one of `statuses`).

    Only `ExecutionDoesNotExist` means "not started (yet)": another caller holds the claim. Any other error (an
    `AccessDenied` from a role without `states:DescribeExecution`, throttling past the SDK's retries) is raised, so a
    missing permission shows as a failed trigger rather than as a run that is silently never retried.
    """
    try:
        described = sfn_client.describe_execution(executionArn=_execution_arn(state_machine_arn, name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return False
        raise WorkflowError(f"cannot read the state of execution {name}: {exc}") from exc
    return described.get("status") in statuses


def _start_execution(
    sfn_client: Any, state_machine_arn: str, name: str, payload: str, sleep: Callable[[float], None]
) -> Any:
    """StartExecution, retried with jittered exponential backoff when throttled (StartExecution is a token bucket
    per account and Region, shared by every state machine: a fleet run starting a thousand models drains it).
    Any failure, `ExecutionAlreadyExists` included, is a WorkflowError whose cause is the ClientError."""
    return call_with_retries(
        lambda: sfn_client.start_execution(stateMachineArn=state_machine_arn, name=name, input=payload),
        f"StartExecution {name}",
        attempts=START_EXECUTION_ATTEMPTS,
        sleep=sleep,
        error=WorkflowError,
    )


def start_monitor_execution(
    window: RunWindow,
    *,
    state: State,
    sfn_client: Any,
    state_machine_arn: str,
    now: datetime,
    trigger: str,
    config: ModelConfig | None = None,
    retry_failed: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    rerun_succeeded: bool = False,
) -> dict[str, Any]:
    """Claim (model, window, input version) in the state table, then StartExecution under the deterministic name.

    A lost claim or `ExecutionAlreadyExists` both mean the run for these inputs is already under way or done. With
    `retry_failed` (the scheduled run), a run for unchanged inputs that failed is retried under `-r<n>` names, at
    most MAX_ATTEMPTS times in all, so a transient failure does not stall a model until new data arrives. With
    `rerun_succeeded` too (its last run deferred chunks to the next run), a run that succeeded counts as closed as
    well: the next attempt analyses what it deferred; a run still under way never gets a second one beside it.
    """
    result: dict[str, Any] = {"model": window.model, "input_version": window.input_version, "trigger": trigger}
    closed = CLOSED_UNSUCCESSFULLY + (("SUCCEEDED",) if rerun_succeeded else ())
    payload = execution_input(window, trigger, config)
    for attempt in range(MAX_ATTEMPTS if retry_failed else 1):
        name = window.execution_name(attempt)
        result["execution_name"] = name
        if not state.leases.claim_run(window.model, name, _claim_attrs(now, trigger=trigger)):
            if retry_failed and _closed_unsuccessfully(sfn_client, state_machine_arn, name, closed):
                continue
            return {**result, "status": ALREADY_CLAIMED}
        try:
            response = _start_execution(sfn_client, state_machine_arn, name, payload, sleep)
        except WorkflowError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, ClientError)
                and cause.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists"
            ):
                if retry_failed and _closed_unsuccessfully(sfn_client, state_machine_arn, name, closed):
                    continue
                return {**result, "status": ALREADY_EXISTS}
            # Nothing started: free the claim so the next trigger can try again.
            state.leases.release_run(window.model, name)
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
            raise WorkflowError(
                f"model {window.model}: {code or 'error'}: cannot start execution {name}: {exc}"
            ) from exc
        logger.info("monitor run started", model=window.model, execution=name, trigger=trigger, attempt=attempt)
        return {**result, "status": STARTED, "execution_arn": response["executionArn"]}
    logger.warning("monitor run failed every attempt", model=window.model, attempts=MAX_ATTEMPTS)
    return {**result, "status": GAVE_UP}


def _trigger_model(
    config: ModelConfig, *, state: State, sfn_client: Any, state_machine_arn: str, now: datetime
) -> dict[str, Any]:
    window = plan_window(config, state.counters.hours(config.name), now)
    run_state = state.runs.load(config.name)
    reason = ready_reason(window, run_state, size_chunks=config.chunking.period_delta is None)
    if reason is None:
        return {"model": config.name, "status": NOT_READY, "input_version": window.input_version}
    if reason == "labels" and not state.leases.debounce_labels(config.name, now, now + LABEL_DEBOUNCE):
        return {"model": config.name, "status": DEBOUNCED, "input_version": window.input_version}
    result = start_monitor_execution(
        window,
        state=state,
        sfn_client=sfn_client,
        state_machine_arn=state_machine_arn,
        now=now,
        trigger=reason,
        config=config,
    )
    if result["status"] in (STARTED, ALREADY_CLAIMED, ALREADY_EXISTS):
        # Handled (by this call or an earlier one): the rest of the burst need not try again.
        state.runs.record_trigger(
            config.name,
            execution_name=result["execution_name"],
            last_chunk_end=window.last_chunk_end,
            label_digest=window.label_digest,
            sealed_chunks=window.sealed_chunks,
            now=now,
        )
    return result


def trigger_ready_runs(
    models: list[str],
    *,
    state: State,
    registry: Registry,
    sfn_client: Any,
    state_machine_arn: str,
    clock: Clock,
) -> list[dict[str, Any]]:
    """Start a Monitor execution for each model with a newly completed chunk or new labels; one result per model.

    Called by ingestion after its data and counters are written. Failures are per model (logged and reported as
    `failed`) so one model's trouble never fails another model's ingestion.
    """
    now = to_utc(clock.now())
    results = []
    for model in sorted(set(models)):
        try:
            config = registry.get(model)
        except ModelwatchError:
            results.append({"model": model, "status": NOT_REGISTERED})
            continue
        try:
            results.append(
                _trigger_model(config, state=state, sfn_client=sfn_client, state_machine_arn=state_machine_arn, now=now)
            )
        except ModelwatchError as exc:
            logger.warning("run trigger failed", model=model, error=type(exc).__name__, reason=str(exc))
            results.append({"model": model, "status": FAILED, "error": type(exc).__name__, "cause": str(exc)})
    return results
