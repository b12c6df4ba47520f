"""The run's last analysis step: every monitor's rows in one results table, the run's outcome and its report."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelwatch.analysis.report import render_report
from modelwatch.analysis.requests import RunRequest, RunSpec
from modelwatch.analysis.run import MonitorResult, iso
from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED
from modelwatch.errors import LakeError
from modelwatch.lake.layout import report_key, results_key
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors import monitor_for
from modelwatch.monitors.performance import MONITOR as PERFORMANCE
from modelwatch.monitors.results import conform, empty_table, from_parquet, to_parquet
from modelwatch.observability import logger

if TYPE_CHECKING:
    import pandas as pd

MAX_ALERTS_IN_OUTCOME = 200  # the full list is in results.parquet; Step Functions payloads stop at 256 KB
MAX_OUTCOME_BYTES = 128 * 1024  # leaves room for the rest of the execution's state
_PER_CHUNK_LISTS = ("chunks_skipped", "label_coverage", "drift", "alerts")


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
    table["run_id"] = run_id
    return conform(table)


def _skipped(results: list[MonitorResult]) -> list[dict[str, Any]]:
    """Chunks skipped by any monitor (the same triage for all), once each, in time order."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        for entry in result.chunks_skipped:
            seen.setdefault((entry["start"], entry["end"]), entry)
    return [seen[k] for k in sorted(seen)]


def assemble_run(
    config: ModelConfig, request: RunRequest, results: list[MonitorResult], store: ObjectStore, now: datetime
) -> RunOutcome:
    """Write the run's results table and report; return the outcome publishing reads."""
    now = to_utc(now)
    table = _merged(results, config.name, request.run_id)
    for result in results:
        result.summary = monitor_for(result.monitor, config).summarise(table)
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
    store.put(results_at, to_parquet(table))
    outcome.results_uri = store.uri(results_at)

    performance_rows = table.loc[table["monitor"] == PERFORMANCE]
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
    chunks = table.drop_duplicates("chunk_key").sort_values("chunk_start", kind="stable")
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

    html = render_report(
        config=config,
        run_id=request.run_id,
        generated_at=iso(now),
        table=table,
        summaries={r.monitor: r.summary for r in results},
        summary={
            "problem type": config.problem_type.value,
            "chunks analysed": outcome.chunks_analysed,
            "chunks reused from earlier runs": outcome.chunks_reused,
            "chunks skipped": len(outcome.chunks_skipped),
            "estimated alerts": int((alert_rows["kind"] == KIND_ESTIMATED).sum()),
            "realized alerts": int((alert_rows["kind"] == KIND_REALIZED).sum()),
            "top drifting features": ", ".join(outcome.top_drifting_features) or "none",
            "estimator": outcome.estimator_cache,
        },
        alerts=outcome.alerts,
        skipped=outcome.chunks_skipped,
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


def _part(store: ObjectStore, key: str | None) -> pd.DataFrame:
    if not key:
        return empty_table()
    try:
        return from_parquet(store.get(key))
    except LakeError as exc:
        raise LakeError(f"a monitor's results of the run are missing: {exc}") from exc


def assemble_from_lake(spec: RunSpec, outcomes: list[dict[str, Any]], store: ObjectStore, now: datetime) -> RunOutcome:
    """The assemble step: read each monitor's part of the run from the lake, then `assemble_run`."""
    config = spec.model_config_or_error()
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
        )
        for o in outcomes
    ]
    return assemble_run(config, spec.request(), results, store, now)
