"""Decode one source stream for one model and write it to a lake (S3 or a local folder): the step shared by the
ingest functions and `modelwatch decode`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

import polars as pl

from modelwatch.capture import iter_decode_capture, iter_decode_ground_truth
from modelwatch.capture.decode import DEFAULT_BATCH_LINES, TIME_DTYPE
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    COL_INFERENCE_TIME,
    COL_LABEL_TIME,
    COL_SOURCE_MODIFIED,
    LAKE_CAPTURES,
    LAKE_GROUND_TRUTH,
)
from modelwatch.lake.store import ObjectStore
from modelwatch.lake.writer import PartitionedWriter, WrittenFile, write_quarantine
from modelwatch.state import floor_hour


@dataclass
class ModelOutcome:
    """What decoding one source object for one model produced."""

    model: str
    records: int = 0
    rows: int = 0
    quarantined: int = 0
    rows_without_prediction: int = 0
    files: list[WrittenFile] = field(default_factory=list)
    quarantine_file: WrittenFile | None = None
    rows_per_hour: dict[datetime, int] = field(default_factory=dict)
    first_time: datetime | None = None
    last_time: datetime | None = None
    labels: pl.DataFrame | None = None  # ground truth only: the decoded label rows

    def summary(self) -> dict[str, object]:
        return {
            "model": self.model,
            "records": self.records,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "rows_without_prediction": self.rows_without_prediction,
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
) -> ModelOutcome:
    """Stream-decode a capture file, write its rows by inference hour and its quarantined records."""
    writer = PartitionedWriter(store, LAKE_CAPTURES, config.name, COL_INFERENCE_TIME, stem)
    outcome = ModelOutcome(config.name)
    quarantined = []
    for batch in iter_decode_capture(stream, config, source, batch_lines=batch_lines):
        writer.add(batch.rows)
        outcome.records += batch.records
        outcome.rows += batch.rows.height
        outcome.rows_without_prediction += batch.rows_without_prediction
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


def decode_ground_truth_to_lake(
    stream: BinaryIO,
    config: ModelConfig,
    source: str,
    store: ObjectStore,
    stem: str,
    processed_at: datetime,
    label_time: datetime,
    source_modified: datetime | None,
    batch_lines: int = DEFAULT_BATCH_LINES,
) -> ModelOutcome:
    """Stream-decode a ground-truth file, write its labels by label hour (with the source's LastModified for the
    dedup order) and its quarantined records. `outcome.labels` keeps the label keys for resolving their hours."""
    writer = PartitionedWriter(store, LAKE_GROUND_TRUTH, config.name, COL_LABEL_TIME, stem)
    outcome = ModelOutcome(config.name)
    quarantined = []
    keys = []
    for batch in iter_decode_ground_truth(stream, config, source, label_time=label_time, batch_lines=batch_lines):
        rows = batch.rows.with_columns(pl.lit(source_modified, dtype=TIME_DTYPE).alias(COL_SOURCE_MODIFIED))
        writer.add(rows)
        outcome.records += batch.records
        outcome.rows += rows.height
        quarantined.extend(batch.quarantined)
        keys.append(rows.select("inference_id", "row_in_request"))
    outcome.files = writer.write()
    outcome.labels = pl.concat(keys, how="vertical") if keys else None
    outcome.first_time = outcome.last_time = label_time if outcome.rows else None
    outcome.quarantined = len(quarantined)
    outcome.quarantine_file = write_quarantine(store, config.name, quarantined, stem, processed_at)
    return outcome
