"""Capture files cut into line batches (`records.iter_line_batches`, `records.count_lines`): every line keeps its
number whatever the read block and batch sizes, with blank lines, CRLF, a last line without a newline, base64
payloads and `null` lines among the records (Given / When / Then)."""

from __future__ import annotations

import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwatch.capture import decode_capture_bytes
from modelwatch.capture.decode import CaptureDecoder
from modelwatch.capture.records import count_lines, iter_line_batches
from modelwatch.config.model import ModelConfig
from tests.unit.capture.conftest import capture_bytes

LINES = st.lists(st.sampled_from([b"", b" ", b"\r", b"{}", b"null", b"x" * 40, b'{"a": 1}\r']), max_size=40)


@given(data=st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\n")), limit=st.integers(1, 50))
def test_count_lines_counts_newlines_plus_one_up_to_the_limit(data: bytes, limit: int) -> None:
    # Given any bytes (many newlines among them) and a limit
    expected = data.count(b"\n") + 1
    # When the lines are counted
    counted = count_lines(data, limit)
    # Then it is the newlines plus one, or 0 past the limit
    assert counted == (expected if expected <= limit else 0)


@settings(max_examples=200, deadline=None)
@given(lines=LINES, final_newline=st.booleans(), batch_lines=st.integers(1, 12), block=st.integers(1, 64))
def test_every_non_blank_line_keeps_its_number(
    lines: list[bytes], final_newline: bool, batch_lines: int, block: int
) -> None:
    # Given lines, blank and CR-ended ones among them, with or without a newline after the last
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    expected = [(n, line) for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    # When cut into batches read in blocks of any size
    batches = list(iter_line_batches(io.BytesIO(data), "s", batch_lines, block_bytes=block))
    # Then the batches hold every non-blank line once, numbered as in the file, at most batch_lines lines each
    assert [item for batch in batches for item in batch.lines] == expected
    assert all(batch.count <= batch_lines for batch in batches)


@pytest.mark.parametrize("block", [37, 200, 4096, 16 * 1024 * 1024])
@pytest.mark.parametrize("batch_lines", [1, 3, 20_000])
def test_decoded_values_do_not_depend_on_the_cut(car_loan: ModelConfig, block: int, batch_lines: int) -> None:
    # Given records (CSV and base64, good and bad) with blank lines, CRLF line ends, a `null` line, and a last line
    # without a newline
    records = [
        line.rstrip(b"\r")
        for name in ("binary_csv.jsonl", "binary_mixed_bad.jsonl", "binary_base64_multirow.jsonl")
        for line in capture_bytes(name).split(b"\n")
        if line.strip()
    ]
    lines = [records[0], b"", records[1] + b"\r", b"null", b"  ", *records[2:-1], b"\r", records[-1]]
    data = b"\n".join(lines)
    whole = decode_capture_bytes(data, car_loan, "s")
    # When the file is cut into batches of any size, read in blocks of any size
    decoder = CaptureDecoder(car_loan, "s")
    parts = [decoder.decode_batch(b) for b in iter_line_batches(io.BytesIO(data), "s", batch_lines, block_bytes=block)]
    # Then the rows, quarantined records and counts are the whole file's, and the `null` line is quarantined under
    # its own line number
    assert pl.concat([p.rows for p in parts]).equals(whole.rows)
    assert [q for p in parts for q in p.quarantined] == whole.quarantined
    assert sum(p.records for p in parts) == whole.records == len(records) + 1
    assert 4 in {q.line for q in whole.quarantined}
    assert whole.rows.height > 0
