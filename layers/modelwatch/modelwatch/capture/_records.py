"""Shared machinery of the capture and ground-truth decoders: line batches, JSONL records, payload text."""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import polars as pl

from modelwatch.errors import CaptureReadError

READ_CHUNK_BYTES = 4 * 1024 * 1024
LINE_COL = "_line"
KNOWN_ENCODINGS = ("CSV", "BASE64", "JSON")


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record that could not be decoded, kept whole with where it came from and why."""

    source: str  # source object key/URI
    line: int  # 1-based line number in the source file
    reason: str  # clear named reason, e.g. "invalid base64 in endpointInput.data"
    raw: str  # the whole original line (utf-8 with errors="replace")


class RecordError(ValueError):
    """Raised inside the per-record path; its message is the quarantine reason."""


def raw_text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def iter_line_batches(stream: BinaryIO, source: str, batch_lines: int) -> Iterator[list[tuple[int, bytes]]]:
    """Yield batches of (1-based line number, line without its newline), skipping blank lines.

    Reads with `stream.read(n)` only, so botocore streaming bodies and files work alike.
    """
    if batch_lines < 1:
        raise ValueError("batch_lines must be at least 1")
    batch: list[tuple[int, bytes]] = []
    number = 0
    tail = b""
    while True:
        try:
            chunk = stream.read(READ_CHUNK_BYTES)
        except Exception as exc:
            raise CaptureReadError(f"{source}: cannot read object: {type(exc).__name__}: {exc}") from exc
        if not chunk:
            break
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise CaptureReadError(f"{source}: stream returned {type(chunk).__name__}, expected bytes")
        parts = (tail + bytes(chunk)).split(b"\n")
        tail = parts.pop()
        for line in parts:
            number += 1
            if line.strip():
                batch.append((number, line))
                if len(batch) >= batch_lines:
                    yield batch
                    batch = []
    if tail:
        number += 1
        if tail.strip():
            batch.append((number, tail))
    if batch:
        yield batch


def _fast_read(lines: list[tuple[int, bytes]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    frame = pl.read_ndjson(io.BytesIO(b"\n".join(line for _, line in lines)), schema=schema)
    if frame.height != len(lines):  # defensive: never misalign line numbers
        raise ValueError("ndjson row count differs from line count")
    return frame.with_columns(pl.Series(LINE_COL, [n for n, _ in lines], dtype=pl.Int64))


def _structure_reason(line: bytes) -> str | None:
    """Why a line is not a JSON object record (None when it is one)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "line is not valid UTF-8"
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        return f"record is a JSON {type(value).__name__}, expected an object"
    return None


def read_json_records(
    lines: list[tuple[int, bytes]], schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, list[tuple[int, bytes, str]], list[tuple[int, bytes]]]:
    """Parse JSONL lines with polars; returns (records frame with `_line`, bad lines with reasons, slow lines).

    Lines polars cannot take are checked one by one: lines that are not JSON objects come back with a reason;
    JSON objects polars still cannot read (fields of unexpected types) come back as slow lines for the per-record path.
    """
    empty = pl.DataFrame(schema=schema).with_columns(pl.Series(LINE_COL, [], dtype=pl.Int64))
    if not lines:
        return empty, [], []
    try:
        return _fast_read(lines, schema), [], []
    except Exception:  # noqa: S110 - isolate the bad lines below
        pass
    bad: list[tuple[int, bytes, str]] = []
    good: list[tuple[int, bytes]] = []
    for number, line in lines:
        reason = _structure_reason(line)
        if reason is None:
            good.append((number, line))
        else:
            bad.append((number, line, reason))
    if not good:
        return empty, bad, []
    try:
        return _fast_read(good, schema), bad, []
    except Exception:
        return empty, bad, good


def binary_to_text(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Binary -> UTF-8 text; returns (text, invalid-utf8 flags). Nulls stay null and are not flagged."""
    try:
        return values.cast(pl.Utf8), pl.Series(values.name, [False] * len(values), dtype=pl.Boolean)
    except Exception:  # noqa: S110 - at least one value is not UTF-8: find which, one by one
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


def payload_text(data: pl.Series, encoding: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Payload text of CSV/JSON (as is) and BASE64 (decoded) data; returns (text, failed) where failed marks
    BASE64 values that are not valid base64 or not UTF-8 (their text is null)."""
    is_b64 = encoding == "BASE64"
    b64 = pl.select(pl.when(is_b64).then(data).otherwise(None).alias("d")).to_series()
    decoded = b64.str.decode("base64", strict=False)
    text_b64, bad_utf8 = binary_to_text(decoded)
    failed = (b64.is_not_null() & decoded.is_null()) | bad_utf8
    text = pl.select(pl.when(is_b64).then(text_b64).otherwise(data).alias("t")).to_series()
    return text, failed.fill_null(False)


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
        raise RecordError(f"unknown encoding {encoding!r} in {name}.encoding (expected CSV, BASE64 or JSON)")
    encoding = encoding.upper()
    if encoding == "BASE64":
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RecordError(f"invalid base64 in {name}.data") from exc
        try:
            return raw.decode("utf-8"), encoding
        except UnicodeDecodeError as exc:
            raise RecordError(f"{name}.data is not valid UTF-8 after base64 decoding") from exc
    return data, encoding
