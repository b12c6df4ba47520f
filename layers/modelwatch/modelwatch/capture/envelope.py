"""The record envelope of captures and ground truth: eventMetadata, the captureData sides, encodings, payload text.

Each piece has its per-record half (one parsed record) and, where the vectorised path needs it, its vectorised
half (columns of many records) next to it, so both read the envelope the same way.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from modelwatch.capture.records import LINE_COL, RecordError, parse_json_object
from modelwatch.capture.rules import scalar_text
from modelwatch.constants import COL_EVENT_ID, COL_INFERENCE_TIME

KNOWN_ENCODINGS = ("CSV", "BASE64", "JSON")
TIME_DTYPE = pl.Datetime("us", "UTC")
# The vectorised path takes the usual UTC form only; offsets, nanoseconds and the rest go through fromisoformat.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
_SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%S"  # the first 19 characters of the usual form
_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
_INVALID_TIME = "invalid eventMetadata.inferenceTime (expected ISO-8601 like 2022-02-14T17:25:49Z)"
# What the lake's readers can hold: pandas' datetime64[ns] spans 1677-09-21 00:12:43 .. 2262-04-11 23:47:16.
EARLIEST_TIME = datetime(1677, 9, 22, tzinfo=UTC)
LATEST_TIME = datetime(2262, 4, 11, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OUT_OF_RANGE_TIME = (
    f"eventMetadata.inferenceTime out of range ({EARLIEST_TIME:%Y-%m-%d} to {LATEST_TIME:%Y-%m-%d}, "
    "what the lake holds)"
)

# The captureData sides and the prefix of their flattened columns (`in_data`, `out_encoding`, ...).
SIDES = (("endpointInput", "in"), ("endpointOutput", "out"))
SIDE_FIELDS = ("observedContentType", "data", "encoding")
# `mode` (INPUT/OUTPUT) is implied by the side and not read: fewer fields make the NDJSON parse cheaper.
_SIDE = pl.Struct({"observedContentType": pl.Utf8, "data": pl.Utf8, "encoding": pl.Utf8})
CAPTURE_JSON_SCHEMA: dict[str, pl.DataType] = {
    "captureData": pl.Struct({"endpointInput": _SIDE, "endpointOutput": _SIDE}),
    "eventMetadata": pl.Struct({"eventId": pl.Utf8, "inferenceId": pl.Utf8, "inferenceTime": pl.Utf8}),
}
GROUND_TRUTH_JSON_SCHEMA: dict[str, pl.DataType] = {
    "groundTruthData": pl.Struct({"data": pl.Utf8, "encoding": pl.Utf8}),
    "eventMetadata": pl.Struct({"eventId": pl.Utf8}),
}
INFERENCE_ID_RAW = "_inference_id"  # flattened inferenceId as sent ("" and null both mean none)


# ---------------------------------------------------------------------------- eventMetadata
def parse_envelope(line: bytes) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Per-record: the record, its eventMetadata and raw eventId, shared by captures and ground truth."""
    record = parse_json_object(line)
    meta = record.get("eventMetadata")
    if meta is None:
        raise RecordError("missing eventMetadata")
    if not isinstance(meta, dict):
        raise RecordError("eventMetadata is not a JSON object")
    event_id = meta.get("eventId")
    if event_id is None or event_id == "":
        raise RecordError("missing eventMetadata.eventId")
    return record, meta, event_id


def id_text(value: Any, what: str) -> str | None:
    """Per-record: an id (eventId, inferenceId) as text."""
    try:
        return scalar_text(value)
    except TypeError as exc:
        raise RecordError(f"{what} is a JSON {type(value).__name__}, expected a value") from exc


