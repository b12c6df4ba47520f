"""Vectorised, streaming decoder of SageMaker data-capture JSONL into typed rows, quarantining bad records.

The fast path handles whole batches of lines with polars (NDJSON, base64, CSV-as-floats); records it cannot take
(JSON request bodies, quoted CSV, anything its checks flag) go through the per-record path, which either decodes
them exactly like the fast path would or quarantines them with a specific reason.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import polars as pl

from modelwatch.capture._records import (
    LINE_COL,
    LineBatch,
    ParsedRecords,
    QuarantinedRecord,
    RecordError,
    decode_side_text,
    iter_parsed_batches,
    parse_envelope,
    payload_text,
    raw_text,
    read_json_records,
)
from modelwatch.capture.jsonpath import JsonPathError, compile_path
from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.constants import (
    COL_EVENT_ID,
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_ROW_IN_REQUEST,
    COL_Y_PRED,
    COL_Y_PRED_PROBA,
)

__all__ = [
    "DecodedBatch",
    "QuarantinedRecord",
    "capture_schema",
    "decode_capture_bytes",
    "iter_decode_capture",
]

DEFAULT_BATCH_LINES = 20_000
TIME_DTYPE = pl.Datetime("us", "UTC")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
# The fast path takes the usual UTC form only; offsets, nanoseconds and the rest go through fromisoformat.
_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
_HAS_OUTPUT = "_has_output"

# `mode` (INPUT/OUTPUT) is implied by the side and not read: fewer fields make the NDJSON parse cheaper.
_SIDE = pl.Struct({"observedContentType": pl.Utf8, "data": pl.Utf8, "encoding": pl.Utf8})
CAPTURE_JSON_SCHEMA: dict[str, pl.DataType] = {
    "captureData": pl.Struct({"endpointInput": _SIDE, "endpointOutput": _SIDE}),
    "eventMetadata": pl.Struct({"eventId": pl.Utf8, "inferenceId": pl.Utf8, "inferenceTime": pl.Utf8}),
}


@dataclass
class DecodedBatch:
    """Typed rows of a batch of records, the records quarantined, and counts."""

    rows: pl.DataFrame
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    records: int = 0
    rows_without_prediction: int = 0


def capture_schema(config: ModelConfig) -> dict[str, pl.DataType]:
    """The exact columns and dtypes of decoded capture rows for a model."""
    schema: dict[str, pl.DataType] = {
        f.name: (pl.Float64() if f.type == "numeric" else pl.Utf8()) for f in config.features
    }
    for column in config.proba_columns:
        schema[column] = pl.Float64()
    schema[COL_Y_PRED] = _y_pred_dtype(config)
    schema[COL_EVENT_ID] = pl.Utf8()
    schema[COL_INFERENCE_ID] = pl.Utf8()
    schema[COL_ROW_IN_REQUEST] = pl.Int32()
    schema[COL_INFERENCE_TIME] = TIME_DTYPE
    return schema


def _y_pred_dtype(config: ModelConfig) -> pl.DataType:
    if config.problem_type is ProblemType.BINARY:
        return pl.Int64()
    if config.problem_type is ProblemType.MULTICLASS:
        return pl.Utf8()
    return pl.Float64()


def iter_decode_capture(
    stream: BinaryIO, config: ModelConfig, source: str, batch_lines: int = DEFAULT_BATCH_LINES
) -> Iterator[DecodedBatch]:
    """Decode a capture file batch by batch (bounded memory). Raises CaptureReadError if the stream fails."""
    decoder = CaptureDecoder(config, source)
    for batch, parsed in iter_parsed_batches(stream, source, batch_lines, CAPTURE_JSON_SCHEMA):
        yield decoder.decode_parsed(batch, parsed)


def decode_capture_bytes(data: bytes, config: ModelConfig, source: str) -> DecodedBatch:
    """Decode a whole capture file held in memory into one batch."""
    return concat_batches(list(iter_decode_capture(io.BytesIO(data), config, source)), capture_schema(config))


def concat_batches(batches: list[DecodedBatch], schema: dict[str, pl.DataType]) -> DecodedBatch:
    """Concatenate decoded batches (rows in file order)."""
    if not batches:
        return DecodedBatch(rows=pl.DataFrame(schema=schema))
    return DecodedBatch(
        rows=pl.concat([b.rows for b in batches], how="vertical") if len(batches) > 1 else batches[0].rows,
        quarantined=[q for b in batches for q in b.quarantined],
        records=sum(b.records for b in batches),
        rows_without_prediction=sum(b.rows_without_prediction for b in batches),
    )


def content_format(content_type: str | None, encoding: str | None, configured: str) -> str:
    """`json` or `csv`: the JSON encoding or a JSON content type wins, then a CSV content type, then the config."""
    kind = (content_type or "").lower()
    if (encoding or "").upper() == "JSON" or "json" in kind:
        return "json"
    if "csv" in kind:
        return "csv"
    return configured


def parse_inference_time(value: Any) -> datetime:
    """ISO-8601 inference time (with or without fraction, `Z` or offset) as an aware UTC datetime."""
    if value is None:
        raise RecordError("missing eventMetadata.inferenceTime")
    if not isinstance(value, str) or len(value) < 19 or value[10] not in "Tt ":
        raise RecordError("invalid eventMetadata.inferenceTime (expected ISO-8601 like 2022-02-14T17:25:49Z)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RecordError("invalid eventMetadata.inferenceTime (expected ISO-8601 like 2022-02-14T17:25:49Z)") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _to_float(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"non-numeric value in {what}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if "_" in text:
            raise RecordError(f"non-numeric value in {what}")
        try:
            return float(text)
        except ValueError as exc:
            raise RecordError(f"non-numeric value in {what}") from exc
    raise RecordError(f"non-numeric value in {what}")


def _to_text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise RecordError(f"{what} is a JSON {type(value).__name__}, expected a value")


def _csv_rows(text: str, side: str) -> list[list[str]]:
    body = text.rstrip("\n")
    if not body.strip():
        raise RecordError(f"{side}.data is empty")
    try:
        return list(csv.reader(io.StringIO(body)))
    except csv.Error as exc:
        raise RecordError(f"invalid CSV in {side}.data: {exc}") from exc


def _json_body(text: str, side: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"invalid JSON in {side}.data: {exc}") from exc


def _attach(rows: pl.DataFrame, part: pl.DataFrame) -> pl.DataFrame:
    """Left-join `part` on (line, row); a plain horizontal stack when both already list the same rows in order."""
    keys = [LINE_COL, COL_ROW_IN_REQUEST]
    if (
        part.height == rows.height
        and part[LINE_COL].equals(rows[LINE_COL])
        and part[COL_ROW_IN_REQUEST].equals(rows[COL_ROW_IN_REQUEST])
    ):
        return pl.concat([rows, part.drop(keys)], how="horizontal")
    return rows.join(part, on=keys, how="left", maintain_order="left")


class CaptureDecoder:
    """Decodes batches of capture lines for one model config and source object."""

    def __init__(self, config: ModelConfig, source: str) -> None:
        self.config = config
        self.source = source
        self.schema = capture_schema(config)
        self.features = config.features
        self.n_features = len(config.features)
        self.out_columns = list(config.output.columns)
        self.pred_columns = [*config.proba_columns, COL_Y_PRED]
        self.instances_path = compile_path(config.input.instances)
        self.feature_paths = {name: compile_path(p) for name, p in config.input.feature_paths.items()}
        self.proba_path = compile_path(config.output.probabilities) if config.output.probabilities else None
        self.pred_path = compile_path(config.output.prediction) if config.output.prediction else None
        self.force_slow = False  # tests: decode every record through the per-record path

    # ------------------------------------------------------------------ batch entry point
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
            fast_rows, flagged = self._fast(frame)
            slow |= flagged
        raw = batch.raw_lines() if slow else {}
        slow_rows: list[dict[str, Any]] = []
        for number in sorted(slow):
            try:
                rows = self._decode_record(raw[number])
            except RecordError as exc:
                quarantined.append(QuarantinedRecord(self.source, number, str(exc), raw_text(raw[number])))
                continue
            for row in rows:
                row[LINE_COL] = number
            slow_rows.extend(rows)
        parts = [] if fast_rows is None else [fast_rows]
        if slow_rows:
            parts.append(pl.DataFrame(slow_rows, schema=self._internal_schema(), orient="row"))
        if not parts:
            rows_frame = pl.DataFrame(schema=self._internal_schema())
        elif len(parts) == 1 and fast_rows is not None:
            rows_frame = fast_rows  # already in file order
        else:
            rows_frame = pl.concat(parts, how="vertical").sort([LINE_COL, COL_ROW_IN_REQUEST])
        without_prediction = int((~rows_frame[_HAS_OUTPUT]).sum()) if rows_frame.height else 0
        quarantined.sort(key=lambda q: q.line)
        return DecodedBatch(
            rows=rows_frame.select(list(self.schema)),
            quarantined=quarantined,
            records=records,
            rows_without_prediction=without_prediction,
        )

    def _internal_schema(self) -> dict[str, pl.DataType]:
        return {**self.schema, LINE_COL: pl.Int64(), _HAS_OUTPUT: pl.Boolean()}

    # ------------------------------------------------------------------ fast, vectorised path
    def _fast(self, frame: pl.DataFrame) -> tuple[pl.DataFrame | None, set[int]]:
        if frame.height == 0:
            return None, set()
        capture = pl.col("captureData")
        meta = pl.col("eventMetadata")
        flat = frame.select(
            pl.col(LINE_COL),
            meta.struct.field("eventId").alias(COL_EVENT_ID),
            meta.struct.field("inferenceId").alias("_inference_id"),
            pl.when(meta.struct.field("inferenceTime").str.contains(_TIME_PATTERN))
            .then(
                meta.struct.field("inferenceTime").str.to_datetime(
                    _TIME_FORMAT, strict=False, time_unit="us", time_zone="UTC"
                )
            )
            .alias(COL_INFERENCE_TIME),
            *[
                capture.struct.field(side).struct.field(name).alias(f"{prefix}_{name}")
                for side, prefix in (("endpointInput", "in"), ("endpointOutput", "out"))
                for name in ("observedContentType", "data", "encoding")
            ],
            capture.struct.field("endpointInput").is_not_null().alias("_in"),
            capture.struct.field("endpointOutput").is_not_null().alias("_out"),
        )
        ok = (
            pl.col(COL_EVENT_ID).is_not_null()
            & (pl.col(COL_EVENT_ID) != "")
            & pl.col(COL_INFERENCE_TIME).is_not_null()
            & (pl.col("_in") | pl.col("_out"))
            & self._side_fast_ok("in", self.config.input.format)
            & self._side_fast_ok("out", self.config.output.format, csv_possible=bool(self.out_columns))
        )
        flat = flat.with_columns(ok.alias("_ok"))
        for prefix in ("in", "out"):
            text, failed = payload_text(flat[f"{prefix}_data"], flat[f"{prefix}_encoding"].fill_null(""))
            # input texts stay as sent (trailing newlines included): _fast_input handles them without a copy
            flat = flat.with_columns(
                (text if prefix == "in" else text.str.strip_chars_end("\n")).alias(f"{prefix}_text"),
                (pl.col("_ok") & ~failed).alias("_ok"),
            )
        flat = flat.with_columns(
            (
                pl.col("_ok")
                & (~pl.col("_in") | self._text_fast_ok("in_text"))
                & (
                    ~pl.col("_out")
                    | self._text_fast_ok("out_text")
                    | (~self._is_csv_expr("out", self.config.output.format) & pl.col("out_text").str.contains(r"\S"))
                ).fill_null(False)
            ).alias("_ok")
        )
        flagged = set(flat.filter(~pl.col("_ok"))[LINE_COL].to_list())
        good = flat.filter(pl.col("_ok"))
        if good.height == 0:
            return None, flagged

        features, in_counts, in_bad = self._fast_input(good.filter(pl.col("_in")))
        outputs, out_bad = self._fast_output(good.filter(pl.col("_out")), in_counts)
        flagged |= in_bad | out_bad

        skeleton = (
            good.join(in_counts, on=LINE_COL, how="left", maintain_order="left")
            .join(
                outputs.group_by(LINE_COL).agg(pl.len().cast(pl.Int64).alias("_n_out")),
                on=LINE_COL,
                how="left",
                maintain_order="left",
            )
            .filter(~pl.col(LINE_COL).is_in(list(flagged)))
            .select(
                LINE_COL,
                COL_EVENT_ID,
                # an empty inferenceId is no inference id: fall back to the event id
                pl.coalesce(pl.when(pl.col("_inference_id") != "").then(pl.col("_inference_id")), COL_EVENT_ID).alias(
                    COL_INFERENCE_ID
                ),
                COL_INFERENCE_TIME,
                pl.col("_out").alias(_HAS_OUTPUT),
                pl.int_ranges(pl.coalesce("_n_in", "_n_out")).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST),
            )
            .explode(COL_ROW_IN_REQUEST)
        )
        rows = _attach(_attach(skeleton, features), outputs)
        rows = self._derive_predictions(rows)
        internal = self._internal_schema()
        rows = rows.select(list(internal))
        if rows.schema != pl.Schema(internal):
            rows = rows.cast(internal)  # type: ignore[arg-type]
        return rows, flagged

    def _side_fast_ok(self, prefix: str, configured: str, csv_possible: bool = True) -> pl.Expr:
        """A present side can take the fast path when it is CSV text (plain or base64)."""
        kind = pl.col(f"{prefix}_observedContentType").fill_null("").str.to_lowercase()
        encoding = pl.col(f"{prefix}_encoding")
        is_json = kind.str.contains("json", literal=True)
        is_csv = ~is_json & (kind.str.contains("csv", literal=True) | pl.lit(configured == "csv"))
        side_ok = (
            pl.col(f"{prefix}_data").is_not_null() & encoding.is_in(["CSV", "BASE64"]) & is_csv & pl.lit(csv_possible)
        )
        # JSON output bodies are read per record inside the fast path (they are small); JSON inputs are not.
        if prefix == "out":
            side_ok = side_ok | (
                pl.col("out_data").is_not_null()
                & encoding.is_in(["CSV", "BASE64", "JSON"])
                & ~is_csv
                & pl.lit(self.proba_path is not None or self.pred_path is not None)
            )
        return ~pl.col(f"_{prefix}") | side_ok.fill_null(False)

    @staticmethod
    def _text_fast_ok(column: str) -> pl.Expr:
        text = pl.col(column)
        return (
            text.is_not_null()
            & text.str.contains(r"\S")  # whitespace only is an empty payload
            & ~text.str.contains('["\r]')  # one pass for both bytes
        ).fill_null(False)

    def _is_csv_expr(self, prefix: str, configured: str) -> pl.Expr:
        kind = pl.col(f"{prefix}_observedContentType").fill_null("").str.to_lowercase()
        is_json = kind.str.contains("json", literal=True) | (pl.col(f"{prefix}_encoding") == "JSON")
        return ~is_json & (kind.str.contains("csv", literal=True) | pl.lit(configured == "csv"))

    def _fast_input(self, records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, set[int]]:
        """Input CSV rows of the records -> (features by line/row, row counts per line, flagged lines)."""
        feature_schema = {f.name: self.schema[f.name] for f in self.features}
        empty_features = pl.DataFrame(schema={LINE_COL: pl.Int64, COL_ROW_IN_REQUEST: pl.Int32, **feature_schema})
        empty_counts = pl.DataFrame(schema={LINE_COL: pl.Int64, "_n_in": pl.Int64})
        if records.height == 0:
            return empty_features, empty_counts, set()
        text = pl.col("in_text")
        # The texts may end with newlines. When every text ends with exactly one, they are the CSV rows as they
        # are (joined with nothing); when none does, they are joined with newlines; otherwise they are stripped.
        ends = records.select(
            text.str.ends_with("\n").all().alias("all"),
            text.str.ends_with("\n").any().alias("any"),
            text.str.ends_with("\n\n").any().alias("double"),
        ).row(0)
        terminated, separator = bool(ends[0] and not ends[2]), "" if ends[0] and not ends[2] else "\n"
        if ends[1] and not terminated:
            records = records.with_columns(text.str.strip_chars_end("\n"))
        rows_in_text = text.str.count_matches("\n", literal=True) + (0 if terminated else 1)
        checked = records.select(LINE_COL, "in_text", rows_in_text.cast(pl.Int64).alias("_n_in"))
        index = checked.select(
            LINE_COL, pl.int_ranges(pl.col("_n_in")).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST)
        ).explode(COL_ROW_IN_REQUEST)
        flagged: set[int] = set()
        parsed = self._read_feature_csv(checked["in_text"], index.height, feature_schema, separator)
        if parsed is not None:
            features = pl.concat([index, parsed], how="horizontal")
            # A row with too many fields fails the parse; one with too few (or an empty line) parses with a null
            # last column: only records holding such rows need their shape checked.
            last = list(feature_schema)[-1]
            if features[last].null_count():
                suspects = features.filter(pl.col(last).is_null())[LINE_COL].unique()
                flagged = self._misshapen(
                    checked.filter(pl.col(LINE_COL).is_in(suspects)).with_columns(text.str.strip_chars_end("\n"))
                )
            return features, checked.select(LINE_COL, "_n_in"), flagged
        # Some value is not a number, or some row has too many fields: find which records, line by line.
        checked = checked.with_columns(text.str.strip_chars_end("\n"))  # the checks below split on newlines
        lines = (
            checked.select(LINE_COL, pl.col("in_text").str.split("\n").alias("_t"))
            .with_columns(pl.int_ranges(pl.col("_t").list.len()).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST))
            .explode(["_t", COL_ROW_IN_REQUEST])
        )
        bad_line = (pl.col("_t").str.count_matches(",", literal=True) != self.n_features - 1) | (
            pl.col("_t").str.len_bytes() == 0
        )
        flagged |= set(lines.filter(bad_line)[LINE_COL].unique().to_list())
        lines = lines.filter(~pl.col(LINE_COL).is_in(list(flagged)))
        if lines.height == 0:
            return empty_features, empty_counts, flagged
        values, bad_rows = self._parse_feature_text(lines["_t"], feature_schema)
        features = pl.concat([lines.select(LINE_COL, COL_ROW_IN_REQUEST), values], how="horizontal")
        flagged |= set(features.filter(bad_rows)[LINE_COL].unique().to_list())
        counts = lines.group_by(LINE_COL, maintain_order=True).agg(pl.len().cast(pl.Int64).alias("_n_in"))
        return features, counts, flagged

    def _misshapen(self, records: pl.DataFrame) -> set[int]:
        """Lines of records whose CSV rows do not all have exactly one value per feature."""
        lines = (
            records.select(LINE_COL, pl.col("in_text").str.split("\n").alias("_t"))
            .explode("_t")
            .filter(
                (pl.col("_t").str.count_matches(",", literal=True) != self.n_features - 1)
                | (pl.col("_t").str.len_bytes() == 0)
            )
        )
        return set(lines[LINE_COL].unique().to_list())

    @staticmethod
    def _csv_bytes(texts: pl.Series, separator: str = "\n") -> bytes:
        joined: bytes = texts.str.join(separator).cast(pl.Binary).item()
        return joined

    def _read_feature_csv(
        self, texts: pl.Series, expected_rows: int, feature_schema: dict[str, pl.DataType], separator: str = "\n"
    ) -> pl.DataFrame | None:
        """All rows parsed straight into typed columns, or None when some row does not parse."""
        names = list(feature_schema)
        columns = [f"c{i}" for i in range(len(names))]
        try:
            parsed = pl.read_csv(
                self._csv_bytes(texts, separator),
                has_header=False,
                schema=dict(zip(columns, feature_schema.values(), strict=True)),
                quote_char=None,
            )
        except Exception:
            return None
        if parsed.height != expected_rows:
            return None
        return parsed.rename(dict(zip(columns, names, strict=True)))

    def _parse_feature_text(
        self, lines: pl.Series, feature_schema: dict[str, pl.DataType]
    ) -> tuple[pl.DataFrame, pl.Series]:
        """Parse CSV lines as text, then numbers; returns the columns and the flags of lines with non-numbers."""
        columns = [f"c{i}" for i in range(len(feature_schema))]
        as_text = pl.read_csv(
            self._csv_bytes(lines), has_header=False, schema=dict.fromkeys(columns, pl.Utf8), quote_char=None
        )
        exprs = []
        bad = pl.lit(False)
        for column, (name, dtype) in zip(columns, feature_schema.items(), strict=True):
            if dtype == pl.Float64:
                stripped = pl.col(column).str.strip_chars()
                number = stripped.cast(pl.Float64, strict=False)
                bad = bad | (number.is_null() & (stripped.str.len_bytes() > 0))
                bad = bad | stripped.str.contains("_", literal=True)
                exprs.append(number.alias(name))
            else:
                exprs.append(pl.col(column).alias(name))
        result = as_text.select(*exprs, bad.fill_null(False).alias("_bad"))
        return result.drop("_bad"), result["_bad"]

    def _fast_output(self, records: pl.DataFrame, in_counts: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        """Output rows (prediction columns by line/row) of the records, and the lines flagged."""
        out_schema = {LINE_COL: pl.Int64(), COL_ROW_IN_REQUEST: pl.Int32(), **self._raw_pred_schema()}
        if records.height == 0:
            return pl.DataFrame(schema=out_schema), set()
        records = records.join(in_counts, on=LINE_COL, how="left", maintain_order="left").with_columns(
            self._is_csv_expr("out", self.config.output.format).alias("_csv")
        )
        parts: list[pl.DataFrame] = []
        flagged: set[int] = set()
        csv_records = records.filter(pl.col("_csv"))
        if csv_records.height:
            frame, bad = self._fast_output_csv(csv_records)
            parts.append(frame)
            flagged |= bad
        json_records = records.filter(~pl.col("_csv"))
        if json_records.height:
            frame, bad = self._fast_output_json(json_records)
            parts.append(frame)
            flagged |= bad
        frame = pl.concat([p.cast(out_schema) for p in parts], how="vertical")  # type: ignore[arg-type]
        return frame, flagged

    def _raw_pred_schema(self) -> dict[str, pl.DataType]:
        return {c: self.schema[c] for c in self.pred_columns}

    def _fast_output_csv(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        m = len(self.out_columns)
        text = pl.col("out_text")
        joined = (
            pl.lit(m == 1)
            & (text.str.count_matches("\n", literal=True) == 0)
            & (pl.col("_n_in").is_null() | (pl.col("_n_in") > 1))
        )
        units = (
            records.select(
                LINE_COL,
                "_n_in",
                pl.when(joined).then(text.str.split(",")).otherwise(text.str.split("\n")).alias("_u"),
            )
            .with_columns(
                pl.col("_u").list.len().alias("_n_out"),
                pl.int_ranges(pl.col("_u").list.len()).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST),
            )
            .explode(["_u", COL_ROW_IN_REQUEST])
        )
        values = pl.col("_u").str.split(",")
        units = units.with_columns(values.alias("_v"))
        bad = (pl.col("_v").list.len() != m) | (pl.col("_n_in").is_not_null() & (pl.col("_n_in") != pl.col("_n_out")))
        exprs: list[pl.Expr] = []
        for position, column in enumerate(self.out_columns):
            if column == "_" or column not in self.pred_columns:
                continue
            value = pl.col("_v").list.get(position, null_on_oob=True).str.strip_chars()
            present = value.str.len_bytes() > 0
            if column == COL_Y_PRED and self.config.problem_type is ProblemType.MULTICLASS:
                exprs.append(pl.when(present).then(value).otherwise(None).alias(column))
                continue
            number = value.cast(pl.Float64, strict=False)
            bad = bad | (present & number.is_null()) | value.str.contains("_", literal=True)
            if column == COL_Y_PRED and self.config.problem_type is ProblemType.BINARY:
                bad = bad | (number.is_not_null() & ((number != number.round(0)) | number.is_infinite()))
                exprs.append(pl.when(number.is_finite()).then(number).otherwise(None).cast(pl.Int64).alias(column))
            else:
                exprs.append(number.alias(column))
        result = units.select(LINE_COL, COL_ROW_IN_REQUEST, *exprs, bad.fill_null(True).alias("_bad"))
        flagged = set(result.filter(pl.col("_bad"))[LINE_COL].unique().to_list())
        for column, dtype in self._raw_pred_schema().items():
            if column not in result.columns:
                result = result.with_columns(pl.lit(None, dtype=dtype).alias(column))
        return result.drop("_bad"), flagged

    def _fast_output_json(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        rows: list[dict[str, Any]] = []
        flagged: set[int] = set()
        for number, text, n_in in records.select(LINE_COL, "out_text", "_n_in").iter_rows():
            try:
                outputs = self._json_output_rows(text)
            except RecordError:
                flagged.add(number)
                continue
            if n_in is not None and n_in != len(outputs):
                flagged.add(number)
                continue
            for position, values in enumerate(outputs):
                rows.append({LINE_COL: number, COL_ROW_IN_REQUEST: position, **values})
        schema = {LINE_COL: pl.Int64(), COL_ROW_IN_REQUEST: pl.Int32(), **self._raw_pred_schema()}
        return pl.DataFrame(rows, schema=schema, orient="row"), flagged

    def _derive_predictions(self, rows: pl.DataFrame) -> pl.DataFrame:
        """y_pred from the probabilities where the output gave only probabilities."""
        problem = self.config.problem_type
        if problem is ProblemType.BINARY:
            derived = (pl.col(COL_Y_PRED_PROBA) >= self.config.threshold).cast(pl.Int64)
            return rows.with_columns(pl.coalesce(COL_Y_PRED, derived).alias(COL_Y_PRED))
        if problem is ProblemType.MULTICLASS:
            probas = self.config.proba_columns
            all_present = pl.all_horizontal([pl.col(c).is_not_null() for c in probas]) & pl.any_horizontal(
                [pl.col(c).is_not_nan() for c in probas]
            )
            index = pl.concat_list(probas).list.arg_max()
            classes = pl.Series(self.config.classes, dtype=pl.Utf8)
            argmax = index.map_batches(lambda s: classes.gather(s.fill_null(0)), return_dtype=pl.Utf8)
            derived = pl.when(all_present).then(argmax).otherwise(None)
            return rows.with_columns(pl.coalesce(COL_Y_PRED, derived).alias(COL_Y_PRED))
        return rows

    # ------------------------------------------------------------------ per-record path
    def _decode_record(self, line: bytes) -> list[dict[str, Any]]:
        """Decode one record exactly like the fast path, or raise RecordError with the reason."""
        record, meta, event_id = parse_envelope(line)
        event_id = _to_text(event_id, "eventMetadata.eventId")
        inference_id = _to_text(meta.get("inferenceId"), "eventMetadata.inferenceId")
        inference_time = parse_inference_time(meta.get("inferenceTime"))
        capture = record.get("captureData")
        if capture is None:
            raise RecordError("missing captureData")
        if not isinstance(capture, dict):
            raise RecordError("captureData is not a JSON object")
        in_side, out_side = capture.get("endpointInput"), capture.get("endpointOutput")
        if in_side is None and out_side is None:
            raise RecordError("captureData has neither endpointInput nor endpointOutput")
        inputs = self._input_rows(in_side) if in_side is not None else None
        outputs = self._output_rows(out_side, None if inputs is None else len(inputs)) if out_side is not None else None
        if inputs is not None and outputs is not None and len(inputs) != len(outputs):
            raise RecordError(
                f"row count mismatch: endpointInput has {len(inputs)} rows, endpointOutput has {len(outputs)}"
            )
        count = len(inputs) if inputs is not None else len(outputs or [])
        rows = []
        for position in range(count):
            row: dict[str, Any] = dict.fromkeys(self.schema)
            if inputs is not None:
                row.update(inputs[position])
            if outputs is not None:
                row.update(outputs[position])
            row[COL_EVENT_ID] = event_id
            row[COL_INFERENCE_ID] = inference_id if inference_id is not None else event_id
            row[COL_ROW_IN_REQUEST] = position
            row[COL_INFERENCE_TIME] = inference_time
            row[_HAS_OUTPUT] = outputs is not None
            self._derive_record_prediction(row)
            rows.append(row)
        return rows

    def _derive_record_prediction(self, row: dict[str, Any]) -> None:
        if row[COL_Y_PRED] is not None:
            return
        problem = self.config.problem_type
        if problem is ProblemType.BINARY and row[COL_Y_PRED_PROBA] is not None:
            row[COL_Y_PRED] = int(row[COL_Y_PRED_PROBA] >= self.config.threshold)
        elif problem is ProblemType.MULTICLASS:
            probas = [row[c] for c in self.config.proba_columns]
            if all(p is not None for p in probas):
                # like polars' list.arg_max: the first maximum, NaN ignored (all NaN: no prediction)
                best: int | None = None
                for index, value in enumerate(probas):
                    if not math.isnan(value) and (best is None or value > probas[best]):
                        best = index
                row[COL_Y_PRED] = None if best is None else self.config.classes[best]

    def _input_rows(self, side: Any) -> list[dict[str, Any]]:
        text, encoding = decode_side_text(side, "endpointInput")
        kind = content_format(side.get("observedContentType"), encoding, self.config.input.format)
        if kind == "csv":
            cells = _csv_rows(text, "endpointInput")
            rows = []
            for index, values in enumerate(cells):
                if len(values) != self.n_features:
                    raise RecordError(
                        f"wrong column count: endpointInput row {index} has {len(values)} values, "
                        f"expected {self.n_features} (features)"
                    )
                rows.append(self._typed_features(values, index))
            return rows
        document = _json_body(text, "endpointInput")
        try:
            instances = self.instances_path.value(document)
        except JsonPathError as exc:
            raise RecordError(f"JSON path {self.instances_path.text} missing in endpointInput.data: {exc}") from exc
        if isinstance(instances, dict) or (
            isinstance(instances, list) and instances and not isinstance(instances[0], list | dict)
        ):
            instances = [instances]
        if not isinstance(instances, list) or not instances:
            raise RecordError(f"endpointInput.data at {self.instances_path.text} holds no rows")
        rows = []
        for index, instance in enumerate(instances):
            if isinstance(instance, list):
                if len(instance) != self.n_features:
                    raise RecordError(
                        f"wrong column count: endpointInput row {index} has {len(instance)} values, "
                        f"expected {self.n_features} (features)"
                    )
                rows.append(self._typed_features(instance, index))
            elif isinstance(instance, dict):
                values = []
                for feature in self.features:
                    path = self.feature_paths.get(feature.name)
                    try:
                        values.append(
                            path.value(instance)
                            if path is not None
                            else compile_path(f"$['{feature.name}']").value(instance)
                        )
                    except JsonPathError as exc:
                        where = path.text if path is not None else feature.name
                        raise RecordError(
                            f"JSON path {where} missing in endpointInput row {index} (feature {feature.name!r})"
                        ) from exc
                rows.append(self._typed_features(values, index))
            else:
                raise RecordError(f"endpointInput row {index} is a JSON {type(instance).__name__}, expected a row")
        return rows

    def _typed_features(self, values: list[Any], index: int) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for feature, value in zip(self.features, values, strict=True):
            if feature.type == "numeric":
                row[feature.name] = _to_float(value, f"numeric feature {feature.name!r} (endpointInput row {index})")
            else:
                if isinstance(value, list | dict):
                    raise RecordError(
                        f"categorical feature {feature.name!r} (endpointInput row {index}) is not a single value"
                    )
                row[feature.name] = _to_text(value, f"feature {feature.name!r}")
        return row

    def _output_rows(self, side: Any, n_in: int | None) -> list[dict[str, Any]]:
        text, encoding = decode_side_text(side, "endpointOutput")
        kind = content_format(side.get("observedContentType"), encoding, self.config.output.format)
        if kind == "json":
            if self.proba_path is None and self.pred_path is None:
                raise RecordError("endpointOutput is JSON but output.probabilities/prediction paths are not configured")
            return self._json_output_rows(text)
        if not self.out_columns:
            raise RecordError("endpointOutput is CSV but output.columns is not configured")
        m = len(self.out_columns)
        lines = _csv_rows(text, "endpointOutput")
        if m == 1 and len(lines) == 1 and (n_in is None or n_in > 1) and len(lines[0]) > 1:
            lines = [[value] for value in lines[0]]  # one comma-joined line for k rows (built-in algorithms)
        rows = []
        for index, values in enumerate(lines):
            if len(values) != m:
                raise RecordError(
                    f"wrong column count: endpointOutput row {index} has {len(values)} values, "
                    f"expected {m} (output.columns)"
                )
            row: dict[str, Any] = {}
            for column, value in zip(self.out_columns, values, strict=True):
                if column in self.pred_columns:
                    row[column] = self._typed_prediction(column, value, index)
            rows.append(row)
        return rows

    def _typed_prediction(self, column: str, value: Any, index: int) -> Any:
        what = f"endpointOutput column {column!r} (row {index})"
        problem = self.config.problem_type
        if column == COL_Y_PRED and problem is ProblemType.MULTICLASS:
            if isinstance(value, str):
                return value.strip() or None
            if isinstance(value, list | dict):
                raise RecordError(f"{what} is not a class label")
            return _to_text(value, what)
        if column == COL_Y_PRED and problem is ProblemType.BINARY:
            if isinstance(value, str) and self.config.classes and value.strip() in self.config.classes:
                return self.config.classes.index(value.strip())
            number = _to_float(value, what)
            if number is None:
                return None
            if not math.isfinite(number) or number != round(number):
                raise RecordError(f"{what} is not an integer class label")
            return int(number)
        return _to_float(value, what)

    def _json_output_rows(self, text: str) -> list[dict[str, Any]]:
        document = _json_body(text, "endpointOutput")
        multiclass = self.config.problem_type is ProblemType.MULTICLASS
        probas: list[Any] | None = None
        predictions: list[Any] | None = None
        if self.proba_path is not None:
            probas = self._json_values(document, self.proba_path, nested=multiclass)
        if self.pred_path is not None:
            predictions = self._json_values(document, self.pred_path, nested=False)
        if probas is not None and predictions is not None and len(probas) != len(predictions):
            raise RecordError(f"endpointOutput has {len(probas)} probabilities but {len(predictions)} predictions")
        count = len(probas) if probas is not None else len(predictions or [])
        if count == 0:
            raise RecordError("endpointOutput.data holds no predictions")
        rows = []
        for index in range(count):
            row: dict[str, Any] = {}
            if probas is not None:
                row.update(self._typed_probabilities(probas[index], index))
            if predictions is not None:
                row[COL_Y_PRED] = self._typed_prediction(COL_Y_PRED, predictions[index], index)
            rows.append(row)
        return rows

    @staticmethod
    def _json_values(document: Any, path: Any, nested: bool) -> list[Any]:
        try:
            found = path.value(document)
        except JsonPathError as exc:
            raise RecordError(f"JSON path {path.text} missing in endpointOutput.data: {exc}") from exc
        if path.has_wildcard:
            return list(found)
        if not isinstance(found, list):
            return [found]
        if nested and found and not isinstance(found[0], list):
            return [found]  # one row's list of class probabilities
        return found

    def _typed_probabilities(self, value: Any, index: int) -> dict[str, Any]:
        if self.config.problem_type is ProblemType.MULTICLASS:
            classes = self.config.classes
            if not isinstance(value, list) or len(value) != len(classes):
                size = len(value) if isinstance(value, list) else 1
                raise RecordError(
                    f"wrong column count: endpointOutput probabilities row {index} has {size} values, "
                    f"expected {len(classes)} (classes)"
                )
            return {
                f"{COL_Y_PRED_PROBA}_{c}": _to_float(v, f"endpointOutput probabilities (row {index})")
                for c, v in zip(classes, value, strict=True)
            }
        if isinstance(value, list) and len(value) == 2 and self.config.problem_type is ProblemType.BINARY:
            value = value[1]  # [p(negative), p(positive)] pairs: keep the positive class
        if self.config.problem_type is ProblemType.REGRESSION:
            return {}
        return {COL_Y_PRED_PROBA: _to_float(value, f"endpointOutput probabilities (row {index})")}
