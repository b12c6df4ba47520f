"""Decode one source stream for one model and write it to a lake (S3 or a local folder): the step shared by the
ingest functions and `modelwatch decode`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import BinaryIO

import polars as pl

from modelwatch.capture import QuarantinedRecord, iter_decode_capture, iter_decode_ground_truth
from modelwatch.capture.decode import DEFAULT_BATCH_LINES, TIME_DTYPE
from modelwatch.capture.records import open_payload
from modelwatch.chunks import floor_hour
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_LABEL_TIME,
    COL_ROW_IN_REQUEST,
    COL_SOURCE_LINE,
    COL_SOURCE_MODIFIED,
    LAKE_CAPTURES,
    LAKE_GROUND_TRUTH,
)
from modelwatch.ingest.keys import folder_hour
from modelwatch.lake.layout import Partition
from modelwatch.lake.reader import changed_partitions, list_partitions, read_listed
from modelwatch.lake.store import ObjectStore
from modelwatch.lake.writer import PartitionedWriter, WrittenFile, with_source, write_quarantine


@dataclass
class ModelOutcome:
    """What decoding one source object for one model produced."""

    model: str
    records: int = 0
    rows: int = 0
    quarantined: int = 0
    rows_without_prediction: int = 0
    feature_issues: dict[str, int] = field(default_factory=dict)  # damaged feature values stored as missing
    rows_with_extra_keys: int = 0  # JSON request rows with keys no feature reads
    files: list[WrittenFile] = field(default_factory=list)
    quarantine_file: WrittenFile | None = None
    rows_per_hour: dict[datetime, int] = field(default_factory=dict)
    labels_of_other_variants: int = 0  # labels another variant of the model captured (not unmatched)
    first_time: datetime | None = None
    last_time: datetime | None = None

    def summary(self) -> dict[str, object]:
        return {
            "model": self.model,
            "records": self.records,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "rows_without_prediction": self.rows_without_prediction,
            "feature_issues": dict(sorted(self.feature_issues.items())),
            "rows_with_extra_keys": self.rows_with_extra_keys,
            "files": [f.key for f in self.files],
            "quarantine_file": self.quarantine_file.key if self.quarantine_file else None,
        }


def _hours(frame: pl.DataFrame, column: str) -> dict[datetime, int]:
    if frame.height == 0:
        return {}
    counts = frame.group_by(pl.col(column).dt.truncate("1h").alias("_hour")).len()
    return {floor_hour(row["_hour"]): int(row["len"]) for row in counts.iter_rows(named=True)}


def decode_capture_to_lake(
    stream: BinaryIO,
    config: ModelConfig,
    source: str,
    store: ObjectStore,
    stem: str,
    processed_at: datetime,
    batch_lines: int = DEFAULT_BATCH_LINES,
    arrived: datetime | None = None,
) -> ModelOutcome:
    """Stream-decode a capture file, write its rows by inference hour and its quarantined records.

    `arrived` (the object's LastModified): records timed too far after it are quarantined (`validation`); it is
    stored with the rows, with the source and `processed_at`: the reader keeps the rows of an object's latest version
    and each record once."""
    writer = PartitionedWriter(store, LAKE_CAPTURES, config.name, COL_INFERENCE_TIME, stem)
    outcome = ModelOutcome(config.name)
    quarantined = []
    # batch transform records without an inference time (Model Monitor's merged ones) take their file's hour
    batches = iter_decode_capture(
        stream, config, source, batch_lines=batch_lines, arrived=arrived, default_time=folder_hour(source)
    )
    for batch in batches:
        writer.add(with_source(batch.rows, source, arrived, processed_at))
        outcome.records += batch.records
        outcome.rows += batch.rows.height
        outcome.rows_without_prediction += batch.rows_without_prediction
        for issue, count in batch.feature_issues.items():
            outcome.feature_issues[issue] = outcome.feature_issues.get(issue, 0) + count
        outcome.rows_with_extra_keys += batch.rows_with_extra_keys
        quarantined.extend(batch.quarantined)
        if batch.rows.height:
            times = batch.rows[COL_INFERENCE_TIME].drop_nulls()
            if times.len():
                low, high = times.min(), times.max()
                assert isinstance(low, datetime) and isinstance(high, datetime)
                outcome.first_time = low if outcome.first_time is None else min(outcome.first_time, low)
                outcome.last_time = high if outcome.last_time is None else max(outcome.last_time, high)
    outcome.files = writer.write()
    for frame in writer.frames().values():
        for hour, count in _hours(frame, COL_INFERENCE_TIME).items():
            outcome.rows_per_hour[hour] = outcome.rows_per_hour.get(hour, 0) + count
    outcome.quarantined = len(quarantined)
    outcome.quarantine_file = write_quarantine(store, config.name, quarantined, stem, processed_at)
    return outcome


_LABEL_JOIN_COLUMNS = [COL_INFERENCE_ID, COL_ROW_IN_REQUEST, COL_INFERENCE_TIME]


@dataclass(frozen=True)
class CapturedRequests:
    """A model's captured requests around a label time (inference_id, row_in_request, inference_time), to match
    labels to; `late()` reads the ones that reached the lake since."""

    frame: pl.DataFrame | None  # None when nothing is captured in the range
    late: Callable[[], pl.DataFrame]


def captured_requests(
    store: ObjectStore, model: str, label_time: datetime, now: datetime, lookback: timedelta
) -> CapturedRequests:
    """Captures from `lookback` before the label time (or now, if earlier) to an hour after it."""
    # A bounded range lets the reader list day prefixes instead of the model's whole history.
    window = (min(label_time, now) - lookback, max(label_time, now) + timedelta(hours=1))
    listed = list_partitions(store, LAKE_CAPTURES, model, *window)
    frame = read_listed(store, LAKE_CAPTURES, listed, *window, _LABEL_JOIN_COLUMNS)
    return CapturedRequests(
        frame if COL_INFERENCE_TIME in frame.columns else None,
        partial(_captures_since, store, model, listed, window),
    )


def _captures_since(
    store: ObjectStore, model: str, listed: dict[Partition, list[str]], window: tuple[datetime, datetime]
) -> pl.DataFrame:
    """Capture rows of the partitions that changed since `listed` was taken (files ingested meanwhile)."""
    changed = changed_partitions(listed, list_partitions(store, LAKE_CAPTURES, model, *window))
    return read_listed(store, LAKE_CAPTURES, changed, *window, _LABEL_JOIN_COLUMNS)


def decode_ground_truth_to_lake(
    stream: BinaryIO,
    config: ModelConfig,
    source: str,
    store: ObjectStore,
    stem: str,
    processed_at: datetime,
    label_time: datetime,
    source_modified: datetime | None,
    captures: pl.DataFrame | None = None,
    reopen: Callable[[], BinaryIO] | None = None,
    batch_lines: int = DEFAULT_BATCH_LINES,
    late_captures: Callable[[], pl.DataFrame] | None = None,
) -> ModelOutcome:
    """Stream-decode a ground-truth file and write its labels by label hour (with the source's LastModified for the
    dedup order) and its quarantined records.

    With the model's `captures` (inference_id, row_in_request, inference_time), a record whose label count differs
    from its request's row count is quarantined (its raw line re-read through `reopen`), and `rows_per_hour` counts
    the labels per inference hour they belong to; labels of requests not captured (yet) count nowhere.

    `late_captures` (captures that reached the lake after `captures` was read) is asked once the labels are written,
    for the labels still unmatched: a capture file ingested at the same moment either counts its labels here, or
    bumps its own hour after these labels are in the lake, so the run it triggers joins them.
    """
    writer = PartitionedWriter(store, LAKE_GROUND_TRUTH, config.name, COL_LABEL_TIME, stem)
    outcome = ModelOutcome(config.name)
    quarantined: list[QuarantinedRecord] = []
    frames = []
    for batch in iter_decode_ground_truth(stream, config, source, label_time=label_time, batch_lines=batch_lines):
        frames.append(batch.rows.with_columns(pl.lit(source_modified, dtype=TIME_DTYPE).alias(COL_SOURCE_MODIFIED)))
        outcome.records += batch.records
        quarantined.extend(batch.quarantined)
    rows = pl.concat(frames, how="vertical") if frames else None
    if rows is not None and captures is not None and captures.height and rows.height:
        rows, mismatched = _split_count_mismatches(rows, captures)
        if mismatched:
            quarantined.extend(_mismatch_records(mismatched, source, reopen))
        outcome.rows_per_hour = _label_hours(rows, captures)
    if rows is not None:
        writer.add(rows)
        outcome.rows = rows.height
    outcome.files = writer.write()
    if rows is not None and rows.height and late_captures is not None:
        _count_late_matches(outcome, rows, captures, late_captures)
    outcome.first_time = outcome.last_time = label_time if outcome.rows else None
    quarantined.sort(key=lambda q: q.line)
    outcome.quarantined = len(quarantined)
    outcome.quarantine_file = write_quarantine(store, config.name, quarantined, stem, processed_at)
    return outcome


_KEYS = [COL_INFERENCE_ID, COL_ROW_IN_REQUEST]


def _split_count_mismatches(
    rows: pl.DataFrame, captures: pl.DataFrame
) -> tuple[pl.DataFrame, dict[int, tuple[int, int]]]:
    """Drop records whose label count differs from the captured request's row count: {line: (labels, rows)}."""
    request_rows = captures.unique(subset=_KEYS).group_by(COL_INFERENCE_ID).agg(pl.len().alias("_n_rows"))
    per_record = rows.group_by(COL_INFERENCE_ID, COL_SOURCE_LINE).agg(pl.len().alias("_n_labels"))
    bad = per_record.join(request_rows, on=COL_INFERENCE_ID, how="inner").filter(
        pl.col("_n_labels") != pl.col("_n_rows")
    )
    if bad.height == 0:
        return rows, {}
    mismatched = {int(r[COL_SOURCE_LINE]): (int(r["_n_labels"]), int(r["_n_rows"])) for r in bad.iter_rows(named=True)}
    return rows.filter(~pl.col(COL_SOURCE_LINE).is_in(list(mismatched))), mismatched


def _mismatch_records(
    mismatched: dict[int, tuple[int, int]], source: str, reopen: Callable[[], BinaryIO] | None
) -> list[QuarantinedRecord]:
    raw: dict[int, str] = {}
    if reopen is not None:
        wanted = set(mismatched)
        for number, line in enumerate(_physical_lines(open_payload(reopen(), source)), start=1):
            if number in wanted:
                raw[number] = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
                if len(raw) == len(wanted):
                    break
    return [
        QuarantinedRecord(
            source,
            line,
            f"label count mismatch: {labels} labels for a request of {count} rows",
            raw.get(line, ""),
        )
        for line, (labels, count) in sorted(mismatched.items())
    ]


def _physical_lines(stream: BinaryIO, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Every line of a stream (blank ones too, so numbers match the decoder's), read in chunks."""
    pending = b""
    while chunk := stream.read(chunk_size):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


def _count_late_matches(
    outcome: ModelOutcome,
    rows: pl.DataFrame,
    captures: pl.DataFrame | None,
    late_captures: Callable[[], pl.DataFrame],
) -> None:
    """Add the inference hours of labels that match only captures which arrived after the first read."""
    unmatched = rows.select(_KEYS)
    if captures is not None and captures.height:
        unmatched = unmatched.join(captures.select(_KEYS).unique(), on=_KEYS, how="anti")
    if unmatched.height == 0:
        return
    late = late_captures()
    if late.height == 0 or COL_INFERENCE_TIME not in late.columns:
        return
    for hour, count in _label_hours(unmatched, late).items():
        outcome.rows_per_hour[hour] = outcome.rows_per_hour.get(hour, 0) + count


def _label_hours(rows: pl.DataFrame, captures: pl.DataFrame) -> dict[datetime, int]:
    matched = rows.select(_KEYS).join(
        captures.select([*_KEYS, COL_INFERENCE_TIME]).unique(subset=_KEYS), on=_KEYS, how="inner"
    )
    return _hours(matched, COL_INFERENCE_TIME)
