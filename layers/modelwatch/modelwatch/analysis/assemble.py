"""The run's last analysis step: every monitor's rows in one results table, the run's outcome and its report.

A monitor whose step failed (the state machine catches it per monitor) leaves the others' results standing: the run
is assembled from the monitors that analysed, the failure named in the outcome (`failed_monitors`, notified by
publishing). Only when every monitor failed is the run a failure (`run_failure`: the first error, by name).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelwatch.analysis.report import relative_to_report, render_report, shared_plotly
from modelwatch.analysis.requests import RunRequest, RunSpec
from modelwatch.analysis.run import MonitorResult, iso
from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED
from modelwatch.errors import LakeError, safe_cause
from modelwatch.lake.layout import report_key, results_key
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors import monitor_for
from modelwatch.monitors.performance import MONITOR as PERFORMANCE
from modelwatch.monitors.results import ResultRow, conform, empty_table, from_parquet, read_results, to_parquet
from modelwatch.monitors.segments import who_is_hurt
from modelwatch.monitors.variants import Comparison, compare_variants, latest_results
from modelwatch.observability import logger
from modelwatch.registry.store import Registry
from modelwatch.units import split_unit, unit_name

if TYPE_CHECKING:
    import pandas as pd

MAX_ALERTS_IN_OUTCOME = 200  # the full list is in results.parquet; Step Functions payloads stop at 256 KB
MAX_OUTCOME_BYTES = 128 * 1024  # leaves room for the rest of the execution's state
_PER_CHUNK_LISTS = ("chunks_skipped", "label_coverage", "drift", "alerts", "realized_skipped")


@dataclass
class RunOutcome:
    """What a run produced: lake URIs and small summaries (JSON-able via to_dict)."""

    model: str
    run_id: str
    problem_type: str
    results_uri: str | None
    report_uri: str | None
    chunks_analysed: int
    chunks_reused: int = 0  # of chunks_analysed: unchanged since an earlier run, results taken from it
    chunks_skipped: list[dict[str, Any]] = field(default_factory=list)  # start, end, rows, reason
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alerts_total: int = 0
    label_coverage: list[dict[str, Any]] = field(default_factory=list)  # per analysed chunk
    top_drifting_features: list[str] = field(default_factory=list)
    top_features: list[str] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)  # per chunk: features_in_drift_alert, missing_rate
    labels: dict[str, Any] = field(default_factory=dict)
    rows_without_prediction: int = 0
    estimator_cache: str = "fit"  # the performance baseline: "hit", "fit", or "unused" (every chunk reused)
    metrics: list[str] = field(default_factory=list)
    monitors: dict[str, dict[str, Any]] = field(default_factory=dict)  # per monitor: chunks, baseline, summary
    realized_skipped: list[dict[str, Any]] = field(default_factory=list)  # start, end, rows, reason: estimated only
    rows_superseded: int = 0  # rows read that an overwritten object's newer version replaced
    rows_duplicate: int = 0  # rows read that repeated a record read from another row
    failed_monitors: list[dict[str, Any]] = field(default_factory=list)  # monitor, error, cause
    run_failure: dict[str, str] | None = None  # {Error, Cause} when every monitor failed: the run fails with it

    truncated: bool = False  # per-chunk lists were cut to the latest entries to fit the payload limit

    def to_dict(self) -> dict[str, Any]:
        """JSON-able and under MAX_OUTCOME_BYTES: long per-chunk lists keep their latest entries (results.parquet
        and the report hold everything)."""
        data = asdict(self)
        keep = max(len(data[name]) for name in _PER_CHUNK_LISTS)
        while keep > 1 and len(json.dumps(data, default=str).encode()) > MAX_OUTCOME_BYTES:
            keep //= 2
            for name in _PER_CHUNK_LISTS:
                data[name] = data[name][-keep:]
            data["truncated"] = True
        return data


def _float(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _merged(results: list[MonitorResult], model: str, run_id: str) -> pd.DataFrame:
    """Every monitor's rows, with the run's identity and each chunk's index over the window."""
    import pandas as pd

    parts = [r.table for r in results if len(r.table)]
    if not parts:
        return empty_table()
    table = pd.concat(parts, ignore_index=True)
    starts = sorted(table["chunk_start"].unique())
    index = {start: i for i, start in enumerate(starts)}
    table["chunk_index"] = table["chunk_start"].map(index).astype("int64")
    table["model"] = model
    table["variant"] = split_unit(model)[1]  # a variant of a model watching several (the unit is `model`)
    table["run_id"] = run_id
    return conform(table)


def variant_comparisons(config: ModelConfig, rows: list[ResultRow], store: ObjectStore) -> list[Comparison]:
    """For a variant of a model watching several: this run's rows against the other variants' latest (a challenger
    against the champion; the champion against each challenger). None for a model watching one variant."""
    champion = config.comparison.champion
    if config.unit_of is None or champion is None or not rows:
        return []
    found: list[Comparison] = []
    if config.variant != champion:
        champion_rows = latest_results(store, unit_name(config.unit_of, champion))
        return compare_variants(config, champion, config.variant, champion_rows, rows)
    for unit in Registry(store, cache_seconds=0).units_of(config.unit_of):
        if unit.variant != champion:
            found += compare_variants(config, champion, unit.variant, rows, latest_results(store, unit.name))
    return found


