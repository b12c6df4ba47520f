"""Compaction: merge a partition's many small per-source files into few large ones, with a manifest readers honour.

Protocol (readers: `lake.reader.readable_files`), so a concurrent reader never reads a row twice or misses one:
1. Inputs are the files a reader would read now (the current manifest's live files plus newer source files).
2. The merged rows are written as `compacted-<hash of the input names>[-i].parquet`. Readers ignore `compacted-*`
   files that no manifest lists, so these new files are invisible until step 3 (and a crash here leaves only
   invisible garbage that the next run overwrites under the same name or deletes).
3. The manifest (`layout.manifest_key(partition)`) is overwritten in one PUT: `live` = the new files, `replaced` =
   the previous `replaced` plus every input. From now on readers read only the new files plus source files that
   arrive later (listed in neither list). A source file re-written later under a replaced name (a retried ingest
   whose object was not yet recorded) stays ignored: its rows are already in a live file.
4. The replaced files are deleted. A reader that loaded the previous manifest and finds a file gone re-reads the
   partition from the new manifest (`lake.reader` retries), so it never mixes the two generations.
Two compactions of the same partition must not overlap (the later manifest would orphan the other's rows); a
`CompactionLease` (the state table's, `state.leases`) serialises them: the scheduled function and the CLI pass one.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelwatch.clock import Clock, SystemClock, to_utc
from modelwatch.constants import LAKE_CAPTURES, LAKE_GROUND_TRUTH
from modelwatch.errors import LakeError
from modelwatch.lake.layout import Partition, manifest_key
from modelwatch.lake.reader import (
    COMPACTED_PREFIX,
    PARQUET_SUFFIX,
    Manifest,
    _PartitionChanged,
    _read_parquet,
    file_name,
    list_partitions,
    load_manifest,
    readable_files,
)
from modelwatch.lake.store import ObjectStore
from modelwatch.lake.writer import parquet_bytes
from modelwatch.observability import logger

COMPACTED_AREAS = (LAKE_CAPTURES, LAKE_GROUND_TRUTH)
MAX_ROWS_PER_FILE = 2_000_000
LEASE = timedelta(minutes=20)


class CompactionLease(Protocol):
    """Holds one partition's compaction lease for a block; yields False when another holder has it."""

    def compaction(self, partition_prefix: str, now: datetime, until: datetime) -> AbstractContextManager[bool]: ...


@dataclass
class CompactionResult:
    """What one partition's compaction did."""

    partition: Partition
    compacted: bool
    inputs: int = 0
    rows: int = 0
    live: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    reason: str = ""

    def summary(self) -> dict[str, object]:
        return {
            "partition": self.partition.prefix,
            "compacted": self.compacted,
            "inputs": self.inputs,
            "rows": self.rows,
            "live": self.live,
            "deleted": len(self.deleted),
            "reason": self.reason,
        }


def compacted_names(inputs: list[str], parts: int) -> list[str]:
    digest = hashlib.sha256("\0".join(sorted(inputs)).encode()).hexdigest()[:24]
    if parts == 1:
        return [f"{COMPACTED_PREFIX}{digest}{PARQUET_SUFFIX}"]
    return [f"{COMPACTED_PREFIX}{digest}-{i:03d}{PARQUET_SUFFIX}" for i in range(parts)]


def compact_partition(
    store: ObjectStore,
    partition: Partition,
    *,
    lease: CompactionLease | None = None,
    clock: Clock | None = None,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
) -> CompactionResult:
    """Merge the partition's readable files into few large files, switch the manifest, delete what was replaced."""
    clock = clock or SystemClock()
    if lease is None:
        return _compact(store, partition, clock, max_rows_per_file)
    with lease.compaction(partition.prefix, clock.now(), clock.now() + LEASE) as held:
        if not held:
            return CompactionResult(partition, False, reason="another compaction holds the lease")
        return _compact(store, partition, clock, max_rows_per_file)


