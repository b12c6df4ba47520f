"""Vectorised decoder of SageMaker ground-truth merge JSONL (one label per request row) into typed rows."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

import polars as pl

from modelwatch.capture.decode import DEFAULT_BATCH_LINES, DecodedBatch, concat_batches
from modelwatch.capture.envelope import (
    GROUND_TRUTH_JSON_SCHEMA,
    TIME_DTYPE,
    decode_side_text,
    parse_envelope,
    payload_text,
)
from modelwatch.capture.per_record import csv_rows, json_body, typed
from modelwatch.capture.records import (
    LINE_COL,
    LineBatch,
    QuarantinedRecord,
    RecordError,
    iter_line_batches,
    raw_text,
    read_json_records,
)
from modelwatch.capture.rules import label_rule
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    COL_INFERENCE_ID,
    COL_LABEL_TIME,
    COL_ROW_IN_REQUEST,
    COL_SOURCE_KEY,
    COL_SOURCE_LINE,
    COL_Y_TRUE,
)
from modelwatch.jsonpath import JsonPathError, compile_path

__all__ = ["COL_SOURCE_LINE", "decode_ground_truth_bytes", "ground_truth_schema", "iter_decode_ground_truth"]


def ground_truth_schema(config: ModelConfig) -> dict[str, pl.DataType]:
    """The exact columns and dtypes of decoded ground-truth rows."""
    return {
        COL_INFERENCE_ID: pl.Utf8(),
        COL_ROW_IN_REQUEST: pl.Int32(),
        COL_Y_TRUE: label_rule(config).dtype,
        COL_LABEL_TIME: TIME_DTYPE,
        COL_SOURCE_KEY: pl.Utf8(),
        COL_SOURCE_LINE: pl.Int64(),
    }


def iter_decode_ground_truth(
    stream: BinaryIO,
    config: ModelConfig,
    source: str,
    label_time: datetime | None = None,
    batch_lines: int = DEFAULT_BATCH_LINES,
) -> Iterator[DecodedBatch]:
    """Decode a ground-truth file batch by batch. Raises CaptureReadError if the stream fails."""
    decoder = GroundTruthDecoder(config, source, label_time)
    for batch in iter_line_batches(stream, source, batch_lines):
        yield decoder.decode_batch(batch)


def decode_ground_truth_bytes(
    data: bytes, config: ModelConfig, source: str, label_time: datetime | None = None
) -> DecodedBatch:
    """Decode a whole ground-truth file held in memory into one batch."""
    batches = list(iter_decode_ground_truth(io.BytesIO(data), config, source, label_time))
    return concat_batches(batches, ground_truth_schema(config))


class GroundTruthDecoder:
    """Decodes batches of ground-truth lines for one model config and source object."""

    def __init__(self, config: ModelConfig, source: str, label_time: datetime | None) -> None:
        self.config = config
        self.source = source
        self.label_time = label_time
        self.schema = ground_truth_schema(config)
        self.rule = label_rule(config)
        self.label_path = compile_path(config.ground_truth.label or "$")
        self.force_slow = False

    def decode_batch(self, batch: LineBatch) -> DecodedBatch:
        frame, bad, slow_lines, records = read_json_records(batch, GROUND_TRUTH_JSON_SCHEMA)
        quarantined = [QuarantinedRecord(self.source, n, reason, raw_text(line)) for n, line, reason in bad]
        slow = {n for n, _ in slow_lines}
        parts: list[pl.DataFrame] = []
        if self.force_slow:
            slow |= set(frame[LINE_COL].to_list())
        elif frame.height:
            fast, flagged = self._fast(frame)
            parts.append(fast)
            slow |= flagged
        slow_rows: list[dict[str, Any]] = []
        raw = batch.raw_lines() if slow else {}
        for number in sorted(slow):
            try:
                ids, labels = self._decode_record(raw[number])
            except RecordError as exc:
                quarantined.append(QuarantinedRecord(self.source, number, str(exc), raw_text(raw[number])))
                continue
            slow_rows.extend(
                {COL_INFERENCE_ID: ids, COL_ROW_IN_REQUEST: i, COL_Y_TRUE: label, COL_SOURCE_LINE: number}
                for i, label in enumerate(labels)
            )
        core = {c: self.schema[c] for c in (COL_INFERENCE_ID, COL_ROW_IN_REQUEST, COL_Y_TRUE, COL_SOURCE_LINE)}
        if slow_rows:
            parts.append(pl.DataFrame(slow_rows, schema=core, orient="row"))
        rows = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=core)
        rows = rows.sort([COL_SOURCE_LINE, COL_ROW_IN_REQUEST]).with_columns(
            pl.lit(self.label_time, dtype=TIME_DTYPE).alias(COL_LABEL_TIME),
            pl.lit(self.source, dtype=pl.Utf8).alias(COL_SOURCE_KEY),
        )
        quarantined.sort(key=lambda q: q.line)
        return DecodedBatch(rows=rows.select(list(self.schema)), quarantined=quarantined, records=records)

    def _fast(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        flat = frame.select(
            pl.col(LINE_COL),
            pl.col("eventMetadata").struct.field("eventId").alias(COL_INFERENCE_ID),
            pl.col("groundTruthData").struct.field("data").alias("_data"),
            pl.col("groundTruthData").struct.field("encoding").alias("_encoding"),
        )
        text, failed = payload_text(flat["_data"], flat["_encoding"].fill_null(""))
        gt = self.config.ground_truth
        csv_like = pl.lit(gt.format == "csv") & (pl.col("_encoding") == "CSV")
        if gt.format == "csv" and gt.encoding_hint == "csv":
            csv_like = csv_like | (pl.col("_encoding") == "BASE64")
        body = pl.col("_text")
        flat = flat.with_columns(text.str.strip_chars_end("\n").alias("_text"), failed.alias("_failed")).with_columns(
            (
                pl.col(COL_INFERENCE_ID).is_not_null()
                & (pl.col(COL_INFERENCE_ID) != "")
                & csv_like
                & ~pl.col("_failed")
                & body.is_not_null()
                & (body.str.len_bytes() > 0)
                & ~body.str.contains(r'[",\r]')
            )
            .fill_null(False)
            .alias("_ok")
        )
        flagged = set(flat.filter(~pl.col("_ok"))[LINE_COL].to_list())
        labels = (
            flat.filter(pl.col("_ok"))
            .select(LINE_COL, COL_INFERENCE_ID, body.str.split("\n").alias("_l"))
            .with_columns(pl.int_ranges(pl.col("_l").list.len()).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST))
            .explode(["_l", COL_ROW_IN_REQUEST])
        )
        verdict = self.rule.vector(pl.col("_l"))
        # a bad label quarantines its record: the per-record path says why
        bad = verdict.undecided | verdict.faulty
        labels = labels.with_columns(verdict.value.alias(COL_Y_TRUE), bad.alias("_bad"))
        flagged |= set(labels.filter(pl.col("_bad"))[LINE_COL].unique().to_list())
        good = labels.filter(~pl.col(LINE_COL).is_in(list(flagged))).select(
            COL_INFERENCE_ID,
            COL_ROW_IN_REQUEST,
            pl.col(COL_Y_TRUE).cast(self.schema[COL_Y_TRUE]),
            pl.col(LINE_COL).alias(COL_SOURCE_LINE),
        )
        return good, flagged

    def _decode_record(self, line: bytes) -> tuple[str, list[Any]]:
        record, _, event_id = parse_envelope(line)
        if isinstance(event_id, bool) or not isinstance(event_id, str | int):
            raise RecordError("eventMetadata.eventId is not a string")
        data = record.get("groundTruthData")
        if data is None:
            raise RecordError("missing groundTruthData")
        text, encoding = decode_side_text(data, "groundTruthData")
        gt = self.config.ground_truth
        if gt.format == "json":
            values = self._labels_at_path(json_body(text, "groundTruthData"))
        elif encoding == "JSON" or (encoding == "BASE64" and gt.encoding_hint == "json"):
            value = json_body(text, "groundTruthData")
            values = value if isinstance(value, list) else [value]
        else:
            values = []
            for index, row in enumerate(csv_rows(text, "groundTruthData")):
                if len(row) != 1:
                    raise RecordError(
                        f"wrong column count: groundTruthData.data line {index + 1} has {len(row)} values, expected 1"
                    )
                values.append(row[0].strip())
        if not values:
            raise RecordError("groundTruthData.data holds no labels")
        return str(event_id), [
            typed(self.rule, value, f"groundTruthData.data label {index}") for index, value in enumerate(values)
        ]

    def _labels_at_path(self, document: Any) -> list[Any]:
        """The labels at `ground_truth.label`: one per match of a wildcard path, one per element of a list, else
        the one value."""
        path = self.label_path
        try:
            found = path.value(document)
        except JsonPathError as exc:
            raise RecordError(f"JSON path {path.text} missing in groundTruthData.data: {exc}") from exc
        if path.has_wildcard:
            return list(found)
        return found if isinstance(found, list) else [found]
