"""Reads lake rows back: partition pruning on dt/hour, compaction manifests honoured, each record counted once.

Which files of a partition are read (see `lake.compaction` for the writer's side of the protocol):
- no manifest: every `*.parquet` file except `compacted-*` ones (those only count once a manifest lists them);
- with a manifest: the manifest's `live` files plus files listed in neither `live` nor `replaced` (source files
  written after the compaction). A live file that has disappeared, or a file deleted between listing and reading,
  means a newer compaction happened meanwhile: the partition is read again from its new manifest.

`read_rows` returns the rows as stored. What analysis reads goes through `read_captures` (each captured record once:
an overwritten object's older versions superseded, the same record from another object kept once) and
`read_ground_truth` (the latest label per request row).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import polars as pl

from modelwatch.clock import to_utc
from modelwatch.constants import (
    COL_EVENT_ID,
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_INGESTED_AT,
    COL_LABEL_TIME,
    COL_ROW_IN_REQUEST,
    COL_SOURCE_ID,
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
# What identifies a captured record, and which version of which source object a stored row came from.
RECORD_KEY = (COL_EVENT_ID, COL_ROW_IN_REQUEST)
SOURCE_COLUMNS = (COL_SOURCE_ID, COL_SOURCE_MODIFIED, COL_INGESTED_AT)
# What read_captures needs of every row to keep each record once, whatever columns it is asked for or left without
SETTLE_COLUMNS = (COL_INFERENCE_TIME, *RECORD_KEY, *SOURCE_COLUMNS)
_ROW = "__mw_row"
T = TypeVar("T")
R = TypeVar("R")


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


def _read_parquet(
    data: bytes, columns: list[str] | None, without: Collection[str] = (), where: pl.Expr | None = None
) -> pl.DataFrame:
    """One file's rows (only `columns`, never `without`); with `where`, only the rows it keeps, filtered as the file
    is decoded (a file of an hour's 4.2M labels is never held whole to keep a few)."""
    buffer = io.BytesIO(data)
    if columns is None and not without and where is None:
        return pl.read_parquet(buffer)
    available = pl.read_parquet_schema(buffer)
    wanted = [c for c in (columns if columns is not None else available) if c in available and c not in without]
    buffer.seek(0)
    if where is None:
        return pl.read_parquet(buffer, columns=wanted)
    if any(name not in available for name in where.meta.root_names()):
        # a file without the columns the filter reads (not ours): none of its rows can be kept, as a row without an
        # inference id never matches one
        return pl.DataFrame(schema={c: available[c] for c in wanted})
    return pl.scan_parquet(buffer).select(wanted).filter(where).collect()


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
    store: ObjectStore,
    partitions: dict[Partition, list[str] | None],
    columns: list[str] | None,
    where: pl.Expr | None = None,
) -> list[pl.DataFrame]:
    """Every file's rows of the partitions (those `where` keeps), in (dt, hour) order."""
    ordered = sorted(partitions.items(), key=lambda item: (item[0].dt, item[0].hour))
    return [frame for frames in _read_grouped(store, ordered, columns, where=where) for frame in frames]


def _in_pool(work: Callable[[T], R], items: list[T]) -> list[R]:
    """`work` over the items, in threads when there is more than one (polars and S3 reads release the GIL)."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(items))) as pool:
        return list(pool.map(work, items))


def _read_grouped(
    store: ObjectStore,
    ordered: list[tuple[Partition, list[str] | None]],
    columns: list[str] | None,
    without: Collection[str] = (),
    where: pl.Expr | None = None,
) -> list[list[pl.DataFrame]]:
    """Each partition's file frames (one list per partition, in the given order), `without` those columns, only the
    rows `where` keeps."""

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
                return [_read_parquet(_fetch(store, key), columns, without, where) for key in keys]
            except _PartitionChanged:
                continue
        raise LakeError(f"{store.uri(partition.prefix)}: files kept changing while reading (concurrent compaction)")

    return _in_pool(read_one, ordered)


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
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Rows of one model in one lake area whose time (inference time for captures, label time for ground truth)
    is in [start, end) and that `where` keeps; only overlapping partitions are listed and read. An empty frame
    (with `columns`, typed by `schema` when given) when nothing matches."""
    listing = list_partitions(store, area, model, start, end)
    return read_listed(store, area, listing, start, end, columns, schema, where)


