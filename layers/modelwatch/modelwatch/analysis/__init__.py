"""A run's analysis: plan (reuse), analyse each configured monitor, assemble the results table and the report.

On AWS each step is a state of the Monitor state machine (a Map over the run's monitors, then Assemble); in one
process (`run_monitor`, `run_monitor_from_lake`: tests, benchmarks, the image check) the same functions run one
after another. Stored baselines and analyses are signed: the analysis function signs with its KMS key; in-process
callers that pass no signer get the process's own random key (`signing.process_signer`), so they reuse what they
stored themselves and trust nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelwatch.analysis.assemble import RunOutcome, assemble_from_lake, assemble_run
from modelwatch.analysis.plan import ReusePlan
from modelwatch.analysis.requests import AnalyseInput, AssembleInput, RunRequest, RunSpec
from modelwatch.analysis.run import MonitorOutcome, analyse_from_lake, analyse_monitor
from modelwatch.config.model import ModelConfig
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors import configured, monitor_for
from modelwatch.signing import Signer, process_signer
from modelwatch.state import HourCounter, State

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MonitorOutcome",
    "RunOutcome",
    "RunRequest",
    "RunSpec",
    "analyse_from_lake",
    "assemble_from_lake",
    "run_analysis_step",
    "run_monitor",
    "run_monitor_from_lake",
]


def run_monitor(
    config: ModelConfig,
    reference: pd.DataFrame,
    captures: pd.DataFrame,
    labels: pd.DataFrame | None,
    request: RunRequest,
    store: ObjectStore,
    now: datetime,
    plans: dict[str, ReusePlan] | None = None,
    signer: Signer | None = None,
    version_references: Mapping[str, pd.DataFrame | None] | None = None,
) -> RunOutcome:
    """Every configured monitor on rows in memory, then the run assembled (results table, report, outcome);
    `version_references`: each live version's reference (None: it has none) while more than one is live."""
    signer = signer or process_signer()
    results = [
        analyse_monitor(
            monitor_for(name, config),
            reference,
            captures,
            labels,
            request,
            store,
            now,
            (plans or {}).get(name),
            signer=signer,
            version_references=version_references,
        )
        for name in configured(config)
    ]
    return assemble_run(config, request, results, store, now)


def run_monitor_from_lake(
    spec: RunSpec,
    store: ObjectStore,
    now: datetime,
    counters: list[HourCounter] | None = None,
    signer: Signer | None = None,
) -> RunOutcome:
    """The Monitor state machine's analysis steps in one process: each monitor from the lake, then assemble."""
    names = spec.monitors or configured(spec.model_config_or_error())
    signer = signer or process_signer()
    outcomes = [analyse_from_lake(spec, name, store, counters, now, signer=signer).to_dict() for name in names]
    return assemble_from_lake(spec, outcomes, store, now)


def run_analysis_step(
    request: AnalyseInput | AssembleInput,
    *,
    store: ObjectStore,
    state: State,
    now: datetime,
    signer: Signer,
    time_left: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """One step of the Monitor state machine's analysis: a monitor over the run's window (the hour counters read
    first: only chunks whose inputs changed since they were last analysed are read; stored baselines and analyses
    trusted only when `signer` verifies them; batches that might not finish in `time_left` seconds deferred to the
    next run), or the run assembled."""
    if isinstance(request, AnalyseInput):
        run = request.run.request()
        counters = state.counters.hours(run.model, run.window_start, run.window_end)
        outcome = analyse_from_lake(
            request.run, request.monitor, store, counters, now, signer=signer, time_left=time_left
        )
        return outcome.to_dict()
    return assemble_from_lake(request.run, request.monitors, store, now).to_dict()
