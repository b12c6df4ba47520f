"""Incremental runs: estimate only the period chunks whose inputs changed since they were last analysed.

A chunk's results depend only on the fitted monitor and the chunk's own rows and labels (CBPE, DLE, realized
performance and univariate drift are all per chunk, with thresholds fixed at fit time). So every run stores its
analysed chunks' nannyml results with a fingerprint of their inputs (the hour counters ingestion keeps: rows, data
version, labels and label version of each hour the chunk spans), and the next run re-estimates only chunks whose
fingerprint changed or that it has not analysed before; the rest come from the stored state. A run over a 14-day
lookback after one new hour reads and estimates one hour, not 14 days.

The state is a signed pickle next to the cached estimator (`modelwatch.estimation.cache`), keyed by the reference
bytes, the whole model config and the library versions: any change there means a full run. Size chunks, and
callers that pass no hour counters, always get a full run.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.errors import UntrustedArtifactError
from modelwatch.estimation import cache
from modelwatch.chunks import EPOCH, chunk_start
from modelwatch.estimation.estimator import ESTIMATOR_SCHEMA
from modelwatch.lake.store import ObjectStore
from modelwatch.observability import logger
from modelwatch.chunks import hour_of
from modelwatch.state import HourCounter as HourCounterLike

if TYPE_CHECKING:
    import pandas as pd

ANALYSIS = cache.Artifact("analysis.pkl", "analysis.json")
ANALYSIS_SCHEMA = 1  # bump when the stored state's shape or meaning changes
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class ChunkRecord:
    """One analysed chunk as stored: the fingerprint of its inputs and what the run derived from its rows."""

    key: str
    start: datetime
    end: datetime
    fingerprint: str
    rows: int
    labelled_rows: int
    missing_rate: dict[str, float] = field(default_factory=dict)  # every feature (when drift is calculated)


@dataclass
class AnalysisState:
    """The analysed chunks of a model's latest run and their nannyml results (analysis period only)."""

    chunks: dict[str, ChunkRecord]
    estimated: Any
    realized: Any | None = None
    drift: Any | None = None


@dataclass
class ReusePlan:
    """What a run can take from the stored state, and the fingerprints of every chunk it covers."""

    key: cache.CacheKey
    fingerprints: dict[str, str]  # chunk key -> fingerprint, for every chunk with counted rows in the window
    stored: AnalysisState | None = None
    reused: dict[str, ChunkRecord] = field(default_factory=dict)  # unchanged chunks, by key
    fresh_ranges: list[tuple[datetime, datetime]] = field(default_factory=list)  # what must be read

    @property
    def fresh_start(self) -> datetime | None:
        return self.fresh_ranges[0][0] if self.fresh_ranges else None


def state_key(config: ModelConfig, reference_sha256: str) -> cache.CacheKey:
    """Stored results are valid for the same reference, the same whole config and the same libraries."""
    canonical = json.dumps(
        {"config": config.model_dump(mode="json"), "estimator": ESTIMATOR_SCHEMA, "analysis": ANALYSIS_SCHEMA},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return cache.CacheKey(reference_sha256, hashlib.sha256(canonical.encode()).hexdigest(), cache.library_versions())


def _hours(start: datetime, end: datetime) -> Iterable[datetime]:
    hour = to_utc(start).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        yield hour
        hour += _HOUR


def _chunk_starts(hour: datetime, period: timedelta) -> Iterable[datetime]:
    """Starts of the period chunks overlapping one hour (several when the period is shorter than an hour)."""
    start = chunk_start(hour, period)
    while start < hour + _HOUR:
        yield start
        start += period


def _fingerprint(start: datetime, end: datetime, counters: Mapping[datetime, HourCounterLike]) -> str:
    parts = []
    for hour in _hours(start, end):
        c = counters.get(hour)
        if c is not None:
            parts.append(f"{hour:%Y%m%d%H}:{c.rows}:{c.data_version}:{c.labels}:{c.label_version}")
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:24]