def _compact(store: ObjectStore, partition: Partition, clock: Clock, max_rows_per_file: int) -> CompactionResult:
    manifest = load_manifest(store, partition)
    names = [file_name(k) for k in store.list(partition.prefix)]
    try:
        inputs = readable_files(names, manifest)
    except _PartitionChanged as exc:
        raise LakeError(f"{store.uri(partition.prefix)}: manifest lists a missing file {exc}") from exc
    replaced_before = set(manifest.replaced) if manifest else set()
    # Re-written copies of replaced files and orphans of an interrupted compaction: never read, safe to delete.
    garbage = [
        n
        for n in names
        if n.endswith(PARQUET_SUFFIX)
        and n not in inputs
        and (n in replaced_before or (n.startswith(COMPACTED_PREFIX) and (not manifest or n not in manifest.live)))
    ]
    already = manifest is not None and len(inputs) == len(manifest.live) and set(inputs) == set(manifest.live)
    if len(inputs) <= 1 or already:
        store.delete([partition.key(n) for n in garbage])
        return CompactionResult(
            partition, False, inputs=len(inputs), live=inputs, deleted=garbage, reason="nothing to merge"
        )

    frames = [_read_parquet(store.get(partition.key(n)), None) for n in inputs]
    merged = pl.concat(frames, how="diagonal_relaxed")
    parts = max(1, -(-merged.height // max_rows_per_file))
    outputs = compacted_names(inputs, parts)
    for index, name in enumerate(outputs):
        piece = merged.slice(index * max_rows_per_file, max_rows_per_file)
        store.put(partition.key(name), parquet_bytes(piece))

    new_manifest = Manifest(
        live=outputs,
        replaced=sorted(replaced_before | {n for n in inputs if n not in outputs}),
        generation=(manifest.generation + 1) if manifest else 1,
        created_at=to_utc(clock.now()).isoformat(),
        rows=merged.height,
    )
    store.put(manifest_key(partition), new_manifest.to_json(), "application/json")
    deleted = sorted(({*inputs, *garbage}) - set(outputs))
    store.delete([partition.key(n) for n in deleted])
    logger.info(
        "compacted partition",
        partition=partition.prefix,
        inputs=len(inputs),
        rows=merged.height,
        outputs=len(outputs),
        generation=new_manifest.generation,
    )
    return CompactionResult(partition, True, inputs=len(inputs), rows=merged.height, live=outputs, deleted=deleted)


def day_partitions(store: ObjectStore, area: str, model: str, day: date) -> list[Partition]:
    start = to_utc(datetime(day.year, day.month, day.day))
    found = list_partitions(store, area, model, start, start + timedelta(days=1))
    return sorted(found, key=lambda p: p.hour)


def compact_day(
    store: ObjectStore,
    models: list[str],
    day: date,
    *,
    areas: tuple[str, ...] = COMPACTED_AREAS,
    lease: CompactionLease | None = None,
    clock: Clock | None = None,
) -> list[CompactionResult]:
    """Compact every hourly partition of the given models and day in the given areas."""
    results = []
    for model in models:
        for area in areas:
            for partition in day_partitions(store, area, model, day):
                results.append(compact_partition(store, partition, lease=lease, clock=clock))
    return results


class CompactRequest(BaseModel):
    """What to compact: `{"days_ago": 1}` (every registered model) or `{"model": ..., "dt": "YYYY-MM-DD"}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_ago: int | None = Field(default=None, ge=0)
    model: str | None = None
    dt: date | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CompactRequest:
        if self.days_ago is None and self.dt is None:
            raise ValueError("give days_ago, or dt (with an optional model)")
        if self.days_ago is not None and self.dt is not None:
            raise ValueError("give either days_ago or dt, not both")
        return self

    def day(self, now: datetime) -> date:
        if self.dt is not None:
            return self.dt
        return (to_utc(now) - timedelta(days=self.days_ago or 0)).date()


def run_compaction(
    request: CompactRequest,
    *,
    store: ObjectStore,
    models: list[str],
    lease: CompactionLease | None = None,
    clock: Clock | None = None,
) -> dict[str, object]:
    """Compact one day of the requested model (or of every given model); a JSON-able summary."""
    clock = clock or SystemClock()
    day = request.day(clock.now())
    chosen = [request.model] if request.model else models
    results = compact_day(store, chosen, day, lease=lease, clock=clock)
    return {
        "day": day.isoformat(),
        "models": chosen,
        "partitions": len(results),
        "compacted": sum(r.compacted for r in results),
        "files_replaced": sum(len(r.deleted) for r in results),
        "rows": sum(r.rows for r in results),
    }
