"""Incremental runs: a monitor analyses only the period chunks whose inputs changed since it last analysed them.

A chunk's results depend only on the monitor's baseline and the chunk's own rows and labels (CBPE, DLE, realized
performance and univariate drift are all per chunk, with thresholds fixed at fit time). So each monitor stores its
analysed chunks' results rows with a fingerprint of their inputs (the hour counters ingestion keeps: rows, data
version, labels and label version of each hour the chunk spans), and the next run re-analyses only chunks whose
fingerprint changed or that it has not analysed before; the rest are taken from the stored rows. A run over a 14-day
lookback after one new hour reads and analyses one hour, not 14 days.

The stored analysis is a results Parquet (no pickle) next to the monitor's baseline, `models/<m>/<monitor>/
analysis.parquet`, with a manifest keyed by the reference bytes, the whole model config and the library versions
and signed like the baseline's (`monitors.artifacts`: rows anyone else wrote are never reused): any change there
means a full run. Size chunks, and callers that pass no hour counters, always get a full run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelwatch.chunks import chunk_number, hour_of, hours_between, starts_overlapping_hour
from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.errors import LakeError, UntrustedArtifactError
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors import artifacts
from modelwatch.monitors.base import ChunkInfo
from modelwatch.monitors.nml import ESTIMATOR_SCHEMA
from modelwatch.monitors.results import from_parquet, to_parquet
from modelwatch.monitors.versions import version_parts
from modelwatch.observability import logger
from modelwatch.signing import Signer
from modelwatch.state import HourCounter

if TYPE_CHECKING:
    import pandas as pd

ANALYSIS = "analysis"
ANALYSIS_SCHEMA = 3  # bump when the stored analysis' shape or meaning changes


@dataclass
class StoredAnalysis:
    """A monitor's results rows of the chunks its latest run analysed, and each chunk's input fingerprint."""

    table: pd.DataFrame
    fingerprints: dict[str, str]


@dataclass
class ReusePlan:
    """What a run can take from the stored analysis, and the fingerprints of every chunk it covers."""

    key: artifacts.CacheKey
    fingerprints: dict[str, str]  # chunk key -> fingerprint, for every chunk with counted rows in the window
    stored: StoredAnalysis | None = None
    reused: dict[str, ChunkInfo] = field(default_factory=dict)  # unchanged chunks, by key
    fresh_chunks: list[tuple[datetime, datetime, int]] = field(default_factory=list)  # to read: start, end, rows

    def batches(self, max_rows: int | None) -> list[list[tuple[datetime, datetime, int]]]:
        """The fresh chunks (start, end, counted rows) in time order, in batches of at most `max_rows` counted rows
        (a bigger chunk alone; None: one batch). A run analyses one batch at a time: two hours of 4.2M rows held at
        once took the label-reading steps over the function's memory."""
        batches: list[list[tuple[datetime, datetime, int]]] = []
        rows = 0
        for chunk in self.fresh_chunks:
            if not batches or (max_rows is not None and rows + chunk[2] > max_rows):
                batches.append([])
                rows = 0
            batches[-1].append(chunk)
            rows += chunk[2]
        return batches

    def reused_rows(self) -> pd.DataFrame | None:
        """The stored rows of the reused chunks."""
        if self.stored is None or not self.reused:
            return None
        table = self.stored.table
        return table.loc[table["chunk_key"].isin(set(self.reused))]


def merged_ranges(chunks: Iterable[tuple[datetime, datetime, int]]) -> list[tuple[datetime, datetime]]:
    """The chunks' time ranges in order, adjacent ones merged (one read each)."""
    ranges: list[tuple[datetime, datetime]] = []
    for start, end, _ in chunks:
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def state_key(config: ModelConfig, monitor: str, reference_sha256: str) -> artifacts.CacheKey:
    """Stored results are valid for the same reference, the same whole config and the same libraries."""
    identity = {
        "config": config.model_dump(mode="json"),
        "monitor": monitor,
        "estimator": ESTIMATOR_SCHEMA,
        "analysis": ANALYSIS_SCHEMA,
    }
    return artifacts.CacheKey(reference_sha256, artifacts.digest(identity), artifacts.library_versions())


def fingerprint(start: datetime, end: datetime, counters: Mapping[datetime, HourCounter], labels: bool = True) -> str:
    """A digest of the hour counters of every hour a chunk spans: it changes when the chunk's rows do, and with
    `labels` (a monitor that reads them) when its labels do."""
    parts = []
    for hour in hours_between(start, end):
        c = counters.get(hour)
        if c is not None:
            counted = f"{hour:%Y%m%d%H}:{c.rows}:{c.data_version}"
            parts.append(f"{counted}:{c.labels}:{c.label_version}" if labels else counted)
    return artifacts.digest(";".join(parts))[:24]