def read_listed(
    store: ObjectStore,
    area: str,
    listing: dict[Partition, list[str]],
    start: datetime | None = None,
    end: datetime | None = None,
    columns: list[str] | None = None,
    schema: dict[str, pl.DataType] | None = None,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """`read_rows` over partitions already listed (`list_partitions`), e.g. to read only what changed since."""
    time_column = TIME_COLUMNS.get(area)
    read_columns = columns
    if columns is not None and time_column and (start or end) and time_column not in columns:
        read_columns = [*columns, time_column]
    partitions: dict[Partition, list[str] | None] = dict(listing)
    frames = [f for f in _read_partitions(store, partitions, read_columns, where) if f.height]
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
    ids: pl.Series | None = None,
) -> pl.DataFrame:
    """The model's labels (label time in [start, end), default all), latest per (inference_id, row_in_request);
    with `ids`, only the labels of those inference ids (labels land long after their inference, so a run reading
    an hour's captures would otherwise hold every label since: a day of them at 100M inferences a day)."""
    needed = [
        COL_INFERENCE_ID,
        COL_ROW_IN_REQUEST,
        COL_LABEL_TIME,
        COL_SOURCE_MODIFIED,
        COL_SOURCE_KEY,
        COL_SOURCE_LINE,
    ]
    read_columns = None if columns is None else list(dict.fromkeys([*columns, *needed]))
    where = None
    if ids is not None:  # ids are text in the lake; compared as text whatever a file or the caller typed them as
        where = pl.col(COL_INFERENCE_ID).cast(pl.String).is_in(ids.cast(pl.String).implode())
    frame = read_rows(store, LAKE_GROUND_TRUTH, model, start, end, read_columns, schema, where)
    frame = latest_labels(frame)
    if columns is not None:
        frame = frame.select([c for c in columns if c in frame.columns])
    return frame


@dataclass(frozen=True)
class CaptureRows:
    """Captured rows, each record once, and how many stored rows were left out and why."""

    frame: pl.DataFrame
    superseded: int = 0  # rows of an object version that a newer version of the same object replaced
    duplicates: int = 0  # rows repeating a record (event_id, row_in_request) kept from another row

    @property
    def left_out(self) -> int:
        return self.superseded + self.duplicates


def read_captures(
    store: ObjectStore,
    model: str,
    ranges: Sequence[tuple[datetime | None, datetime | None]],
    columns: list[str] | None = None,
    without: Collection[str] = (),
) -> CaptureRows:
    """The model's captured rows whose inference time is in any of the ranges, each record once; only `columns`
    (with the record's key, time and source) when given, and never the `without` columns (features a monitor does
    not read: never read from the files, so never held in memory).

    A record is its (event_id, row_in_request). Ingestion writes with every row which source object and which
    version of it the row came from (`COL_SOURCE_ID`, the object's LastModified, the ingest time): the rows of an
    object version older than another version of the same object among the rows read are superseded; then of rows
    sharing a record (a copy of a file under another name, a record in two files) the latest ingested is kept. A
    record's copies share its inference time, so they share a partition: duplicates are found per partition, in
    threads, and only when a hash check finds any. Rows stored before ingestion recorded their source are only
    de-duplicated.
    """
    listing: dict[Partition, list[str]] = {}
    for start, end in ranges:
        listing.update(list_partitions(store, LAKE_CAPTURES, model, start, end))
    read_columns = None
    if columns is not None:
        read_columns = list(dict.fromkeys([*columns, *SETTLE_COLUMNS]))
    ordered = sorted(listing.items(), key=lambda item: (item[0].dt, item[0].hour))
    left_out = set(without) - set(SETTLE_COLUMNS)
    grouped = _read_grouped(store, [(p, names) for p, names in ordered], read_columns, left_out)
    stale = _superseded_versions([v for files in grouped for f in files if (v := _versions(f)) is not None])

    def settle(item: tuple[Partition, list[pl.DataFrame]]) -> CaptureRows | None:
        partition, files = item
        files = [f for f in files if f.height]
        if not files:
            return None
        frame = _in_ranges(pl.concat(files, how="diagonal_relaxed"), _ranges_of(partition, ranges))
        superseded = 0
        if stale is not None and all(c in frame.columns for c in SOURCE_COLUMNS):
            kept = frame.join(stale, on=list(SOURCE_COLUMNS), how="anti", nulls_equal=True)
            superseded, frame = frame.height - kept.height, kept
        frame, duplicates = _unique_records(frame)
        return CaptureRows(frame, superseded, duplicates)

    parts = [p for p in _in_pool(settle, [(p, files) for (p, _), files in zip(ordered, grouped, strict=True)]) if p]
    frames = [p.frame for p in parts if p.frame.height]
    if not frames:
        return CaptureRows(_empty(columns, None), sum(p.superseded for p in parts), sum(p.duplicates for p in parts))
    frame = pl.concat(frames, how="diagonal_relaxed")
    if columns is not None:
        frame = frame.select([c for c in columns if c in frame.columns])
    return CaptureRows(frame, sum(p.superseded for p in parts), sum(p.duplicates for p in parts))