def plan_reuse(
    config: ModelConfig,
    store: ObjectStore,
    reference_sha256: str,
    counters: Iterable[HourCounterLike],
    window_start: datetime | None,
    window_end: datetime | None,
) -> ReusePlan | None:
    """Which chunks of the window keep their stored results and which time ranges must be read and estimated.

    None when the config chunks by size (size chunks are numbered over the whole stream) or no hour is counted:
    then the run is a full run.
    """
    from modelwatch.estimation.frames import period_chunk_key

    period = config.chunking.period_delta
    if period is None:
        return None
    period_ns = int(period.total_seconds() * 1_000_000_000)
    by_hour = {hour_of(c.hour): c for c in counters}
    starts = sorted({start for hour, c in by_hour.items() if c.rows > 0 for start in _chunk_starts(hour, period)})
    if not starts:  # nothing counted: a full run reads the lake as it is (and says so when it is empty)
        return None
    if window_start is not None:
        starts = [s for s in starts if s >= to_utc(window_start)]
    if window_end is not None:
        starts = [s for s in starts if s < to_utc(window_end)]
    key = state_key(config, reference_sha256)
    plan = ReusePlan(key=key, fingerprints={})
    keyed: list[tuple[str, datetime]] = []  # (chunk key, start) of every counted chunk in the window
    for start in starts:
        chunk_key = period_chunk_key(_number(start, period_ns), period_ns)
        plan.fingerprints[chunk_key] = _fingerprint(start, start + period, by_hour)
        keyed.append((chunk_key, start))
    plan.stored = load_state(store, config.name, key)
    stored = plan.stored.chunks if plan.stored is not None else {}
    for chunk_key, start in keyed:
        record = stored.get(chunk_key)
        if record is not None and record.fingerprint == plan.fingerprints[chunk_key]:
            plan.reused[chunk_key] = record
        elif plan.fresh_ranges and plan.fresh_ranges[-1][1] == start:
            plan.fresh_ranges[-1] = (plan.fresh_ranges[-1][0], start + period)
        else:
            plan.fresh_ranges.append((start, start + period))
    return plan


def _number(start: datetime, period_ns: int) -> int:
    """The period chunk number of a chunk start (as `frames.assign_period_chunks` numbers rows)."""
    return (to_utc(start) - EPOCH) // timedelta(microseconds=1) * 1000 // period_ns


def load_state(store: ObjectStore, model: str, key: cache.CacheKey) -> AnalysisState | None:
    try:
        state: AnalysisState | None = cache.load_artifact(store, model, key, ANALYSIS, AnalysisState)
    except UntrustedArtifactError as exc:
        logger.warning("stored analysis refused; running in full", model=model, error=str(exc))
        return None
    return state


def save_state(store: ObjectStore, model: str, key: cache.CacheKey, state: AnalysisState, now: datetime) -> None:
    """Store the state without the raw data nannyml's drift result keeps for distribution plots."""
    drift = state.drift
    if drift is not None:
        drift = copy.copy(drift)
        for name in ("analysis_data", "reference_data"):
            if hasattr(drift, name):
                setattr(drift, name, None)
    cache.store_artifact(
        store, model, key, ANALYSIS, AnalysisState(state.chunks, state.estimated, state.realized, drift), now
    )


def _chunk_column(data: pd.DataFrame, name: str) -> Any:
    """nannyml's chunk columns are ("chunk", name) or ("chunk", "chunk", name) (drift results)."""
    for column in data.columns:
        if column[0] == "chunk" and column[-1] == name:
            return column
    raise KeyError(name)


def combine(fresh: Any | None, stored: Any | None, keep: set[str], like: Any | None = None) -> Any | None:
    """One nannyml result holding the stored rows of the chunks in `keep` and the fresh analysis rows (the
    reference period dropped), in time order.

    When the stored result is missing (realized performance computed for the first time), the kept chunks get
    rows without values, their chunk columns taken from `like` (the stored estimated result), so plots line up.
    """
    import numpy as np
    import pandas as pd

    base = fresh if fresh is not None else stored
    if base is None:
        return None
    parts = []
    if keep:
        if stored is not None:
            data = stored.data
            parts.append(data.loc[data[_chunk_column(data, "key")].astype(str).isin(keep)])
        elif like is not None and fresh is not None:
            source = like.data.loc[like.data[_chunk_column(like.data, "key")].astype(str).isin(keep)]
            empty = pd.DataFrame(np.nan, index=source.index, columns=fresh.data.columns)
            for column in fresh.data.columns:
                if column[0] == "chunk" and ("chunk", column[-1]) in source.columns:
                    empty[column] = source[("chunk", column[-1])].to_numpy()
                elif column[-1] == "alert":
                    empty[column] = False
                elif column[-1] in ("upper_threshold", "lower_threshold") and len(fresh.data):
                    empty[column] = fresh.data[column].iloc[0]
            parts.append(empty)
    if fresh is not None:  # nannyml's own filter(period=...) deep-copies the whole result: filter the rows here
        period = fresh.data[_chunk_column(fresh.data, "period")]
        parts.append(fresh.data.loc[period == "analysis"])
    data = pd.concat(parts, ignore_index=True) if parts else base.data.iloc[0:0]
    data = data.sort_values(_chunk_column(data, "start_date"), kind="stable").reset_index(drop=True)
    data[_chunk_column(data, "chunk_index")] = np.arange(len(data))
    result = copy.copy(base)
    result.data = data
    return result
