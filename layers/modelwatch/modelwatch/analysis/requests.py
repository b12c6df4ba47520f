"""What the Monitor state machine hands the analysis steps: the run's plan and model config, validated once here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig, validation_summary
from modelwatch.errors import ConfigError

RUN_ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"


@dataclass
class RunRequest:
    """One run of one model; the window bounds chunk starts, None meaning unbounded."""

    model: str
    run_id: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    input_complete: bool = False  # `modelwatch run`: the end of the input completes the last chunk


class RunSpec(BaseModel):
    """The run as PrepareRun planned it: window, input version, monitors and the model config (carried, so every
    step of the run uses the config the run was planned with and none loads it again)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1)
    run_id: str = Field(min_length=1, max_length=200, pattern=RUN_ID_PATTERN)
    window_start: datetime | None = None
    window_end: datetime | None = None
    input_complete: bool = False
    input_version: str | None = None
    last_chunk_end: str | None = None
    monitors: list[str] = Field(default_factory=list)
    config: ModelConfig | None = None

    def request(self) -> RunRequest:
        return RunRequest(
            model=self.model,
            run_id=self.run_id,
            window_start=to_utc(self.window_start) if self.window_start else None,
            window_end=to_utc(self.window_end) if self.window_end else None,
            input_complete=self.input_complete,
        )

    def model_config_or_error(self) -> ModelConfig:
        """The carried config; ConfigError when the run carries none or another model's."""
        if self.config is None:
            raise ConfigError(f"run {self.run_id}: the run input carries no model config for {self.model!r}")
        if self.config.name != self.model:
            raise ConfigError(f"run {self.run_id}: the carried config is for {self.config.name!r}, not {self.model!r}")
        return self.config


class AnalyseInput(BaseModel):
    """One monitor's step of a run (an item of the state machine's Map over the run's monitors)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: Literal["analyse"] = "analyse"
    monitor: str = Field(min_length=1)
    run: RunSpec


class AssembleInput(BaseModel):
    """The run's last analysis step: the monitors' outcomes, to merge into one results table and one report."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: Literal["assemble"]
    run: RunSpec
    monitors: list[dict[str, Any]] = Field(default_factory=list)


AnalysisRequest = Annotated[AnalyseInput | AssembleInput, Field(discriminator="action")]


class _Envelope(BaseModel):
    request: AnalysisRequest


def parse_analysis_request(event: Any) -> AnalyseInput | AssembleInput:
    """Validate the state machine's input to the analysis function; ConfigError naming the fields otherwise."""
    try:
        return _Envelope.model_validate({"request": event}).request
    except ValidationError as exc:
        raise ConfigError(f"analysis input is invalid: {validation_summary(exc)}") from exc
