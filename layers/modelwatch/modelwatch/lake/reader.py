"""Reads lake rows back: partition pruning on dt/hour, compaction manifests honoured, ground truth deduplicated.

Which files of a partition are read (see `lake.compaction` for the writer's side of the protocol):
- no manifest: every `*.parquet` file except `compacted-*` ones (those only count once a manifest lists them);
- with a manifest: the manifest's `live` files plus files listed in neither `live` nor `replaced` (source files
  written after the compaction). A live file that has disappeared, or a file deleted between listing and reading,
  means a newer compaction happened meanwhile: the partition is read again from its new manifest.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from modelwatch.clock import to_utc
from modelwatch.constants import (
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_LABEL_TIME,
    COL_ROW_IN_REQUEST,
    COL_SOURCE_KEY,
    COL_SOURCE_LINE,
    COL_SOURCE_MODIFIED,
    LAKE_CAPTURES,
    LAKE_GROUND_TRUTH,
    LAKE_MANIFESTS,
)
from modelwatch.errors import LakeError
from modelwatch.lake.layout import PARQUET_SUFFIX, Partition, manifest_key, model_prefix, parse_partition
from modelwatch.lake.store import ObjectStore

COMPACTED_PREFIX = "compacted-"
# Rows are filtered on this column when a time range is given.
TIME_COLUMNS = {LAKE_CAPTURES: COL_INFERENCE_TIME, LAKE_GROUND_TRUTH: COL_LABEL_TIME}
MAX_DAYS_LISTED_SEPARATELY = 62
READ_ATTEMPTS = 5
READ_THREADS = 8


@dataclass(frozen=True)
class Manifest:
    """A partition's compaction manifest: the live files and the source files they replaced (names only)."""

    live: list[str]
    replaced: list[str]
    generation: int = 1
    created_at: str = ""
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        body = {
            "live": self.live,
            "replaced": self.replaced,
            "generation": self.generation,
            "created_at": self.created_at,
            "rows": self.rows,
        }
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, source: str) -> Manifest:
        try:
            body = json.loads(data)
            return cls(
                live=[str(x) for x in body["live"]],
                replaced=[str(x) for x in body.get("replaced", [])],
                generation=int(body.get("generation", 1)),
                created_at=str(body.get("created_at", "")),
                rows=int(body.get("rows", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise LakeError(f"{source}: invalid compaction manifest: {exc}") from exc


class _PartitionChanged(Exception):
    """A compaction replaced files while the partition was being read."""


def load_manifest(store: ObjectStore, partition: Partition) -> Manifest | None:
    key = manifest_key(partition)
    try:
        data = store.get(key)
    except LakeError:
        return None
    return Manifest.from_json(data, store.uri(key))


def file_name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def readable_files(names: Iterable[str], manifest: Manifest | None) -> list[str]:
    """The file names a reader reads, given the partition's listed Parquet names and its manifest."""
    listed = sorted(n for n in names if n.endswith(PARQUET_SUFFIX))
    if manifest is None:
        return [n for n in listed if not n.startswith(COMPACTED_PREFIX)]
    present = set(listed)
    missing = [n for n in manifest.live if n not in present]
    if missing:
        raise _PartitionChanged(missing[0])
    known = set(manifest.live) | set(manifest.replaced)
    newer = [n for n in listed if n not in known and not n.startswith(COMPACTED_PREFIX)]
    return sorted(manifest.live) + newer


def _hour_bounds(partition: Partition) -> tuple[datetime, datetime]:
    start = to_utc(datetime.strptime(f"{partition.dt}T{partition.hour}", "%Y-%m-%dT%H"))
    return start, start + timedelta(hours=1)


def _overlaps(partition: Partition, start: datetime | None, end: datetime | None) -> bool:
    try:
        lower, upper = _hour_bounds(partition)
    except ValueError:
        return False
    if start is not None and upper <= to_utc(start):
        return False
    return not (end is not None and lower >= to_utc(end))


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = to_utc(start).date(), (to_utc(end) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def list_partitions(
    store: ObjectStore, area: str, model: str, start: datetime | None = None, end: datetime | None = None
) -> dict[Partition, list[str]]:
    """The model's partitions in an area overlapping [start, end), each with its listed file names."""
    base = model_prefix(area, model)
    if start is not None and end is not None and to_utc(end) <= to_utc(start):
        return {}
    if start is not None and end is not None and len(_days(start, end)) <= MAX_DAYS_LISTED_SEPARATELY:
        prefixes = [f"{base}dt={day.isoformat()}/" for day in _days(start, end)]
    else:
        prefixes = [base]
    found: dict[Partition, list[str]] = {}
    for prefix in prefixes:
        for key in store.list(prefix):
            partition = parse_partition(key)
            if partition is None or partition.area != area or partition.model != model:
                continue
            if _overlaps(partition, start, end):
                found.setdefault(partition, []).append(file_name(key))
    return found


def changed_partitions(
    before: dict[Partition, list[str]], after: dict[Partition, list[str]]
) -> dict[Partition, list[str]]:
    """The partitions of `after` whose files differ from `before` (new partitions, new or compacted files)."""
    return {p: names for p, names in after.items() if sorted(names) != sorted(before.get(p, []))}


def _read_parquet(data: bytes, columns: list[str] | None) -> pl.DataFrame:
    buffer = io.BytesIO(data)
    if columns is None:
        return pl.read_parquet(buffer)
    available = pl.read_parquet_schema(buffer)
    wanted = [c for c in columns if c in available]
    buffer.seek(0)
    return pl.read_parquet(buffer, columns=wanted)


def _fetch(store: ObjectStore, key: str) -> bytes:
    try:
        return store.get(key)
    except LakeError as exc:
        raise _PartitionChanged(key) from exc


def read_partition(store: ObjectStore, partition: Partition, columns: list[str] | None = None) -> pl.DataFrame:
    """Every live row of one partition (manifest honoured, re-read if a compaction interferes)."""
    frames = _read_partitions(store, {partition: None}, columns)
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _read_partitions(
    store: ObjectStore, partitions: dict[Partition, list[str] | None], columns: list[str] | None
) -> list[pl.DataFrame]:
    def read_one(item: tuple[Partition, list[str] | None]) -> list[pl.DataFrame]:
        partition, names = item
        for attempt in range(READ_ATTEMPTS):
            try:
                manifest = load_manifest(store, partition)
                if names is None or attempt or manifest is not None:
                    names_now = [file_name(k) for k in store.list(partition.prefix)]
                else:
                    names_now = names
                keys = [partition.key(n) for n in readable_files(names_now, manifest)]
                return [_read_parquet(_fetch(store, key), columns) for key in keys]
            except _PartitionChanged:
                continue
        raise LakeError(f"{store.uri(partition.prefix)}: files kept changing while reading (concurrent compaction)")

    ordered = sorted(partitions.items(), key=lambda item: (item[0].dt, item[0].hour))
    if len(ordered) <= 1:
        results = [read_one(item) for item in ordered]
    else:
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(ordered))) as pool:
            results = list(pool.map(read_one, ordered))
    return [frame for frames in results for frame in frames]


def _empty(columns: list[str] | None, schema: dict[str, pl.DataType] | None) -> pl.DataFrame:
    if schema is not None:
        wanted = columns if columns is not None else list(schema)
        return pl.DataFrame(schema={c: schema.get(c, pl.Null()) for c in wanted})
    return pl.DataFrame(schema={c: pl.Null() for c in columns or []})


def read_rows(
    store: ObjectStore,
    area: str,
    model: str,
    start: datetime | None = None,
    end: datetime | None = None,
    columns: list[str] | None = None,
    schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Rows of one model in one lake area whose time (inference time for captures, label time for ground truth)
    is in [start, end); only overlapping partitions are listed and read. An empty frame (with `columns`, typed by
    `schema` when given) when nothing matches."""
    return read_listed(store, area, list_partitions(store, area, model, start, end), start, end, columns, schema)


def read_listed(
    store: ObjectStore,
    area: str,
    listing: dict[Partition, list[str]],
    start: datetime | None = None,
    end: datetime | None = None,
    columns: list[str] | None = None,
    schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """`read_rows` over partitions already listed (`list_partitions`), e.g. to read only what changed since."""
    time_column = TIME_COLUMNS.get(area)
    read_columns = columns
    if columns is not None and time_column and (start or end) and time_column not in columns:
        read_columns = [*columns, time_column]
    partitions: dict[Partition, list[str] | None] = dict(listing)
    frames = [f for f in _read_partitions(store, partitions, read_columns) if f.height]
    if not frames:
        return _empty(columns, schema)
    frame = pl.concat(frames, how="diagonal_relaxed")
    if time_column and time_column in frame.columns and (start is not None or end is not None):
        moment = pl.col(time_column)
        if start is not None:
            frame = frame.filter(moment >= to_utc(start))
        if end is not None:
            frame = frame.filter(moment < to_utc(end))
    if columns is not None:
        frame = frame.select([c for c in columns if c in frame.columns])
    return frame


def latest_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """One label per (inference_id, row_in_request): the one from the latest source object (label time from the
    key's folder, then the object's LastModified, then its key), and within an object the latest line."""
    if frame.height == 0:
        return frame
    order = [c for c in (COL_LABEL_TIME, COL_SOURCE_MODIFIED, COL_SOURCE_KEY, COL_SOURCE_LINE) if c in frame.columns]
    ranked = frame.sort(order, nulls_last=False, maintain_order=True) if order else frame
    return ranked.unique(subset=[COL_INFERENCE_ID, COL_ROW_IN_REQUEST], keep="last", maintain_order=True)


def read_ground_truth(
    store: ObjectStore,
    model: str,
    start: datetime | None = None,
    end: datetime | None = None,
    columns: list[str] | None = None,
    schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """The model's labels (label time in [start, end), default all), latest per (inference_id, row_in_request)."""
    needed = [
        COL_INFERENCE_ID,
        COL_ROW_IN_REQUEST,
        COL_LABEL_TIME,
        COL_SOURCE_MODIFIED,
        COL_SOURCE_KEY,
        COL_SOURCE_LINE,
    ]
    read_columns = None if columns is None else list(dict.fromkeys([*columns, *needed]))
    frame = read_rows(store, LAKE_GROUND_TRUTH, model, start, end, read_columns, schema)
    frame = latest_labels(frame)
    if columns is not None:
        frame = frame.select([c for c in columns if c in frame.columns])
    return frame


def manifest_prefix(area: str, model: str) -> str:
    return f"{LAKE_MANIFESTS}/{model_prefix(area, model)}"


def lake_models(store: ObjectStore, areas: tuple[str, ...] = (LAKE_CAPTURES, LAKE_GROUND_TRUTH)) -> list[str]:
    """Model names that have files in the given areas (lists every key: for folders, not big buckets)."""
    names = set()
    for area in areas:
        for key in store.list(f"{area}/model="):
            partition = parse_partition(key)
            if partition is not None:
                names.add(partition.model)
    return sorted(names)
