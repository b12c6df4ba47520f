"""JSON lines cut and decoded one by one (`records._decode_lines`): what `pl.read_ndjson` reads, or left to it,
whether the batch is decoded in one chunk or many (Given / When / Then)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwatch.capture import records
from modelwatch.capture.envelope import CAPTURE_JSON_SCHEMA
from modelwatch.capture.records import _decode_lines

SIDE = '{"observedContentType":"text/csv","mode":"INPUT","data":"1,2\\n","encoding":"CSV"}'
META = '{"eventId":"e","inferenceTime":"2024-03-01T10:00:00Z"}'
CLEAN = '{"captureData":{"endpointInput":SIDE},"eventMetadata":META,"eventVersion":"0"}'.replace("SIDE", SIDE).replace(
    "META", META
)


@pytest.fixture(params=["one chunk", "a line a chunk"], autouse=True)
def chunks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test with the lines decoded at once, and one by one (each in its own chunk)."""
    if request.param == "a line a chunk":
        monkeypatch.setattr(records, "JSON_DECODE_BYTES", 1)


def around(line: str) -> tuple[bytes, int]:
    """The line between two clean records, and the batch's line count."""
    return "\n".join([CLEAN, line, CLEAN]).encode(), 3


@pytest.mark.parametrize(
    "line",
    [
        CLEAN,
        CLEAN.replace('"eventId":"e"', '"eventId":5'),
        CLEAN.replace('"eventId":"e"', '"eventId":0.30000000000000004'),
        CLEAN.replace('"eventId":"e"', '"eventId":true'),
        CLEAN.replace('"eventId":"e"', '"eventId":null'),
        CLEAN.replace('"eventId":"e"', '"eventId":123456789012345678901234567890'),
        CLEAN.replace('"eventId":"e"', '"eventId":"e","eventId":"f"'),
        CLEAN.replace('"data":"1,2\\n"', '"data":12'),
        CLEAN.replace('"data":"1,2\\n"', '"data":"1,\\"2\\"\\r\\n\\t\\u00e9\\ud83d\\ude00\\/"'),
        CLEAN.replace('"data":"1,2\\n"', '"data":"a\\u0000b"'),
        CLEAN.replace('"data":"1,2\\n"', '"data":"\\ud800"'),
        CLEAN.replace('"mode":"INPUT"', '"mode":{"a":[1,{"b":null}]}'),
        CLEAN.replace(SIDE, "null"),
        CLEAN.replace(SIDE, "{}"),
        CLEAN.replace('"eventMetadata":', '"eventMetadata":\r\t '),
        CLEAN.replace('"eventId"', '"event\\u0049d"'),
        '{"captureData":null,"eventMetadata":{"eventId":"e"}}',
        "{}",
        "  " + CLEAN + "  ",
        CLEAN + "\r",
        '{"x":' + "[" * 100 + "]" * 100 + ',"captureData":{}}',
        json.dumps({"captureData": {"endpointInput": {"data": "é" * 5000}}, "eventMetadata": {"eventId": "é"}}),
    ],
)
def test_lines_decode_as_read_ndjson_reads_them(line: str) -> None:
    # Given a line (valid JSON, of expected or unexpected types) between two clean records
    data, count = around(line)
    # When the batch's lines are decoded one by one
    frame = _decode_lines(data, count, CAPTURE_JSON_SCHEMA)
    # Then they are what read_ndjson reads
    assert frame is not None
    assert frame.equals(pl.read_ndjson(data, schema=CAPTURE_JSON_SCHEMA))


@pytest.mark.parametrize(
    "line",
    [
        "",  # read_ndjson skips blank lines: the batch then has fewer rows than lines
        "   ",
        "\r",
        "null",  # read_ndjson fails on it: the caller then finds the line and says why
        "5",
        '"text"',
        "[" + CLEAN + "]",
        CLEAN + CLEAN,
        CLEAN + " x",
        CLEAN.replace('"eventId":"e"', '"eventId":{"a":1}'),  # read_ndjson writes an object in a string field as JSON
        CLEAN.replace('"data":"1,2\\n"', '"data":[1,2]'),
        CLEAN.replace(SIDE, '"x"'),
        CLEAN.replace('"data":"1,2\\n"', '"data":"1,\x012"'),
        CLEAN.replace('"data":"1,2\\n"', '"data":"1,\t2"'),
        '{"x":NaN,"captureData":{}}',
    ],
)
def test_lines_read_ndjson_skips_or_fails_on_are_left_to_it(line: str) -> None:
    # Given a blank, non-object, invalid or oddly typed line between two clean records
    data, count = around(line)
    # When the batch's lines are decoded one by one; Then the batch is left to read_ndjson
    assert _decode_lines(data, count, CAPTURE_JSON_SCHEMA) is None


LINES = st.sampled_from(
    [
        CLEAN,
        CLEAN.replace('"eventId":"e"', '"eventId":7'),
        CLEAN.replace(SIDE, "{}"),
        "{}",
        "",
        " ",
        "\t",
        "null",
        "5",
        CLEAN + CLEAN,
        CLEAN + " " + CLEAN,
        CLEAN[:-1],
        CLEAN.replace('"eventId":"e"', '"eventId":[1]'),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=12), st.integers(1, 2000))
def test_any_lines_in_any_chunks_decode_as_read_ndjson_reads_them_or_are_left_to_it(
    lines: list[str], chunk_bytes: int
) -> None:
    # Given lines of any kind, decoded in chunks of any size
    data = "\n".join(lines).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, "JSON_DECODE_BYTES", chunk_bytes)
        # When the batch's lines are decoded one by one
        frame = _decode_lines(data, len(lines), CAPTURE_JSON_SCHEMA)
    # Then they are what read_ndjson reads, row for row, or the batch is left to read_ndjson
    if frame is not None:
        assert frame.equals(pl.read_ndjson(data, schema=CAPTURE_JSON_SCHEMA))
