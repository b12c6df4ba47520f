"""Run one model's monitor over a window: chunk, estimate (CBPE/DLE), join labels, realized, drift, store, report."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ModelConfig, ProblemType, load_model_config_text, validation_summary
from modelwatch.config.settings import Settings
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED, LAKE_CAPTURES
from modelwatch.errors import (
    ConfigError,
    EmptyWindowError,
    LakeError,
    ReferenceDataError,
    RegistryError,
    UntrustedArtifactError,
)
from modelwatch.estimation import cache
from modelwatch.chunks import ChunkWindow, is_complete
from modelwatch.estimation.frames import (
    CHUNK,
    TARGET,
    TIMESTAMP,
    assign_period_chunks,
    assign_size_chunks,
    lake_to_pandas,
    period_chunk_key,
    prepare_captures,
    prepare_reference,
    reference_columns,
    reference_hash,
    size_chunk_key,
)
from modelwatch.estimation.reuse import AnalysisState, ChunkRecord, HourCounterLike, ReusePlan
from modelwatch.lake.layout import model_config_key, model_reference_key, report_key, results_key
from modelwatch.lake.store import ObjectStore, parse_s3_uri
from modelwatch.observability import logger

if TYPE_CHECKING:
    import pandas as pd

    from modelwatch.estimation.estimator import FittedMonitor

MAX_ALERTS_IN_OUTCOME = 200  # the full list is in results.parquet; Step Functions payloads stop at 256 KB
MAX_OUTCOME_BYTES = 128 * 1024  # leaves room for the rest of the execution's state
_PER_CHUNK_LISTS = ("chunks_skipped", "label_coverage", "drift", "alerts")
SKIP_INCOMPLETE = "incomplete"


@dataclass
class RunRequest:
    """One run of one model; the window bounds chunk starts, None meaning unbounded."""

    model: str
    run_id: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    input_complete: bool = False  # `modelwatch run`: the end of the input completes the last chunk


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
    estimator_cache: str = "fit"  # "hit", "fit", or "unused" (every chunk reused)
    metrics: list[str] = field(default_factory=list)

    truncated: bool = False  # per-chunk lists were cut to the latest entries to fit the payload limit

    def to_dict(self) -> dict[str, Any]:
        """JSON-able and under MAX_OUTCOME_BYTES: long per-chunk lists keep their latest entries (results.parquet
        and the report hold everything)."""
        import json

        data = asdict(self)
        keep = max(len(data[name]) for name in _PER_CHUNK_LISTS)
        while keep > 1 and len(json.dumps(data, default=str).encode()) > MAX_OUTCOME_BYTES:
            keep //= 2
            for name in _PER_CHUNK_LISTS:
                data[name] = data[name][-keep:]
            data["truncated"] = True
        return data


@dataclass(frozen=True)
class _Chunk:
    number: int
    key: str
    start: datetime
    end: datetime
    rows: int


def _iso(value: datetime) -> str:
    return to_utc(value).isoformat().replace("+00:00", "Z")


def _aware(value: Any) -> datetime:
    import pandas as pd

    return to_utc(pd.Timestamp(value).to_pydatetime())


def _chunks_of(config: ModelConfig, frame: pd.DataFrame) -> list[_Chunk]:
    import pandas as pd

    period = config.chunking.period_delta
    grouped = frame.groupby(CHUNK, sort=True)[TIMESTAMP].agg(["min", "max", "size"])
    chunks = []
    for number, row in grouped.iterrows():
        number = int(number)
        if period is not None:
            period_ns = int(period.total_seconds() * 1_000_000_000)
            start = _aware(pd.Timestamp(number * period_ns))
            chunks.append(_Chunk(number, period_chunk_key(number, period_ns), start, start + period, int(row["size"])))
        else:
            assert config.chunking.size is not None
            start, last = _aware(row["min"]), _aware(row["max"])
            end = last + timedelta(microseconds=1)  # [first row, last row] as a half-open window
            chunks.append(
                _Chunk(
                    number, size_chunk_key(number, config.chunking.size, int(row["size"])), start, end, int(row["size"])
                )
            )
    return chunks


def _in_window(chunk: _Chunk, request: RunRequest) -> bool:
    if request.window_start is not None and chunk.start < to_utc(request.window_start):
        return False
    return not (request.window_end is not None and chunk.start >= to_utc(request.window_end))


def _complete(config: ModelConfig, chunk: _Chunk, last_number: int, request: RunRequest, now: datetime) -> bool:
    if config.chunking.period_delta is not None:
        if request.input_complete:
            return True
        return is_complete(ChunkWindow(chunk.start, chunk.end), now, config.estimation.lateness_delta)
    if chunk.rows >= (config.chunking.size or 0):
        return True
    return request.input_complete and chunk.number == last_number


def _fit_or_load(
    config: ModelConfig, reference: pd.DataFrame, store: ObjectStore, now: datetime, need_realized: bool
) -> tuple[FittedMonitor, str]:
    """The cached fit when valid ("hit"), else a new fit ("fit"); the realized and drift calculators are fitted on
    first need, then cached too. The cache is keyed by the reference columns as given, so a hit neither validates
    nor prepares the reference again (the fit that was cached did)."""
    from modelwatch.estimation.estimator import fit_missing_parts, fit_monitor

    need_drift = config.estimation.uses_drift
    key = cache.cache_key(config, reference_hash(reference_columns(config, reference)))
    try:
        monitor = cache.load_cached_monitor(store, config.name, key)
    except UntrustedArtifactError as exc:
        logger.warning("cached estimator refused; refitting", model=config.name, error=str(exc))
        monitor = None
    if monitor is not None:
        missing = (need_realized and monitor.realized is None) or (need_drift and monitor.drift is None)
        if missing and fit_missing_parts(config, monitor, _prepared(config, reference), need_realized, need_drift):
            cache.store_monitor(store, config.name, key, monitor, now)
        return monitor, "hit"
    fitted = fit_monitor(config, _prepared(config, reference), realized=need_realized, drift=need_drift)
    cache.store_monitor(store, config.name, key, fitted, now)
    return fitted, "fit"


def _prepared(config: ModelConfig, reference: pd.DataFrame) -> pd.DataFrame:
    """The reference validated, typed and chunked, as the nannyml objects are fitted on it."""
    return _with_chunks(config, prepare_reference(config, reference))


def _with_chunks(config: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    period = config.chunking.period_delta
    if period is not None:
        frame[CHUNK] = assign_period_chunks(frame, int(period.total_seconds() * 1_000_000_000))
    else:
        assert config.chunking.size is not None
        frame[CHUNK] = assign_size_chunks(frame, config.chunking.size)
    return frame


def _number_size_chunks_from(monitor: FittedMonitor, first: int) -> None:
    """Size chunks are split by position; tell the chunker(s) which stream chunk the first analysed one is."""
    for part in (monitor.estimator, monitor.realized, monitor.drift):
        if part is not None:
            part.chunker.offset = first


def _estimator_input(config: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """Only the columns the estimator reads (CBPE: the predictions; DLE: the features too), not the ids or labels:
    nannyml copies every column of every chunk, and the string ids cost the most."""
    features = config.feature_names if config.problem_type is ProblemType.REGRESSION else []
    return frame[[*features, *config.prediction_columns, TIMESTAMP, CHUNK]]


def _float(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _triage(
    config: ModelConfig, chunks: list[_Chunk], last_number: int, request: RunRequest, now: datetime
) -> tuple[list[_Chunk], list[dict[str, Any]]]:
    """The chunks to analyse, and the skipped ones with their reason (incomplete, too few rows)."""
    analysed: list[_Chunk] = []
    skipped: list[dict[str, Any]] = []
    for chunk in chunks:
        entry = {"start": _iso(chunk.start), "end": _iso(chunk.end), "rows": chunk.rows}
        if not _complete(config, chunk, last_number, request, now):
            skipped.append({**entry, "reason": SKIP_INCOMPLETE})
        elif chunk.rows < config.estimation.min_rows_per_chunk:
            skipped.append({**entry, "reason": f"fewer than {config.estimation.min_rows_per_chunk} rows"})
        else:
            analysed.append(chunk)
    return analysed, skipped


@dataclass
class _Fresh:
    """What this run computed on the chunks it read (nannyml results, reference period included)."""

    records: list[ChunkRecord]
    estimated: Any
    realized: Any | None
    drift: Any | None
    labels: dict[str, Any]
    estimator_cache: str


def _analyse(
    config: ModelConfig,
    reference: pd.DataFrame,
    frame: pd.DataFrame,
    chunks: list[_Chunk],
    labels: pd.DataFrame | None,
    store: ObjectStore,
    now: datetime,
    plan: ReusePlan | None,
) -> _Fresh:
    """Estimate, realize (where labelled, or to line up with stored realized results) and drift `chunks`."""
    from modelwatch.estimation.drift import calculate_drift, missing_rates
    from modelwatch.estimation.realized import join_labels

    numbers = {c.number: c.key for c in chunks}
    joined = join_labels(config, frame.loc[frame[CHUNK].isin(numbers)], labels)
    labelled_rows = joined.frame[TARGET].notna().groupby(joined.frame[CHUNK]).sum()
    labelled = {int(n) for n, count in labelled_rows.items() if count > 0}
    # Stored realized results of reused chunks need this run's realized rows next to them, labels or not.
    stored = plan.stored if plan is not None and plan.reused else None
    realize = bool(labelled) or (stored is not None and stored.realized is not None)
    monitor, cache_use = _fit_or_load(config, reference, store, now, realize)
    if config.chunking.size is not None:
        _number_size_chunks_from(monitor, chunks[0].number)
    estimated = monitor.estimator.estimate(_estimator_input(config, joined.frame))
    # Realized on every analysed chunk (nannyml gives NaN where a chunk has no label) so plots line up; only
    # chunks with labels get realized rows in the results.
    realized = None
    if realize and monitor.realized is not None:
        realized = monitor.realized.calculate(joined.frame)
    drift = calculate_drift(monitor.drift, joined.frame) if config.estimation.uses_drift else None
    rates = missing_rates(joined.frame, numbers, config.feature_names) if drift is not None else {}
    fingerprints = plan.fingerprints if plan is not None else {}
    records = [
        ChunkRecord(
            key=c.key,
            start=c.start,
            end=c.end,
            fingerprint=fingerprints.get(c.key, ""),
            rows=c.rows,
            labelled_rows=int(labelled_rows.get(c.number, 0)),
            missing_rate=rates.get(c.key, {}),
        )
        for c in chunks
    ]
    return _Fresh(records, estimated, realized, drift, joined.summary(), cache_use)


def run_monitor(
    config: ModelConfig,
    reference: pd.DataFrame,
    captures: pd.DataFrame,
    labels: pd.DataFrame | None,
    request: RunRequest,
    store: ObjectStore,
    now: datetime,
    plan: ReusePlan | None = None,
) -> RunOutcome:
    """Estimate (and, where labelled, realize) performance for the complete chunks of the window; store results.

    With a reuse plan, `captures` hold only the chunks whose inputs changed; the plan's unchanged chunks keep
    their stored results, and the run's chunks are stored for the next run.
    """
    import pandas as pd

    from modelwatch.estimation.drift import summarise_drift
    from modelwatch.estimation.report import render_report
    from modelwatch.estimation.results import results_to_parquet, tidy_results
    from modelwatch.estimation.reuse import combine, save_state

    now = to_utc(now)
    reused = plan.reused if plan is not None else {}
    if len(captures) == 0 and not reused:
        raise EmptyWindowError(
            f"model {config.name}: no captured rows in window [{request.window_start}, {request.window_end})"
        )
    fresh_chunks: list[_Chunk] = []
    skipped: list[dict[str, Any]] = []
    rows_without_prediction = 0
    frame = None
    if len(captures):
        prepared = prepare_captures(config, captures)  # config vs captures first: the more specific complaint
        rows_without_prediction = prepared.rows_without_prediction
        frame = _with_chunks(config, prepared.frame)
        all_chunks = _chunks_of(config, frame)
        in_window = [c for c in all_chunks if _in_window(c, request) and c.key not in reused]
        if not in_window and not reused:
            raise EmptyWindowError(
                f"model {config.name}: no captured rows with predictions in window "
                f"[{request.window_start}, {request.window_end})"
            )
        fresh_chunks, skipped = _triage(config, in_window, all_chunks[-1].number, request, now)
    outcome = RunOutcome(
        model=config.name,
        run_id=request.run_id,
        problem_type=config.problem_type.value,
        results_uri=None,
        report_uri=None,
        chunks_analysed=len(fresh_chunks) + len(reused),
        chunks_reused=len(reused),
        chunks_skipped=skipped,
        rows_without_prediction=rows_without_prediction,
        metrics=config.metrics,
    )
    if not fresh_chunks and not reused:
        logger.info("no complete chunk to analyse", model=config.name, skipped=len(skipped))
        return outcome

    fresh = _analyse(config, reference, frame, fresh_chunks, labels, store, now, plan) if fresh_chunks else None
    stored = plan.stored if plan is not None and reused else None
    keep = set(reused)
    records = sorted([*reused.values(), *(fresh.records if fresh else [])], key=lambda r: r.start)
    estimated = combine(fresh.estimated if fresh else None, stored.estimated if stored else None, keep)
    realized = None
    if any(r.labelled_rows for r in records):
        realized = combine(
            fresh.realized if fresh else None,
            stored.realized if stored else None,
            keep,
            like=stored.estimated if stored else None,
        )
    drift_result = combine(fresh.drift if fresh else None, stored.drift if stored else None, keep)
    if fresh is not None:
        outcome.estimator_cache = fresh.estimator_cache
        outcome.labels = fresh.labels
    else:
        outcome.estimator_cache = "unused"

    chunk_table = pd.DataFrame.from_records(
        [
            {
                "chunk_key": r.key,
                "chunk_index": index,
                "chunk_start": pd.Timestamp(r.start),
                "chunk_end": pd.Timestamp(r.end),
                "rows": r.rows,
                "labelled_rows": r.labelled_rows,
                "label_coverage": float(r.labelled_rows) / r.rows,
            }
            for index, r in enumerate(records)
        ]
    )
    table = tidy_results(config.name, request.run_id, config.metrics, estimated, realized, chunk_table)
    results_at = results_key(config.name, request.run_id)
    store.put(results_at, results_to_parquet(table))
    outcome.results_uri = store.uri(results_at)
    if plan is not None:
        kept = {r.key: r for r in records if r.fingerprint}
        save_state(store, config.name, plan.key, AnalysisState(kept, estimated, realized, drift_result), now)

    alert_rows = table.loc[table["alert"].astype(bool)]
    outcome.alerts_total = len(alert_rows)
    outcome.alerts = [
        {
            "metric": r.metric,
            "kind": r.kind,
            "chunk_start": _iso(r.chunk_start),
            "chunk_end": _iso(r.chunk_end),
            "value": _float(r.value),
            "lower_threshold": _float(r.lower_threshold),
            "upper_threshold": _float(r.upper_threshold),
        }
        for r in alert_rows.head(MAX_ALERTS_IN_OUTCOME).itertuples()
    ]
    outcome.label_coverage = [
        {
            "chunk_start": _iso(r.chunk_start),
            "chunk_end": _iso(r.chunk_end),
            "rows": int(r.rows),
            "labelled_rows": int(r.labelled_rows),
            "coverage": float(r.label_coverage),
        }
        for r in chunk_table.itertuples()
    ]

    if drift_result is not None:
        summary = summarise_drift(
            drift_result,
            {r.key: r.missing_rate for r in records},
            [r.key for r in records],
            config.feature_names,
            config.estimation.top_features,
        )
        outcome.top_features = summary.top_features
        outcome.top_drifting_features = summary.top_drifting_features
        by_key = {r.key: r for r in records}
        outcome.drift = [
            {
                "chunk_start": _iso(by_key[d["chunk_key"]].start),
                "chunk_end": _iso(by_key[d["chunk_key"]].end),
                "features_in_drift_alert": d["features_in_drift_alert"],
                "missing_rate": d["missing_rate"],
            }
            for d in summary.per_chunk
        ]

    realized_metrics = set(table.loc[table["kind"] == KIND_REALIZED, "metric"]) if realized is not None else set()
    html = render_report(
        model=config.name,
        run_id=request.run_id,
        generated_at=_iso(now),
        metrics=config.metrics,
        estimated=estimated,
        realized=realized,
        realized_metrics=realized_metrics,
        drift_result=drift_result,
        top_features=outcome.top_features,
        summary={
            "problem type": config.problem_type.value,
            "chunks analysed": outcome.chunks_analysed,
            "chunks reused from earlier runs": outcome.chunks_reused,
            "chunks skipped": len(skipped),
            "estimated alerts": int((alert_rows["kind"] == KIND_ESTIMATED).sum()),
            "realized alerts": int((alert_rows["kind"] == KIND_REALIZED).sum()),
            "top drifting features": ", ".join(outcome.top_drifting_features) or "none",
            "estimator": outcome.estimator_cache,
        },
        alerts=outcome.alerts,
        skipped=skipped,
    )
    report_at = report_key(config.name, request.run_id)
    store.put(report_at, html.encode(), "text/html; charset=utf-8")
    outcome.report_uri = store.uri(report_at)
    logger.info(
        "monitor run done",
        model=config.name,
        run_id=request.run_id,
        chunks_analysed=outcome.chunks_analysed,
        chunks_reused=outcome.chunks_reused,
        chunks_skipped=len(skipped),
        alerts=outcome.alerts_total,
        estimator_cache=outcome.estimator_cache,
    )
    return outcome


class EstimateInput(BaseModel):
    """The state machine's input to the estimate task."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1)
    run_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    window_start: datetime | None = None
    window_end: datetime | None = None
    input_complete: bool = False

    def to_request(self) -> RunRequest:
        return RunRequest(
            model=self.model,
            run_id=self.run_id,
            window_start=to_utc(self.window_start) if self.window_start else None,
            window_end=to_utc(self.window_end) if self.window_end else None,
            input_complete=self.input_complete,
        )