def _skipped(results: list[MonitorResult]) -> list[dict[str, Any]]:
    """Chunks skipped by any monitor (the same triage for all; a step short of time defers its own), once each, in
    time order."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        for entry in result.chunks_skipped:
            seen.setdefault((entry["start"], entry["end"]), entry)
    return [seen[k] for k in sorted(seen)]


def assemble_run(
    config: ModelConfig,
    request: RunRequest,
    results: list[MonitorResult],
    store: ObjectStore,
    now: datetime,
    failed_monitors: list[dict[str, Any]] | None = None,
) -> RunOutcome:
    """Write the run's results table and report; return the outcome publishing reads. `failed_monitors` (monitor,
    error, cause) are named in the outcome and the report; when no monitor analysed, the outcome carries the first
    failure as `run_failure` and nothing is written."""
    now = to_utc(now)
    failed_monitors = list(failed_monitors or [])
    if failed_monitors and not results:
        first = failed_monitors[0]
        logger.warning("every monitor failed", model=config.name, monitors=[f["monitor"] for f in failed_monitors])
        return RunOutcome(
            model=config.name,
            run_id=request.run_id,
            problem_type=config.problem_type.value,
            results_uri=None,
            report_uri=None,
            chunks_analysed=0,
            estimator_cache="unused",
            metrics=config.metrics,
            failed_monitors=failed_monitors,
            run_failure={"Error": str(first["error"]), "Cause": str(first.get("raw_cause", first["cause"]))},
        )
    table = _merged(results, config.name, request.run_id)
    whole = table.loc[table["segment"].isna()]  # the whole model's rows; segments' (monitors.segments) apart
    for result in results:
        result.summary = monitor_for(result.monitor, config).summarise(whole)
    by_name = {r.monitor: r for r in results}
    performance = by_name.get(PERFORMANCE)
    lead = performance or (results[0] if results else None)
    outcome = RunOutcome(
        model=config.name,
        run_id=request.run_id,
        problem_type=config.problem_type.value,
        results_uri=None,
        report_uri=None,
        chunks_analysed=lead.chunks_analysed if lead else 0,
        chunks_reused=lead.chunks_reused if lead else 0,
        chunks_skipped=_skipped(results),
        rows_without_prediction=lead.rows_without_prediction if lead else 0,
        labels=performance.labels if performance else {},
        estimator_cache=performance.baseline if performance else "unused",
        metrics=config.metrics,
        realized_skipped=list(performance.realized_skipped) if performance else [],
        rows_superseded=lead.rows_superseded if lead else 0,
        rows_duplicate=lead.rows_duplicate if lead else 0,
        failed_monitors=[{k: v for k, v in f.items() if k != "raw_cause"} for f in failed_monitors],
        monitors={
            r.monitor: {
                "chunks_analysed": r.chunks_analysed,
                "chunks_reused": r.chunks_reused,
                "baseline": r.baseline,
                "summary": {k: v for k, v in r.summary.items() if k != "per_chunk"},
            }
            for r in results
        },
    )
    if not outcome.chunks_analysed:
        logger.info("no complete chunk to analyse", model=config.name, skipped=len(outcome.chunks_skipped))
        return outcome
    results_at = results_key(config.name, request.run_id)
    body = to_parquet(table)
    store.put(results_at, body)
    # As rows (segments' too), for the variants' comparison and who is hurt: read back once, only when needed.
    rows = read_results(body) if config.unit_of is not None or config.segments else []
    outcome.results_uri = store.uri(results_at)

    performance_rows = whole.loc[whole["monitor"] == PERFORMANCE]
    alert_rows = performance_rows.loc[performance_rows["alert"]]
    outcome.alerts_total = len(alert_rows)
    outcome.alerts = [
        {
            "metric": r.metric,
            "kind": r.kind,
            "chunk_start": iso(r.chunk_start),
            "chunk_end": iso(r.chunk_end),
            "value": _float(r.value),
            "lower_threshold": _float(r.lower_threshold),
            "upper_threshold": _float(r.upper_threshold),
        }
        for r in alert_rows.head(MAX_ALERTS_IN_OUTCOME).itertuples()
    ]
    chunks = whole.drop_duplicates("chunk_key").sort_values("chunk_start", kind="stable")
    outcome.label_coverage = [
        {
            "chunk_start": iso(r.chunk_start),
            "chunk_end": iso(r.chunk_end),
            "rows": int(r.rows),
            "labelled_rows": int(r.labelled_rows),
            "coverage": float(r.label_coverage),
        }
        for r in chunks.itertuples()
    ]
    drift = by_name.get("drift")
    if drift is not None:
        outcome.top_features = list(drift.summary.get("top_features", []))
        outcome.top_drifting_features = list(drift.summary.get("top_drifting_features", []))
        outcome.drift = list(drift.summary.get("per_chunk", []))

    shared = shared_plotly(store)
    html = render_report(
        config=config,
        run_id=request.run_id,
        generated_at=iso(now),
        table=whole,
        summaries={r.monitor: r.summary for r in results},
        summary=report_facts(outcome, alert_rows),
        alerts=outcome.alerts,
        skipped=outcome.chunks_skipped,
        realized_skipped=outcome.realized_skipped,
        failed_monitors=outcome.failed_monitors,
        plotly_src=relative_to_report(config.name, request.run_id, shared),
        comparisons=variant_comparisons(config, rows, store),
        hurt=who_is_hurt(rows) if config.segments else None,
    )
    report_at = report_key(config.name, request.run_id)
    store.put(report_at, html.encode(), "text/html; charset=utf-8")
    outcome.report_uri = store.uri(report_at)
    logger.info(
        "monitor run done",
        model=config.name,
        run_id=request.run_id,
        monitors=sorted(by_name),
        chunks_analysed=outcome.chunks_analysed,
        chunks_reused=outcome.chunks_reused,
        chunks_skipped=len(outcome.chunks_skipped),
        alerts=outcome.alerts_total,
        estimator_cache=outcome.estimator_cache,
    )
    return outcome


# The performance estimator's cache as people read it (RunOutcome.estimator_cache keeps the short code).
ESTIMATOR_WORDS = {
    "hit": "reused from an earlier run (same reference and settings)",
    "fit": "fitted on the reference in this run",
    "unused": "not needed (every chunk's results were taken from earlier runs)",
}


def report_facts(outcome: RunOutcome, alert_rows: pd.DataFrame) -> dict[str, Any]:
    """The report's summary table in plain words; the drifting features only when a feature was in drift alert."""
    facts: dict[str, Any] = {
        "problem type": outcome.problem_type,
        "chunks analysed": outcome.chunks_analysed,
        "of which unchanged since an earlier run (results taken from it)": outcome.chunks_reused,
        "chunks skipped (each with its reason below)": len(outcome.chunks_skipped),
        "chunks estimated without their labels": len(outcome.realized_skipped),
        "rows left out as duplicates": outcome.rows_superseded + outcome.rows_duplicate,
        "alerts on estimates": int((alert_rows["kind"] == KIND_ESTIMATED).sum()),
        "alerts on realized values (labels)": int((alert_rows["kind"] == KIND_REALIZED).sum()),
    }
    if outcome.top_drifting_features:
        facts["features in drift alert (most drifting first)"] = ", ".join(outcome.top_drifting_features)
    facts["performance estimator"] = ESTIMATOR_WORDS.get(outcome.estimator_cache, outcome.estimator_cache)
    return facts


