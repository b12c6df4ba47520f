"""Candidate datapoints of one run: performance per chunk (stamped at chunk start), alerts, drift and data quality."""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelwatch.clock import parse_iso, to_utc
from modelwatch.constants import (
    DIM_FEATURE,
    DIM_KIND,
    DIM_METRIC,
    DIM_MODEL,
    KIND_ERROR,
    KIND_ESTIMATED,
    KIND_LOWER_BOUND,
    KIND_REALIZED,
    KIND_UPPER_BOUND,
    METRIC_FEATURES_DRIFTING,
    METRIC_MISSING_RATE,
    METRIC_PERFORMANCE,
)
from modelwatch.errors import PublishError
from modelwatch.publishing.metrics import Datapoint, Skipped
from modelwatch.state import ledger_key

SERIES_DRIFT = "drift"
SERIES_MISSING = "missing_rate"


def value_version(value: float | None, *parts: object) -> str:
    """A short hash of a value (12 significant digits) and the data it came from (row counts, coverage): the
    ledger's version of a published datapoint, so a value is sent again only when it changed."""
    text = "nan" if value is None or not math.isfinite(value) else f"{value:.12g}"
    joined = "|".join([text, *(str(p) for p in parts)])
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ChunkResult:
    """One row of a run's results: one chunk, metric and kind (estimated or realized)."""

    chunk_start: datetime
    chunk_end: datetime | None
    metric: str
    kind: str
    value: float | None
    lower_bound: float | None
    upper_bound: float | None
    lower_threshold: float | None
    upper_threshold: float | None
    alert: bool
    label_coverage: float | None
    rows: int | None


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def read_results(body: bytes) -> list[ChunkResult]:
    """Parse a results Parquet (estimation's tidy long table) into ChunkResults."""
    import polars as pl

    try:
        table = pl.read_parquet(io.BytesIO(body))
    except Exception as exc:  # polars raises several error types for a corrupt or foreign file
        raise PublishError(f"results file is not readable Parquet: {exc}") from exc
    required = {"chunk_start", "metric", "kind", "value", "alert"}
    missing = required - set(table.columns)
    if missing:
        raise PublishError(f"results file lacks columns {sorted(missing)}")
    results = []
    for row in table.iter_rows(named=True):
        end = row.get("chunk_end")
        coverage = _number(row.get("label_coverage"))
        rows = row.get("rows")
        results.append(
            ChunkResult(
                chunk_start=to_utc(row["chunk_start"]),
                chunk_end=to_utc(end) if end is not None else None,
                metric=str(row["metric"]),
                kind=str(row["kind"]),
                value=_number(row["value"]),
                lower_bound=_number(row.get("lower_confidence_boundary")),
                upper_bound=_number(row.get("upper_confidence_boundary")),
                lower_threshold=_number(row.get("lower_threshold")),
                upper_threshold=_number(row.get("upper_threshold")),
                alert=bool(row["alert"]),
                label_coverage=coverage,
                rows=int(rows) if rows is not None else None,
            )
        )
    return results


def coverage_passes(row: ChunkResult, min_label_coverage: float) -> bool:
    return row.label_coverage is not None and row.label_coverage >= min_label_coverage


def _performance(model: str, row: ChunkResult, kind: str, value: float | None, *parts: object) -> Datapoint:
    return Datapoint(
        metric_name=METRIC_PERFORMANCE,
        dimensions=((DIM_MODEL, model), (DIM_METRIC, row.metric), (DIM_KIND, kind)),
        timestamp=row.chunk_start,
        value=value,
        ledger_key=ledger_key(kind, row.metric, row.chunk_start),
        version=value_version(value, row.rows, *parts),
    )


def performance_datapoints(
    model: str, rows: list[ChunkResult], min_label_coverage: float
) -> tuple[list[Datapoint], list[Skipped]]:
    """Estimated value and confidence bounds per chunk; realized value and estimation error past the coverage gate."""
    points: list[Datapoint] = []
    gated: list[Skipped] = []
    estimates = {(r.chunk_start, r.metric): r for r in rows if r.kind == KIND_ESTIMATED}
    for row in rows:
        if row.kind == KIND_ESTIMATED:
            points.append(_performance(model, row, KIND_ESTIMATED, row.value))
            points.append(_performance(model, row, KIND_LOWER_BOUND, row.lower_bound))
            points.append(_performance(model, row, KIND_UPPER_BOUND, row.upper_bound))
        elif row.kind == KIND_REALIZED:
            estimate = estimates.get((row.chunk_start, row.metric))
            error = None
            if estimate is not None and estimate.value is not None and row.value is not None:
                error = estimate.value - row.value
            realized = _performance(model, row, KIND_REALIZED, row.value, row.label_coverage)
            errors = [_performance(model, row, KIND_ERROR, error, row.label_coverage)] if estimate else []
            if coverage_passes(row, min_label_coverage):
                points.append(realized)
                points.extend(errors)
            else:
                coverage = "unknown" if row.label_coverage is None else f"{row.label_coverage:.1%}"
                reason = f"label coverage {coverage} is below min_label_coverage {min_label_coverage:.1%}"
                gated.extend(Skipped(point, reason) for point in [realized, *errors])
    return points, gated


def alert_key(row: ChunkResult) -> str:
    return ledger_key(f"alert_{row.kind}", row.metric, row.chunk_start)


def alerting_rows(rows: list[ChunkResult], min_label_coverage: float) -> list[ChunkResult]:
    """Chunks in alert: estimates always, realized values only past the coverage gate (few labels are noise)."""
    return [
        r
        for r in rows
        if r.alert
        and (r.kind == KIND_ESTIMATED or (r.kind == KIND_REALIZED and coverage_passes(r, min_label_coverage)))
    ]


def drift_entries(drift: Any) -> list[dict[str, Any]]:
    """The outcome's per-chunk drift as a list of {chunk_start, features_in_drift_alert, missing_rate}.

    Accepts the list form estimation returns and the {chunk_start: {...}} mapping form.
    """
    if not drift:
        return []
    if isinstance(drift, dict):
        return [{"chunk_start": start, **values} for start, values in drift.items()]
    return [dict(entry) for entry in drift]


def drift_datapoints(model: str, drift: Any) -> list[Datapoint]:
    """Features in drift alert (Model) and missing-value rate of the top features (Model, Feature) per chunk."""
    points: list[Datapoint] = []
    for entry in drift_entries(drift):
        start = parse_iso(str(entry["chunk_start"]))
        count = entry.get("features_in_drift_alert", entry.get("features_in_alert"))
        if count is not None:
            points.append(
                Datapoint(
                    metric_name=METRIC_FEATURES_DRIFTING,
                    dimensions=((DIM_MODEL, model),),
                    timestamp=start,
                    value=float(count),
                    unit="Count",
                    ledger_key=ledger_key(SERIES_DRIFT, METRIC_FEATURES_DRIFTING, start),
                    version=value_version(float(count)),
                )
            )
        for feature, rate in sorted((entry.get("missing_rate") or {}).items()):
            value = _number(rate)
            points.append(
                Datapoint(
                    metric_name=METRIC_MISSING_RATE,
                    dimensions=((DIM_MODEL, model), (DIM_FEATURE, str(feature))),
                    timestamp=start,
                    value=value,
                    ledger_key=ledger_key(SERIES_MISSING, str(feature), start),
                    version=value_version(value),
                )
            )
    return points