def parse_estimate_input(event: dict[str, Any]) -> RunRequest:
    """Validate the state-machine input; a bad input is a ConfigError naming the field."""
    try:
        return EstimateInput.model_validate(event).to_request()
    except ValidationError as exc:
        fields = validation_summary(exc)
        raise ConfigError(f"estimate input is invalid: {fields}") from exc


def load_reference(store: ObjectStore, config: ModelConfig) -> tuple[pd.DataFrame, str]:
    """Read the config's reference data (Parquet or CSV) from the lake (s3:// in the store's bucket) or a path;
    also the sha256 of its bytes."""
    import hashlib
    import io

    import pandas as pd

    uri = config.reference or store.uri(model_reference_key(config.name))
    if uri.startswith("s3://"):
        bucket, key = parse_s3_uri(uri)
        if bucket != getattr(store, "bucket", bucket):
            raise ReferenceDataError(f"model {config.name}: reference {uri} is outside the lake bucket")
        body = store.get(key)
    else:
        try:
            body = Path(uri).read_bytes()
        except OSError as exc:
            raise ReferenceDataError(f"model {config.name}: cannot read reference {uri}: {exc.strerror}") from exc
    try:
        if uri.lower().endswith(".csv"):
            return pd.read_csv(io.BytesIO(body)), hashlib.sha256(body).hexdigest()
        return pd.read_parquet(io.BytesIO(body)), hashlib.sha256(body).hexdigest()
    except Exception as exc:  # pyarrow and the CSV parser raise many kinds
        raise ReferenceDataError(f"model {config.name}: reference {uri} is not readable Parquet/CSV: {exc}") from exc