def _part(store: ObjectStore, key: str | None) -> pd.DataFrame:
    if not key:
        return empty_table()
    try:
        return from_parquet(store.get(key))
    except LakeError as exc:
        raise LakeError(f"a monitor's results of the run are missing: {exc}") from exc


def failed_monitor(outcome: dict[str, Any]) -> dict[str, Any] | None:
    """A monitor step's failure as the Map's catch hands it on (`{monitor, failed: {Error, Cause}}`), else None."""
    failed = outcome.get("failed")
    if not isinstance(failed, dict):
        return None
    error = str(failed.get("Error") or "States.TaskFailed")
    raw = str(failed.get("Cause") or "")
    cause = safe_cause(error, raw)
    try:  # a Lambda error's cause is its error JSON: the message alone
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            cause = str(parsed.get("errorMessage") or parsed.get("message") or cause)
    except ValueError:
        pass
    return {"monitor": str(outcome.get("monitor", "")), "error": error, "cause": cause[:500], "raw_cause": raw}


def assemble_from_lake(spec: RunSpec, outcomes: list[dict[str, Any]], store: ObjectStore, now: datetime) -> RunOutcome:
    """The assemble step: read each monitor's part of the run from the lake, then `assemble_run` (monitors whose
    step failed are named, not read)."""
    config = spec.model_config_or_error()
    failed = [f for o in outcomes if (f := failed_monitor(o)) is not None]
    analysed = [o for o in outcomes if failed_monitor(o) is None]
    results = [
        MonitorResult(
            monitor=str(o["monitor"]),
            table=_part(store, o.get("results_key")),
            chunks_analysed=int(o.get("chunks_analysed", 0)),
            chunks_reused=int(o.get("chunks_reused", 0)),
            chunks_skipped=list(o.get("chunks_skipped", [])),
            rows_without_prediction=int(o.get("rows_without_prediction", 0)),
            labels=dict(o.get("labels", {})),
            baseline=str(o.get("baseline", "unused")),
            realized_skipped=list(o.get("realized_skipped", [])),
            rows_superseded=int(o.get("rows_superseded", 0)),
            rows_duplicate=int(o.get("rows_duplicate", 0)),
        )
        for o in analysed
    ]
    return assemble_run(config, spec.request(), results, store, now, failed)