def _versions(frame: pl.DataFrame) -> pl.DataFrame | None:
    """The (source, LastModified, ingest time) triples of a file's rows: one for a file ingestion wrote, several for
    a compacted one; None for rows stored without their source."""
    if frame.height == 0 or not all(c in frame.columns for c in SOURCE_COLUMNS):
        return None
    triples = frame.select(SOURCE_COLUMNS)
    if all(n == 1 for n in triples.select(pl.all().n_unique()).row(0)):
        return triples.head(1)
    return triples.unique()


def _superseded_versions(versions: list[pl.DataFrame]) -> pl.DataFrame | None:
    """The versions older than another version of the same source object (by LastModified, then ingest time);
    None when every source has one version (the usual case: nothing to filter)."""
    if not versions:
        return None
    table = pl.concat(versions, how="vertical_relaxed").unique().filter(pl.col(COL_SOURCE_ID).is_not_null())
    if table.height == table[COL_SOURCE_ID].n_unique():
        return None
    ranked = table.sort([COL_SOURCE_MODIFIED, COL_INGESTED_AT], nulls_last=False, maintain_order=True)
    latest = ranked.unique(subset=[COL_SOURCE_ID], keep="last", maintain_order=True)
    return table.join(latest, on=list(SOURCE_COLUMNS), how="anti", nulls_equal=True)


def _unique_records(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Each record once, the latest ingested copy kept (rows in their order); the number of copies dropped."""
    if frame.height < 2 or not all(c in frame.columns for c in RECORD_KEY):
        return frame, 0
    key = pl.col(COL_EVENT_ID).hash(seed=1) ^ pl.col(COL_ROW_IN_REQUEST).cast(pl.UInt64).hash(seed=2)
    if frame.select(key.n_unique()).item() == frame.height:  # no two rows share a record (fast path)
        return frame, 0
    order = [c for c in (COL_SOURCE_MODIFIED, COL_INGESTED_AT) if c in frame.columns]
    ranked = frame.with_row_index(_ROW)
    if order:
        ranked = ranked.sort(order, nulls_last=False, maintain_order=True)
    kept = ranked.unique(subset=list(RECORD_KEY), keep="last", maintain_order=True).sort(_ROW).drop(_ROW)
    return kept, frame.height - kept.height


def _ranges_of(
    partition: Partition, ranges: Sequence[tuple[datetime | None, datetime | None]]
) -> list[tuple[datetime | None, datetime | None]]:
    return [(start, end) for start, end in ranges if _overlaps(partition, start, end)]


def _in_ranges(frame: pl.DataFrame, ranges: Sequence[tuple[datetime | None, datetime | None]]) -> pl.DataFrame:
    """The rows whose inference time is in any of the ranges."""
    if COL_INFERENCE_TIME not in frame.columns or any(s is None and e is None for s, e in ranges):
        return frame
    moment = pl.col(COL_INFERENCE_TIME)
    conditions = []
    for start, end in ranges:
        condition = pl.lit(True)
        if start is not None:
            condition = condition & (moment >= to_utc(start))
        if end is not None:
            condition = condition & (moment < to_utc(end))
        conditions.append(condition)
    return frame.filter(pl.any_horizontal(conditions)) if conditions else frame


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