def _read_captures(store: ObjectStore, model: str, ranges: list[tuple[datetime | None, datetime | None]]) -> Any:
    import polars as pl

    from modelwatch.lake.reader import read_rows

    frames = [read_rows(store, LAKE_CAPTURES, model, start=start, end=end) for start, end in ranges]
    with_rows = [f for f in frames if f.height]
    if not with_rows:
        return frames[0] if frames else pl.DataFrame()  # an empty read keeps its columns
    return pl.concat(with_rows, how="diagonal_relaxed")


def _read_labels(store: ObjectStore, model: str, start: datetime | None) -> Any:
    from modelwatch.lake.reader import read_ground_truth

    return read_ground_truth(store, model, start=start)


def run_monitor_from_lake(
    settings: Settings,
    store: ObjectStore,
    request: RunRequest,
    clock: Clock,
    counters: Iterable[HourCounterLike] | None = None,
) -> RunOutcome:
    """Load the registered config, its reference and the window's lake rows, then run the monitor.

    With the model's hour counters (read before the lake, so a chunk is never stored as analysed with a newer
    fingerprint than its rows), chunks unchanged since an earlier run are not read again (`estimation.reuse`).
    """
    from modelwatch.estimation.reuse import plan_reuse

    config_key = model_config_key(request.model)
    try:
        text = store.get(config_key)
    except LakeError as exc:
        raise RegistryError(f"model {request.model!r} is not registered ({store.uri(config_key)})") from exc
    config = load_model_config_text(text, store.uri(config_key))
    reference, reference_sha256 = load_reference(store, config)
    # Size chunks are numbered over the whole stream, so they need every row; period chunks only the window's.
    by_period = config.chunking.period_delta is not None
    start = request.window_start if by_period else None
    end = request.window_end if by_period else None
    plan = None
    if counters is not None:
        plan = plan_reuse(config, store, reference_sha256, counters, start, end)
    ranges: list[tuple[datetime | None, datetime | None]] = [(start, end)]
    if plan is not None:
        ranges = list(plan.fresh_ranges)
        start = plan.fresh_start
    captures = lake_to_pandas(_read_captures(store, config.name, ranges))
    # Labels arrive after their inference (ground truth is partitioned by label time): none before the window.
    labels = lake_to_pandas(_read_labels(store, config.name, start)) if ranges else None
    logger.info(
        "lake rows loaded",
        model=config.name,
        captures=len(captures),
        labels=0 if labels is None else len(labels),
        reference=len(reference),
        chunks_reused=len(plan.reused) if plan is not None else 0,
        lake=settings.lake_bucket,
    )
    return run_monitor(config, reference, captures, labels, request, store, clock.now(), plan)