@dataclass(frozen=True)
class TimeBounds:
    """The inference times a record may have: what the lake holds, and at most `skew` after the capture object
    arrived (when its arrival is known)."""

    arrived: datetime | None = None
    skew: timedelta = timedelta(days=1)
    skew_text: str = "1d"

    @property
    def latest(self) -> datetime:
        if self.arrived is None:
            return LATEST_TIME
        return min(LATEST_TIME, self.arrived.astimezone(UTC) + self.skew)

    def check(self, when: datetime) -> datetime:
        """Per-record: `when` if it is within the bounds, else RecordError naming which one it is outside."""
        if not EARLIEST_TIME <= when < LATEST_TIME:
            raise RecordError(_OUT_OF_RANGE_TIME)
        if when > self.latest:
            raise RecordError(
                f"eventMetadata.inferenceTime is more than {self.skew_text} after the capture object arrived "
                "(validation.max_time_skew)"
            )
        return when

    def expr(self, time: pl.Expr) -> pl.Expr:
        """Vectorised `check`: the time where it is within the bounds, else null (left to the per-record path)."""
        latest = min(self.latest, LATEST_TIME - timedelta(microseconds=1))
        return pl.when(time.is_between(_time_lit(EARLIEST_TIME), _time_lit(latest))).then(time)


