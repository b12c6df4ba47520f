"""Writes decoded rows into the lake: one Parquet file per (source object, hourly partition), plus quarantine JSONL.

File names are deterministic (`layout.source_file_stem(source_key, etag_or_version)`), so writing the same source
object twice produces the same keys with the same content: a retried ingest overwrites its own files harmlessly.
Capture rows carry their source (`with_source`): the reader counts each record once from it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from modelwatch.capture import QuarantinedRecord
from modelwatch.capture.decode import TIME_DTYPE
from modelwatch.clock import to_utc
from modelwatch.constants import COL_INGESTED_AT, COL_SOURCE_ID, COL_SOURCE_MODIFIED, LAKE_QUARANTINE
from modelwatch.errors import LakeError
from modelwatch.lake.layout import PARQUET_SUFFIX, Partition
from modelwatch.lake.store import ObjectStore

QUARANTINE_SUFFIX = ".jsonl"
_DT = "__dt"
_HOUR = "__hour"


@dataclass(frozen=True)
class WrittenFile:
    """One file written to the lake."""

    key: str
    partition: Partition
    rows: int


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as zstd-compressed Parquet (deterministic for the same frame and library version)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def source_id(source: str) -> int:
    """A source object's identity in the lake (its URI's digest, as a signed 64-bit integer)."""
    return int.from_bytes(hashlib.sha256(source.encode()).digest()[:8], "big", signed=True)


def with_source(
    frame: pl.DataFrame, source: str, modified: datetime | None, ingested_at: datetime | None
) -> pl.DataFrame:
    """Rows with what the reader needs to count each record once: which source object they came from, that object
    version's LastModified and when they were ingested (one value per file: a few bytes on disk)."""
    return frame.with_columns(
        pl.lit(source_id(source), dtype=pl.Int64).alias(COL_SOURCE_ID),
        pl.lit(to_utc(modified) if modified is not None else None, dtype=TIME_DTYPE).alias(COL_SOURCE_MODIFIED),
        pl.lit(to_utc(ingested_at) if ingested_at is not None else None, dtype=TIME_DTYPE).alias(COL_INGESTED_AT),
    )


class PartitionedWriter:
    """Accumulates decoded batches of one source object for one model, then writes one file per partition.

    Rows are grouped by the hour of `time_column` (UTC); within a partition they keep their arrival order.
    """

    def __init__(self, store: ObjectStore, area: str, model: str, time_column: str, stem: str) -> None:
        self.store = store
        self.area = area
        self.model = model
        self.time_column = time_column
        self.stem = stem
        self._parts: dict[Partition, list[pl.DataFrame]] = {}
        self._schema: pl.Schema | None = None

    def add(self, frame: pl.DataFrame) -> None:
        """Add a batch of rows (the time column must be a timezone-aware or UTC datetime)."""
        if self._schema is None:
            self._schema = frame.schema
        if frame.height == 0:
            return
        if frame[self.time_column].null_count():
            raise LakeError(f"{self.area}: rows without {self.time_column} cannot be partitioned")
        utc = pl.col(self.time_column).dt.convert_time_zone("UTC")
        keyed = frame.with_columns(utc.dt.strftime("%Y-%m-%d").alias(_DT), utc.dt.strftime("%H").alias(_HOUR))
        for (dt, hour), group in keyed.group_by([_DT, _HOUR], maintain_order=True):
            partition = Partition(self.area, self.model, str(dt), str(hour))
            self._parts.setdefault(partition, []).append(group.drop(_DT, _HOUR))

    @property
    def partitions(self) -> list[Partition]:
        return sorted(self._parts, key=lambda p: (p.dt, p.hour))

    def frames(self) -> dict[Partition, pl.DataFrame]:
        return {p: pl.concat(self._parts[p], how="vertical") for p in self.partitions}

    def write(self) -> list[WrittenFile]:
        """Write one Parquet file per partition; returns what was written (nothing for no rows)."""
        written = []
        for partition, frame in self.frames().items():
            key = partition.key(self.stem + PARQUET_SUFFIX)
            self.store.put(key, parquet_bytes(frame))
            written.append(WrittenFile(key, partition, frame.height))
        return written


def quarantine_lines(records: Iterable[QuarantinedRecord]) -> bytes:
    """Quarantined records as JSON lines: source, line, reason, raw."""
    lines = [
        json.dumps({"source": r.source, "line": r.line, "reason": r.reason, "raw": r.raw}, ensure_ascii=False)
        for r in records
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def write_quarantine(
    store: ObjectStore, model: str, records: list[QuarantinedRecord], stem: str, processed_at: datetime
) -> WrittenFile | None:
    """Write the quarantined records of one source object (partitioned by processing time); None when none."""
    if not records:
        return None
    partition = Partition.of(LAKE_QUARANTINE, model, to_utc(processed_at))
    key = partition.key(stem + QUARANTINE_SUFFIX)
    store.put(key, quarantine_lines(records), "application/x-ndjson")
    return WrittenFile(key, partition, len(records))