def plan_reuse(
    config: ModelConfig,
    monitor: str,
    store: ObjectStore,
    reference_sha256: str,
    counters: Iterable[HourCounter],
    window_start: datetime | None,
    window_end: datetime | None,
    signer: Signer,
    reads_labels: bool = True,
) -> ReusePlan | None:
    """Which chunks of the window keep their stored results and which time ranges must be read and analysed; labels
    landing change a chunk only for a monitor that `reads_labels` (drift of an hour whose labels land is what it
    was: an hour of 4.2M rows re-analysed for nothing held it twice over).

    None when the config chunks by size (size chunks are numbered over the whole stream) or no hour is counted:
    then the run is a full run.
    """
    period = config.chunking.period_delta
    if period is None:
        return None
    by_hour = {hour_of(c.hour): c for c in counters}
    starts = sorted({s for hour, c in by_hour.items() if c.rows > 0 for s in starts_overlapping_hour(hour, period)})
    if not starts:  # nothing counted: a full run reads the lake as it is (and says so when it is empty)
        return None
    if window_start is not None:
        starts = [s for s in starts if s >= to_utc(window_start)]
    if window_end is not None:
        starts = [s for s in starts if s < to_utc(window_end)]
    plan = ReusePlan(key=state_key(config, monitor, reference_sha256), fingerprints={})
    keyed: list[tuple[list[str], datetime]] = []  # (chunk keys, start) of every counted chunk in the window
    for start in starts:
        keys = version_parts(config, start, period)  # the chunk's key, or one per version live in it
        for chunk_key in keys:
            plan.fingerprints[chunk_key] = fingerprint(start, start + period, by_hour, reads_labels)
        keyed.append((keys, start))
    plan.stored = load_analysis(store, config.name, monitor, plan.key, signer)
    stored = plan.stored.fingerprints if plan.stored is not None else {}
    chunks = _stored_chunks(plan.stored, period) if plan.stored is not None else {}
    for keys, start in keyed:
        # A chunk split at a version switch is reused only whole: its rows are read once for both parts.
        if all(k in chunks and stored.get(k) == plan.fingerprints[k] for k in keys):
            plan.reused.update({k: chunks[k] for k in keys})
        else:
            plan.fresh_chunks.append((start, start + period, _counted_rows(start, start + period, by_hour)))
    return plan


def _counted_rows(start: datetime, end: datetime, counters: Mapping[datetime, HourCounter]) -> int:
    """The rows counted in the hours a chunk spans (every row of those hours for a chunk shorter than an hour)."""
    return sum(c.rows for hour in hours_between(start, end) if (c := counters.get(hour)) is not None)


def _stored_chunks(stored: StoredAnalysis, period: timedelta) -> dict[str, ChunkInfo]:
    """The chunks of the stored rows (their windows, counts and versions are on every row)."""
    table = stored.table
    found: dict[str, ChunkInfo] = {}
    for row in table.drop_duplicates("chunk_key").itertuples():
        start = to_utc(row.chunk_start.to_pydatetime())
        end = to_utc(row.chunk_end.to_pydatetime())
        version = getattr(row, "version", None)
        found[str(row.chunk_key)] = ChunkInfo(
            key=str(row.chunk_key),
            number=chunk_number(start, period),  # a version's part of a chunk has the chunk's number
            start=start,
            end=end,
            rows=int(row.rows),
            labelled_rows=int(row.labelled_rows),
            version=version if isinstance(version, str) else None,
        )
    return found


def load_analysis(
    store: ObjectStore, model: str, monitor: str, key: artifacts.CacheKey, signer: Signer
) -> StoredAnalysis | None:
    """The monitor's stored analysis when its manifest matches `key`, its proof verifies with `signer` and its
    bytes their hash; None otherwise (a refused one is logged)."""
    artifact = artifacts.Artifact(model, monitor, ANALYSIS, ".parquet")
    try:
        found = artifacts.load_body(store, artifact, key, signer)
    except UntrustedArtifactError as exc:
        logger.warning("stored analysis refused; running in full", model=model, monitor=monitor, refused=str(exc))
        return None
    if found is None:
        return None
    body, manifest = found
    fingerprints = manifest.get("fingerprints")
    if not isinstance(fingerprints, dict):
        return None
    try:
        return StoredAnalysis(from_parquet(body), {str(k): str(v) for k, v in fingerprints.items()})
    except (LakeError, ValueError, KeyError) as exc:
        logger.warning("stored analysis unreadable; running in full", model=model, monitor=monitor, error=str(exc))
        return None


def save_analysis(
    store: ObjectStore,
    model: str,
    monitor: str,
    key: artifacts.CacheKey,
    table: pd.DataFrame,
    fingerprints: dict[str, str],
    now: datetime,
    signer: Signer,
) -> None:
    """Store the rows of the chunks that have a fingerprint (counted chunks), with their fingerprints, signed."""
    kept = {k: v for k, v in fingerprints.items() if v}
    rows = table.loc[table["chunk_key"].isin(set(kept))]
    artifact = artifacts.Artifact(model, monitor, ANALYSIS, ".parquet")
    extra: dict[str, Any] = {"fingerprints": json.loads(json.dumps(kept))}
    artifacts.store_body(store, artifact, key, to_parquet(rows), now, signer, extra)
