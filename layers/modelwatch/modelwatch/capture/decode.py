"""Streaming decoder of SageMaker data-capture JSONL into typed rows, quarantining bad records.

Each batch of lines goes to the vectorised path (`capture.vectorised`) first; the records it flags, and the JSON
objects polars cannot read, go to the per-record path (`capture.per_record`), which decodes them exactly as the
vectorised path would or quarantines them with a specific reason. Both read the record envelope from
`capture.envelope` and type values by the one table in `capture.rules`.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

import polars as pl

from modelwatch.capture.envelope import CAPTURE_JSON_SCHEMA, TIME_DTYPE, TimeBounds
from modelwatch.capture.per_record import HAS_OUTPUT, RecordDecoder
from modelwatch.capture.records import (
    LINE_COL,
    LineBatch,
    ParsedRecords,
    QuarantinedRecord,
    RecordError,
    iter_parsed_batches,
    raw_text,
    read_json_records,
)
from modelwatch.capture.rules import feature_rule, input_columns, output_rules
from modelwatch.capture.vectorised import VectorisedDecoder
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    COL_EVENT_ID,
    COL_EXTRA_KEYS,
    COL_FEATURE_ISSUES,
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_ROW_IN_REQUEST,
)

__all__ = [
    "DEFAULT_BATCH_LINES",
    "EXTRA_KEYS_DTYPE",
    "FEATURE_ISSUES_DTYPE",
    "TIME_DTYPE",
    "CaptureDecoder",
    "DecodedBatch",
    "QuarantinedRecord",
    "capture_schema",
    "concat_batches",
    "decode_capture_bytes",
    "iter_decode_capture",
]

DEFAULT_BATCH_LINES = 20_000
FEATURE_ISSUES_DTYPE = pl.List(pl.Struct({"feature": pl.Utf8, "issue": pl.Utf8}))
EXTRA_KEYS_DTYPE = pl.List(pl.Utf8)


@dataclass
class DecodedBatch:
    """Typed rows of a batch of records, the records quarantined, and counts."""

    rows: pl.DataFrame
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    records: int = 0
    rows_without_prediction: int = 0
    feature_issues: dict[str, int] = field(default_factory=dict)  # damaged feature values stored as missing, by issue
    rows_with_extra_keys: int = 0  # JSON request rows holding keys no feature reads


def capture_schema(config: ModelConfig) -> dict[str, pl.DataType]:
    """The exact columns and dtypes of decoded capture rows for a model (features, then extra columns, ...)."""
    schema: dict[str, pl.DataType] = {c.name: feature_rule(c).dtype for c in input_columns(config)}
    schema[COL_FEATURE_ISSUES] = FEATURE_ISSUES_DTYPE
    schema[COL_EXTRA_KEYS] = EXTRA_KEYS_DTYPE
    schema.update({column: rule.dtype for column, rule in output_rules(config).items()})
    schema[COL_EVENT_ID] = pl.Utf8()
    schema[COL_INFERENCE_ID] = pl.Utf8()
    schema[COL_ROW_IN_REQUEST] = pl.Int32()
    schema[COL_INFERENCE_TIME] = TIME_DTYPE
    return schema


def iter_decode_capture(
    stream: BinaryIO,
    config: ModelConfig,
    source: str,
    batch_lines: int = DEFAULT_BATCH_LINES,
    arrived: datetime | None = None,
    default_time: datetime | None = None,
) -> Iterator[DecodedBatch]:
    """Decode a capture file batch by batch (bounded memory). Raises CaptureReadError if the stream fails.

    `arrived`: when the object reached S3 (LastModified); records timed later than that by more than the model's
    `validation.max_time_skew` are quarantined (not checked when unknown). `default_time`: the time of batch
    transform records that carry none (Model Monitor's merged records: the hour folder of their file)."""
    decoder = CaptureDecoder(config, source, arrived, default_time)
    for batch, parsed in iter_parsed_batches(stream, source, batch_lines, CAPTURE_JSON_SCHEMA):
        yield decoder.decode_parsed(batch, parsed)


def decode_capture_bytes(
    data: bytes, config: ModelConfig, source: str, arrived: datetime | None = None
) -> DecodedBatch:
    """Decode a whole capture file held in memory into one batch."""
    batches = iter_decode_capture(io.BytesIO(data), config, source, arrived=arrived)
    return concat_batches(list(batches), capture_schema(config))


def concat_batches(batches: list[DecodedBatch], schema: dict[str, pl.DataType]) -> DecodedBatch:
    """Concatenate decoded batches (rows in file order)."""
    if not batches:
        return DecodedBatch(rows=pl.DataFrame(schema=schema))
    return DecodedBatch(
        rows=pl.concat([b.rows for b in batches], how="vertical") if len(batches) > 1 else batches[0].rows,
        quarantined=[q for b in batches for q in b.quarantined],
        records=sum(b.records for b in batches),
        rows_without_prediction=sum(b.rows_without_prediction for b in batches),
        feature_issues=dict(sum((Counter(b.feature_issues) for b in batches), Counter())),
        rows_with_extra_keys=sum(b.rows_with_extra_keys for b in batches),
    )


class CaptureDecoder:
    """Decodes batches of capture lines for one model config and source object."""

    def __init__(
        self, config: ModelConfig, source: str, arrived: datetime | None = None, default_time: datetime | None = None
    ) -> None:
        self.config = config
        self.source = source
        self.schema = capture_schema(config)
        self.internal_schema: dict[str, pl.DataType] = {**self.schema, LINE_COL: pl.Int64(), HAS_OUTPUT: pl.Boolean()}
        validation = config.validation
        bounds = TimeBounds(arrived, validation.max_time_skew_delta, validation.max_time_skew)
        self.per_record = RecordDecoder(config, self.schema, bounds, default_time)
        self.vectorised = VectorisedDecoder(config, self.internal_schema, self.per_record, bounds)
        self.force_slow = False  # tests: decode every record through the per-record path

    def decode_batch(self, batch: LineBatch) -> DecodedBatch:
        return self.decode_parsed(batch, read_json_records(batch, CAPTURE_JSON_SCHEMA))

    def decode_parsed(self, batch: LineBatch, parsed: ParsedRecords) -> DecodedBatch:
        """Decode a batch whose JSON lines `read_json_records` has already parsed."""
        frame, bad, slow_lines, records = parsed
        quarantined = [QuarantinedRecord(self.source, n, reason, raw_text(line)) for n, line, reason in bad]
        slow = {n for n, _ in slow_lines}
        if self.force_slow:
            slow |= set(frame[LINE_COL].to_list())
            fast_rows = None
        else:
            fast_rows, flagged = self.vectorised.decode(frame)
            slow |= flagged
        raw = batch.raw_lines() if slow else {}
        slow_rows: list[dict[str, Any]] = []
        for number in sorted(slow):
            try:
                rows = self.per_record.decode(raw[number])
            except RecordError as exc:
                quarantined.append(QuarantinedRecord(self.source, number, str(exc), raw_text(raw[number])))
                continue
            for row in rows:
                row[LINE_COL] = number
            slow_rows.extend(rows)
        parts = [] if fast_rows is None else [fast_rows]
        if slow_rows:
            parts.append(pl.DataFrame(slow_rows, schema=self.internal_schema, orient="row"))
        if not parts:
            rows_frame = pl.DataFrame(schema=self.internal_schema)
        elif len(parts) == 1 and fast_rows is not None:
            rows_frame = fast_rows  # already in file order
        else:
            rows_frame = pl.concat(parts, how="vertical").sort([LINE_COL, COL_ROW_IN_REQUEST])
        without_prediction = int((~rows_frame[HAS_OUTPUT]).sum()) if rows_frame.height else 0
        quarantined.sort(key=lambda q: q.line)
        return DecodedBatch(
            rows=self._public(rows_frame),
            quarantined=quarantined,
            records=records,
            rows_without_prediction=without_prediction,
            feature_issues=count_feature_issues(rows_frame),
            rows_with_extra_keys=rows_frame.height - rows_frame[COL_EXTRA_KEYS].null_count(),
        )

    def _public(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The rows' columns of `self.schema`: its first ones when they are in its order, as every batch's are
        (measured: a select of them costs several times more)."""
        names = list(self.schema)
        if rows.columns[: len(names)] == names:
            return pl.DataFrame(rows.get_columns()[: len(names)])
        return rows.select(names)


def count_feature_issues(rows: pl.DataFrame) -> dict[str, int]:
    """How many feature values of the rows were stored as missing, by issue code (nothing to count: no pass)."""
    issues = rows[COL_FEATURE_ISSUES]
    if issues.null_count() == issues.len():
        return {}
    counts = issues.explode().drop_nulls().struct.field("issue").value_counts()
    return {str(code): int(n) for code, n in counts.iter_rows()}