def _time_lit(when: datetime) -> pl.Expr:
    # microseconds cast to the lake's dtype: a tz-aware datetime literal costs a time-zone lookup per expression
    return pl.lit((when - _EPOCH) // timedelta(microseconds=1), dtype=pl.Int64).cast(TIME_DTYPE)


def parse_inference_time(value: Any, bounds: TimeBounds | None = None) -> datetime:
    """Per-record: ISO-8601 inference time (with or without fraction, `Z` or offset) as an aware UTC datetime,
    within `bounds`."""
    if value is None:
        raise RecordError("missing eventMetadata.inferenceTime")
    if not isinstance(value, str) or len(value) < 19 or value[10] not in "Tt ":
        raise RecordError(_INVALID_TIME)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RecordError(_INVALID_TIME) from exc
    try:
        when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:  # year 1 with a positive offset, year 9999 with a negative one
        raise RecordError(_OUT_OF_RANGE_TIME) from exc
    return (bounds or TimeBounds()).check(when)


def inference_time_expr(raw: pl.Expr, bounds: TimeBounds | None = None) -> pl.Expr:
    """Vectorised: the inference time of the usual `...Z` form within `bounds`; null otherwise (per-record path).

    Read as `strptime_time_expr` reads it, faster: its whole seconds (a fixed-width format, which polars parses
    on a fast path) plus the fraction's microseconds (measured: a third of the CPU of one strptime with `%.f`; the
    same on 300,000 generated times of the form, invalid dates and leap seconds included)."""
    seconds = raw.str.head(19).str.to_datetime(_SECONDS_FORMAT, strict=False, time_unit="us", time_zone="UTC")
    fraction = raw.str.slice(20).str.strip_suffix("Z").str.pad_end(6, "0").cast(pl.Int64, strict=False).fill_null(0)
    parsed = seconds + pl.duration(microseconds=fraction)
    return (bounds or TimeBounds()).expr(pl.when(raw.str.contains(_TIME_PATTERN)).then(parsed))


def strptime_time_expr(raw: pl.Expr) -> pl.Expr:
    """The usual `...Z` form read by one strptime (what `inference_time_expr` computes, without the bounds)."""
    parsed = raw.str.to_datetime(_TIME_FORMAT, strict=False, time_unit="us", time_zone="UTC")
    return pl.when(raw.str.contains(_TIME_PATTERN)).then(parsed)


def flatten_exprs(bounds: TimeBounds | None = None) -> list[pl.Expr]:
    """The expressions of `flatten_capture` (a decoder builds them once: they cost a few hundred microseconds)."""
    capture = pl.col("captureData")
    meta = pl.col("eventMetadata")
    return [
        pl.col(LINE_COL),
        meta.struct.field("eventId").alias(COL_EVENT_ID),
        meta.struct.field("inferenceId").alias(INFERENCE_ID_RAW),
        inference_time_expr(meta.struct.field("inferenceTime"), bounds).alias(COL_INFERENCE_TIME),
        *[
            capture.struct.field(side).struct.field(name).alias(f"{prefix}_{name}")
            for side, prefix in SIDES
            for name in SIDE_FIELDS
        ],
        *[capture.struct.field(side).is_not_null().alias(f"_{prefix}") for side, prefix in SIDES],
    ]


def flatten_capture(frame: pl.DataFrame, bounds: TimeBounds | None = None) -> pl.DataFrame:
    """Vectorised: the envelope of parsed capture records as flat columns.

    `_line`, `event_id`, `_inference_id`, `inference_time` (null unless in the usual form and within `bounds`),
    `in_`/`out_` +
    `observedContentType`/`data`/`encoding`, and `_in`/`_out` (the side is present).
    """
    return frame.select(flatten_exprs(bounds))


def envelope_ok_expr() -> pl.Expr:
    """Vectorised: the flattened envelope is complete (event id, usual-form time, at least one side)."""
    event_id = pl.col(COL_EVENT_ID)
    return (
        event_id.is_not_null()
        & (event_id != "")
        & pl.col(COL_INFERENCE_TIME).is_not_null()
        & (pl.col("_in") | pl.col("_out"))
    )


# ---------------------------------------------------------------------------- content type and encoding
JSON_LINES_TYPES = ("jsonl", "json-lines", "ndjson")  # application/jsonlines, x-jsonlines, json-lines, x-ndjson


def content_format(content_type: str | None, encoding: str | None, configured: str) -> str:
    """Per-record: `jsonlines`, `json` or `csv`: a JSON Lines content type first (one document per line, whatever
    the config says), then the JSON encoding or a JSON content type, then a CSV content type, then the config."""
    kind = (content_type or "").lower()
    if any(name in kind for name in JSON_LINES_TYPES):
        return "jsonlines"
    if (encoding or "").upper() == "JSON" or "json" in kind:
        return "json"
    if "csv" in kind:
        return "csv"
    return configured


def is_json_lines_expr(prefix: str) -> pl.Expr:
    """Vectorised `content_format(...) == "jsonlines"` of a flattened side."""
    kind = pl.col(f"{prefix}_observedContentType").fill_null("").str.to_lowercase()
    return pl.any_horizontal([kind.str.contains(name, literal=True) for name in JSON_LINES_TYPES])


def is_csv_expr(prefix: str, configured: str) -> pl.Expr:
    """Vectorised `content_format(...) == "csv"` of a flattened side (its encoding is already upper case)."""
    kind = pl.col(f"{prefix}_observedContentType").fill_null("").str.to_lowercase()
    is_json = kind.str.contains("json", literal=True) | (pl.col(f"{prefix}_encoding") == "JSON")
    return ~is_json & (kind.str.contains("csv", literal=True) | pl.lit(configured == "csv"))


# ---------------------------------------------------------------------------- payload text
def decode_side_text(side: Any, name: str) -> tuple[str, str]:
    """Per-record: (payload text, upper-case encoding) of one present side; raises RecordError with the reason."""
    if not isinstance(side, dict):
        raise RecordError(f"{name} is not a JSON object")
    data = side.get("data")
    encoding = side.get("encoding")
    if data is None:
        raise RecordError(f"missing {name}.data")
    if not isinstance(data, str):
        raise RecordError(f"{name}.data is a JSON {type(data).__name__}, expected a string")
    if encoding is None:
        raise RecordError(f"missing {name}.encoding")
    if not isinstance(encoding, str) or encoding.upper() not in KNOWN_ENCODINGS:
        # a short word is named; anything else could be a payload pasted into the wrong field
        shown = f" {encoding!r}" if isinstance(encoding, str) and _ENCODING_WORD.match(encoding) else ""
        raise RecordError(f"unknown encoding{shown} in {name}.encoding (expected CSV, BASE64 or JSON)")
    encoding = encoding.upper()
    if encoding == "BASE64":
        raw = decode_base64(data, f"{name}.data")
        try:
            return raw.decode("utf-8"), encoding
        except UnicodeDecodeError as exc:
            raise RecordError(f"{name}.data is not valid UTF-8 after base64 decoding") from exc
    return data, encoding


def decode_base64(data: str, where: str) -> bytes:
    """Per-record: standard base64, whitespace and line breaks ignored; RecordError says what is wrong."""
    text = data.translate(_NO_WHITESPACE) if _HAS_WHITESPACE.search(data) else data
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordError(f"invalid base64 in {where}: {_base64_problem(text)}") from exc


def _base64_problem(text: str) -> str:
    """Why `text` (whitespace removed) is not base64: a character, the padding or the length."""
    bad = _NOT_BASE64.search(text)
    if bad is not None:
        return f"character {bad.start() + 1} is not a base64 character"
    if len(text.rstrip("=")) % 4 == 1:
        return f"{len(text.rstrip('='))} characters cannot be base64 (4 encode 3 bytes)"
    return "bad padding (`=` only at the end, to a multiple of 4 characters)"


_ENCODING_WORD = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
# Whitespace a base64 payload may be wrapped with (MIME line breaks, pretty-printing); the vectorised half removes the
# same characters.
BASE64_WHITESPACE = " \t\n\r\f\v"
_HAS_WHITESPACE = re.compile(r"[ \t\n\r\f\v]")
_NO_WHITESPACE = str.maketrans("", "", BASE64_WHITESPACE)
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")


def binary_to_text(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Binary -> UTF-8 text; returns (text, invalid-utf8 flags). Nulls stay null and are not flagged."""
    try:
        return values.cast(pl.Utf8), _none_flagged(values)
    except Exception:  # nosec B110 # noqa: S110 - at least one value is not UTF-8: find which, one by one
        pass
    texts: list[str | None] = []
    flags: list[bool] = []
    for value in values.to_list():
        if value is None:
            texts.append(None)
            flags.append(False)
            continue
        try:
            texts.append(value.decode("utf-8"))
            flags.append(False)
        except UnicodeDecodeError:
            texts.append(None)
            flags.append(True)
    return pl.Series(values.name, texts, dtype=pl.Utf8), pl.Series(values.name, flags, dtype=pl.Boolean)


def _none_flagged(values: pl.Series) -> pl.Series:
    # one value repeated natively (measured: ~0.1 ms less a call than an eager pl.repeat, which runs a query)
    return pl.Series(values.name, [False], dtype=pl.Boolean).new_from_index(0, len(values))


def base64_mask(encoding: pl.Series) -> pl.Series:
    """Which values of an (upper-case) encoding column are BASE64 (null: not)."""
    return (encoding == "BASE64").fill_null(False)


def payload_text(
    data: pl.Series, encoding: pl.Series | None, is_b64: pl.Series | None = None
) -> tuple[pl.Series, pl.Series]:
    """Payload text of CSV/JSON (as is) and BASE64 (decoded) data; returns (text, failed) where failed marks
    BASE64 values that are not valid base64 or not UTF-8 (their text is null). `is_b64`: `base64_mask(encoding)`
    when the caller already has it (then `encoding` is not read)."""
    if is_b64 is None:
        assert encoding is not None
        is_b64 = base64_mask(encoding)
    if not is_b64.any():
        return data, _none_flagged(data)
    # only the base64 values are decoded, then put in their places (measured: cheaper than a pick between columns)
    positions = is_b64.arg_true()
    b64 = data.gather(positions)
    decoded = b64.str.decode("base64", strict=False)
    if decoded.null_count() > b64.null_count():  # (null counts are known without a pass)
        # the failures only: base64 wrapped with whitespace decodes once it is removed (the per-record half's rule)
        retry = b64.is_not_null() & decoded.is_null()
        wrapped = pl.select(pl.when(retry).then(b64)).to_series()
        unwrapped = wrapped.str.replace_all(f"[{BASE64_WHITESPACE}]", "").str.decode("base64", strict=False)
        decoded = decoded.zip_with(~retry, unwrapped)
    text_b64, bad_utf8 = binary_to_text(decoded)
    text = data.clone().scatter(positions, text_b64).alias(data.name)
    if decoded.null_count() == b64.null_count() and not bad_utf8.any():
        return text, _none_flagged(data)  # every base64 value decoded to text (the usual batch: no more passes)
    failed_b64 = ((b64.is_not_null() & decoded.is_null()) | bad_utf8).fill_null(False)
    failed = _none_flagged(data).scatter(positions, failed_b64)
    return text, failed.fill_null(False)
