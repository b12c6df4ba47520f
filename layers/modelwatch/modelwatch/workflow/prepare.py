"""PrepareRun: the Monitor execution's plan (window, input version, monitors) and model config, made once.

A run started by a trigger or the fleet carries both (the starter planned the window from the hour counters and
had the config at hand), so PrepareRun only checks them; a run started by a person with just `{model}` is planned
here. Every later step of the run reads the plan and config from the execution's state, never from the lake.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.analysis.requests import RUN_ID_PATTERN
from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ModelConfig, validation_summary
from modelwatch.errors import ConfigError, EmptyWindowError, ReferenceDataError
from modelwatch.monitors import configured
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch.workflow.window import DEFAULT_LOOKBACK, iso, plan_window


class RunInput(BaseModel):
    """The Monitor execution's input (from a trigger, the fleet run, `modelwatch run` or a person)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1)
    window_start: datetime | None = None
    window_end: datetime | None = None
    input_complete: bool = False
    input_version: str | None = None
    last_chunk_end: str | None = None
    rows: int | None = None
    labels: int | None = None
    chunks: int | None = None
    trigger: str = "manual"
    config: ModelConfig | None = None

    @property
    def planned(self) -> bool:
        """The starter planned the window: its version and last chunk end came with it."""
        return bool(self.input_version and self.last_chunk_end)


class PrepareInput(BaseModel):
    """PrepareRun's payload: the execution input and the execution name (the run id)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    input: RunInput
    run_id: str = Field(min_length=1, max_length=80, pattern=RUN_ID_PATTERN)


def parse_prepare_input(event: dict[str, Any]) -> PrepareInput:
    try:
        return PrepareInput.model_validate(event)
    except ValidationError as exc:
        fields = validation_summary(exc)
        raise ConfigError(f"monitor run input is invalid: {fields}") from exc


def prepare_run(request: PrepareInput, *, registry: Registry, state: State, clock: Clock) -> dict[str, Any]:
    """The run's spec (`analysis.RunSpec`'s fields, plus counts for people): model, run id, window, input version,
    the monitors to run and the model config.

    Raises RegistryError (not registered), ConfigError (a carried config for another model), ReferenceDataError (no
    reference) or EmptyWindowError (no complete chunk with rows in a window planned here), which the state machine
    records and notifies by name.
    """
    run = request.input
    config = run.config if run.config is not None else registry.get(run.model)
    if config.name != run.model:
        raise ConfigError(f"run {request.run_id}: the input carries the config of {config.name!r}, not {run.model!r}")
    if not config.reference:
        raise ReferenceDataError(f"model {config.name}: no reference data registered (register it with --reference)")
    spec: dict[str, Any] = {
        "model": config.name,
        "run_id": request.run_id,
        "problem_type": config.problem_type.value,
        "monitors": configured(config),
        "trigger": run.trigger,
        "config": config.model_dump(mode="json"),
    }
    if run.planned:
        return {
            **spec,
            "window_start": iso(run.window_start),
            "window_end": iso(run.window_end),
            "last_chunk_end": run.last_chunk_end,
            "input_complete": run.input_complete,
            "input_version": run.input_version,
            "has_labels": bool(run.labels),
            "rows": run.rows,
            "labels": run.labels,
            "chunks": run.chunks,
        }
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
        **spec,
        "window_start": iso(window.window_start),
        "window_end": iso(window.window_end),
        "last_chunk_end": iso(window.last_chunk_end) or "",
        "input_complete": window.input_complete,
        "input_version": run.input_version or window.input_version,
        "has_labels": window.labels > 0,
        "rows": window.rows,
        "labels": window.labels,
        "chunks": window.sealed_chunks,
    }
