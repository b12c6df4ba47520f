"""PrepareRun: load and check a model's config, decide the run's window, method and input version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ProblemType, validation_summary
from modelwatch.errors import ConfigError, EmptyWindowError, ReferenceDataError
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch.workflow.window import DEFAULT_LOOKBACK, iso, plan_window

METHODS = {
    ProblemType.BINARY: "CBPE",
    ProblemType.MULTICLASS: "CBPE",
    ProblemType.REGRESSION: "DLE",
}


class RunInput(BaseModel):
    """The Monitor execution's input (from a trigger, the fleet run, `modelwatch run` or a person)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1)
    window_start: datetime | None = None
    window_end: datetime | None = None
    input_complete: bool = False
    input_version: str | None = None
    trigger: str = "manual"


class PrepareInput(BaseModel):
    """PrepareRun's payload: the execution input and the execution name (the run id)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    input: RunInput
    run_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-]+$")


def parse_prepare_input(event: dict[str, Any]) -> PrepareInput:
    try:
        return PrepareInput.model_validate(event)
    except ValidationError as exc:
        fields = validation_summary(exc)
        raise ConfigError(f"monitor run input is invalid: {fields}") from exc


def prepare_run(request: PrepareInput, *, registry: Registry, state: State, clock: Clock) -> dict[str, Any]:
    """Everything the rest of the workflow needs, small: model, run id, method, window, label availability.

    Raises RegistryError (not registered), ReferenceDataError (no reference) or EmptyWindowError (no complete chunk
    with rows in the window), which the state machine records and notifies by name.
    """
    run = request.input
    config = registry.get(run.model)
    if not config.reference:
        raise ReferenceDataError(f"model {config.name}: no reference data registered (register it with --reference)")
    now = to_utc(clock.now())
    window = plan_window(
        config,
        state.counters.hours(config.name),
        now,
        input_complete=run.input_complete,
        lookback=None if run.input_complete else DEFAULT_LOOKBACK,
        window_start=run.window_start,
        window_end=run.window_end,
    )
    if window.is_empty:
        raise EmptyWindowError(
            f"model {config.name}: no complete chunk with captured rows in window "
            f"[{iso(window.window_start) or 'start'}, {iso(window.window_end) or 'end'}) at {iso(now)}"
        )
    return {
        "model": config.name,
        "run_id": request.run_id,
        "problem_type": config.problem_type.value,
        "method": METHODS[config.problem_type],
        "window_start": iso(window.window_start),
        "window_end": iso(window.window_end),
        "last_chunk_end": iso(window.last_chunk_end) or "",
        "input_complete": window.input_complete,
        # The version the run was started for when given (it names the execution), else the one planned now.
        "input_version": run.input_version or window.input_version,
        "has_labels": window.labels > 0,
        "rows": window.rows,
        "labels": window.labels,
        "chunks": window.sealed_chunks,
        "trigger": run.trigger,
    }
