"""JSON-lines records of capture and ground-truth files: line batches, parsed JSON objects, quarantined records."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import polars as pl

from modelwatch.errors import CaptureReadError

# measured: 8-16 MB blocks fault in far less fresh memory than 32-64 MB ones (less CPU, lower peak RSS); 16 MB
# halves the fixed per-batch cost of 8 MB
READ_BLOCK_BYTES = 16 * 1024 * 1024
LINE_COL = "_line"
JSON_DECODE_BYTES = 1024 * 1024  # JSON text decoded at a time (`json_decode_chunks`)


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
    """A line as kept in quarantine (invalid UTF-8 replaced)."""
    return line.decode("utf-8", errors="replace")


def parse_json_object(line: bytes) -> dict[str, Any]:
    """One line as a JSON object; raises RecordError saying why it is not one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError("line is not valid UTF-8") from exc
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RecordError(f"record is a JSON {type(value).__name__}, expected an object")
    return value


class LineBatch:
    """Consecutive lines of a source file: the raw bytes (lines joined by newlines) and the first line's number.

    The lines are split (and blank lines dropped) only when needed: the fast path hands `data` to polars whole.
    """

    def __init__(self, first: int, data: bytes, count: int | None = None) -> None:
        self.first = first  # 1-based number of the first line
        self.data = data
        self.count = data.count(b"\n") + 1 if count is None else count  # lines in data, blank ones included
        self._lines: list[tuple[int, bytes]] | None = None

    @classmethod
    def from_lines(cls, lines: list[tuple[int, bytes]]) -> LineBatch:
        """A batch of already numbered lines (tests, fallbacks)."""
        batch = cls(lines[0][0] if lines else 1, b"", 0)
        batch._lines = list(lines)
        return batch

    @property
    def lines(self) -> list[tuple[int, bytes]]:
        """(1-based line number, line without its newline) of every non-blank line."""
        if self._lines is None:
            self._lines = [
                (self.first + offset, line) for offset, line in enumerate(self.data.split(b"\n")) if line.strip()
            ]
        return self._lines

    def raw_lines(self) -> dict[int, bytes]:
        return dict(self.lines)


GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1, ID2 and CM=8 (deflate, the only method gzip defines)
UTF8_BOM = b"\xef\xbb\xbf"


class _Prefixed:
    """A read-only stream that gives `head` first, then the rest of `stream` (the bytes sniffed off its start)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0:
                data, self.head = self.head + self.stream.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.stream.read(size)


def _sniff(stream: BinaryIO, source: str, size: int) -> bytes:
    """The first `size` bytes of a stream (fewer at its end)."""
    head = b""
    while len(head) < size:
        try:
            block = stream.read(size - len(head))
        except Exception as exc:
            raise CaptureReadError(f"{source}: cannot read object: {type(exc).__name__}: {exc}") from exc
        if not block:
            break
        head += bytes(block)
    return head


def open_payload(stream: BinaryIO, source: str) -> BinaryIO:
    """The JSON-lines text of a capture or ground-truth object, whatever its name says: gzip is decompressed as it
    is read (by its magic bytes), and a UTF-8 byte-order mark at the start is dropped."""
    head = _sniff(stream, source, max(len(GZIP_MAGIC), len(UTF8_BOM)))
    if head.startswith(GZIP_MAGIC):
        unzipped = cast(BinaryIO, gzip.GzipFile(fileobj=cast(BinaryIO, _Prefixed(head, stream)), mode="rb"))
        head, stream = _sniff(unzipped, source, len(UTF8_BOM)), unzipped
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    return cast(BinaryIO, _Prefixed(head, stream))


def _blank(data: bytes) -> bool:
    # bytes.strip() would copy a whole batch; only data that starts with whitespace can be all whitespace
    return not data or (data[:1].isspace() and not data.strip())


def iter_line_batches(
    stream: BinaryIO, source: str, batch_lines: int, block_bytes: int = READ_BLOCK_BYTES
) -> Iterator[LineBatch]:
    """Yield batches of whole lines, at most `batch_lines` lines and about `block_bytes` bytes each.

    Reads with `stream.read(n)` only, so botocore streaming bodies and files work alike (gzip and a byte-order mark
    are handled by `open_payload`); any read failure, a corrupt gzip stream too, raises CaptureReadError. Copies
    each byte about once after the read (whole lines joined to the previous tail).
    """
    if batch_lines < 1:
        raise ValueError("batch_lines must be at least 1")
    stream = open_payload(stream, source)
    tail = b""
    first = 1
    while True:
        try:
            block = stream.read(block_bytes)
        except Exception as exc:
            raise CaptureReadError(f"{source}: cannot read object: {type(exc).__name__}: {exc}") from exc
        if block is None or not isinstance(block, bytes | bytearray | memoryview):
            raise CaptureReadError(f"{source}: stream returned {type(block).__name__}, expected bytes")
        if not block:
            segment = tail[:-1] if tail.endswith(b"\n") else tail
            yield from _split_batches(segment, first, batch_lines)
            return
        if isinstance(block, memoryview):
            block = bytes(block)
        view = memoryview(block)
        end = block.rfind(b"\n")
        if end < 0:
            tail = tail + bytes(block)
            continue
        # one copy per byte: the previous tail and this block's whole lines joined straight from the buffer
        segment = b"".join((tail, view[:end])) if tail else bytes(view[:end])
        tail = bytes(view[end + 1 :])
        count = count_lines(segment, batch_lines)
        if count > 0:
            if not _blank(segment):
                yield LineBatch(first, segment, count)
        else:  # more lines than a batch holds (short lines): cut
            count = segment.count(b"\n") + 1
            yield from _split_batches(segment, first, batch_lines)
        first += count


def count_lines(data: bytes, limit: int) -> int:
    """The lines in data (its newlines plus one), or 0 when there are more than `limit`. Line by line with
    `bytes.find` (memchr): measured on 16 MB of capture records, 2x (one-row records) to 10x (multi-row ones) less
    CPU than `bytes.count`, which tests every byte; past `limit` it stops."""
    count, position = 1, data.find(b"\n")
    while position >= 0:
        if count == limit:
            return 0
        count += 1
        position = data.find(b"\n", position + 1)
    return count


def _split_batches(segment: bytes, first: int, batch_lines: int) -> Iterator[LineBatch]:
    """Cut a run of whole lines into batches of at most `batch_lines` lines (blank runs are skipped)."""
    while segment:
        end = _nth_newline(segment, batch_lines)
        if end < 0:
            if not _blank(segment):
                yield LineBatch(first, segment)
            return
        part, segment = segment[:end], segment[end + 1 :]
        if not _blank(part):
            yield LineBatch(first, part, batch_lines)
        first += batch_lines


def _nth_newline(data: bytes, n: int) -> int:
    """Index of the n-th newline in data, or -1."""
    position = -1
    for _ in range(n):
        position = data.find(b"\n", position + 1)
        if position < 0:
            return -1
    return position


def json_decode_chunks(texts: pl.Series, dtype: pl.DataType, size: int | None = None) -> pl.Series:
    """`texts.str.json_decode(dtype)` about JSON_DECODE_BYTES of text (`size` bytes in all) at a time: polars holds
    the parsed documents of what it decodes at once (measured on a batch of one-row records: decoded whole, 100 MB
    more peak RSS and, faulting that memory in, more CPU than `read_ndjson`; by the megabyte, 40% less CPU). Raises
    what json_decode raises; it drops a chunk of one whitespace-only text, so the caller checks the length."""
    total = int(texts.str.len_bytes().sum()) if size is None else size
    step = max(1, len(texts) * JSON_DECODE_BYTES // max(total, 1))
    if step >= len(texts):
        return texts.str.json_decode(dtype)
    parts = [texts.slice(start, step).str.json_decode(dtype) for start in range(0, len(texts), step)]
    return pl.concat(parts, rechunk=False)


def _decode_lines(data: bytes, count: int, schema: dict[str, pl.DataType]) -> pl.DataFrame | None:
    """`count` JSON lines as `pl.read_ndjson` reads them, or None: the lines cut by polars' CSV reader (on a byte
    JSON cannot hold unescaped, so a line with it fails) and decoded by `json_decode_chunks` (`read_ndjson` builds
    each row's nested objects one by one). None when a line fails, is blank or is `null` (`read_ndjson` skips blank
    lines and fails on `null`: the caller reads the batch with it)."""
    try:
        lines = pl.read_csv(
            io.BytesIO(data), has_header=False, separator="\x01", quote_char=None, schema={"line": pl.Utf8}
        )["line"]
        if len(lines) != count or count == 0:
            return None
        records = json_decode_chunks(lines, pl.Struct(schema), len(data))
    except Exception:
        return None
    if len(records) != count or records.null_count():
        return None
    return records.struct.unnest()


def _fast_read(data: bytes, first: int, count: int, schema: dict[str, pl.DataType]) -> pl.DataFrame | None:
    """Read `count` JSON lines with polars; None when polars cannot (or skipped blank lines)."""
    frame = _decode_lines(data, count, schema)
    if frame is None:
        try:
            frame = pl.read_ndjson(data, schema=schema)
        except Exception:
            return None
    if frame.height != count:
        return None
    return frame.with_columns(pl.int_range(first, first + count, dtype=pl.Int64).alias(LINE_COL))


def _fast_read_lines(lines: list[tuple[int, bytes]], schema: dict[str, pl.DataType]) -> pl.DataFrame | None:
    frame = _fast_read(b"\n".join(line for _, line in lines), 0, len(lines), schema)
    if frame is None:
        return None
    return frame.with_columns(pl.Series(LINE_COL, [n for n, _ in lines], dtype=pl.Int64))


def _structure_reason(line: bytes) -> str | None:
    """Why a line is not a JSON object record (None when it is one)."""
    try:
        parse_json_object(line)
    except RecordError as exc:
        return str(exc)
    return None


def read_json_records(batch: LineBatch, schema: dict[str, pl.DataType]) -> ParsedRecords:
    """Parse a batch's JSON lines with polars.

    Returns (records frame with `_line`, bad lines with reasons, slow lines, record count). Lines polars cannot
    take are checked one by one: lines that are not JSON objects come back with a reason; JSON objects polars
    still cannot read (fields of unexpected types) come back as slow lines for the per-record path.
    """
    empty = pl.DataFrame(schema=schema).with_columns(pl.Series(LINE_COL, [], dtype=pl.Int64))
    if batch.data:
        frame = _fast_read(batch.data, batch.first, batch.count, schema)
        if frame is not None:
            return frame, [], [], batch.count
    lines = batch.lines
    if not lines:
        return empty, [], [], 0
    frame = _fast_read_lines(lines, schema)
    if frame is not None:
        return frame, [], [], len(lines)
    bad: list[tuple[int, bytes, str]] = []
    good: list[tuple[int, bytes]] = []
    for number, line in lines:
        reason = _structure_reason(line)
        if reason is None:
            good.append((number, line))
        else:
            bad.append((number, line, reason))
    if not good:
        return empty, bad, [], len(lines)
    frame = _fast_read_lines(good, schema)
    if frame is None:
        return empty, bad, good, len(lines)
    return frame, bad, [], len(lines)


ParsedRecords = tuple[pl.DataFrame, list[tuple[int, bytes, str]], list[tuple[int, bytes]], int]


def iter_parsed_batches(
    stream: BinaryIO,
    source: str,
    batch_lines: int,
    schema: dict[str, pl.DataType],
    block_bytes: int = READ_BLOCK_BYTES,
) -> Iterator[tuple[LineBatch, ParsedRecords]]:
    """`iter_line_batches` with each batch's `read_json_records`, one batch ahead.

    A helper thread reads and parses the next batch while the caller decodes the current one (polars releases
    the GIL, so the two overlap when a second core is free); at most two batches are in memory. Read failures
    surface as CaptureReadError from this iterator, as with `iter_line_batches`.
    """
    batches = iter_line_batches(stream, source, batch_lines, block_bytes)

    def load() -> tuple[LineBatch, ParsedRecords] | None:
        batch = next(batches, None)
        return None if batch is None else (batch, read_json_records(batch, schema))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture-read") as pool:
        pending = pool.submit(load)
        while True:
            item = pending.result()
            if item is None:
                return
            pending = pool.submit(load)
            yield item
