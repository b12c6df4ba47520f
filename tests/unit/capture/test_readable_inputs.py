"""Readable inputs: gzip files (by their magic bytes), a UTF-8 byte-order mark, base64 wrapped with whitespace, and
invalid base64 that says what is wrong (Given / When / Then)."""

from __future__ import annotations

import base64
import gzip
import io
import json

import pytest

from modelwatch.capture import decode_capture_bytes, decode_ground_truth_bytes, iter_decode_capture
from modelwatch.capture.records import UTF8_BOM, open_payload
from modelwatch.config.model import ModelConfig
from modelwatch.errors import CaptureReadError
from tests.unit.capture.conftest import capture_bytes
from tests.unit.capture.test_decode import LOAN_CSV, record, side


class TestCompressedAndMarkedFiles:
    @pytest.mark.parametrize("name", ["binary_mixed_bad.jsonl", "binary_base64_multirow.jsonl"])
    def test_a_gzip_capture_decodes_like_the_plain_file(self, car_loan: ModelConfig, name: str) -> None:
        # Given a capture file and the same file gzip-compressed (named .jsonl, as SageMaker names captures)
        plain = capture_bytes(name)
        # When both are decoded
        expected = decode_capture_bytes(plain, car_loan, "s")
        actual = decode_capture_bytes(gzip.compress(plain), car_loan, "s")
        # Then rows, quarantined records (their raw lines readable, for replay) and counts are the same
        assert actual.rows.equals(expected.rows)
        assert actual.quarantined == expected.quarantined
        assert actual.records == expected.records

    def test_a_gzip_file_streams_in_small_batches(self, car_loan: ModelConfig) -> None:
        plain = capture_bytes("binary_mixed_bad.jsonl")
        expected = decode_capture_bytes(plain, car_loan, "s")
        batches = list(iter_decode_capture(io.BytesIO(gzip.compress(plain)), car_loan, "s", batch_lines=3))
        assert sum(b.records for b in batches) == expected.records
        assert [q for b in batches for q in b.quarantined] == expected.quarantined

    def test_several_gzip_members_are_one_file(self, car_loan: ModelConfig) -> None:
        first, second = capture_bytes("binary_csv.jsonl"), capture_bytes("binary_base64_multirow.jsonl")
        batch = decode_capture_bytes(gzip.compress(first) + gzip.compress(second), car_loan, "s")
        assert batch.records == 3 and batch.rows.height == 5

    def test_a_gzip_ground_truth_file(self, car_loan: ModelConfig) -> None:
        plain = capture_bytes("ground_truth_binary.jsonl")
        expected = decode_ground_truth_bytes(plain, car_loan, "k")
        assert decode_ground_truth_bytes(gzip.compress(plain), car_loan, "k").rows.equals(expected.rows)

    @pytest.mark.parametrize("compress", [False, True])
    def test_a_byte_order_mark_does_not_cost_the_first_record(self, car_loan: ModelConfig, compress: bool) -> None:
        # Given a capture file written with a UTF-8 byte-order mark (plain, or inside gzip)
        data = UTF8_BOM + capture_bytes("binary_csv.jsonl")
        # When decoded
        batch = decode_capture_bytes(gzip.compress(data) if compress else data, car_loan, "s")
        # Then both records decode, the first one included
        assert batch.quarantined == []
        assert batch.rows.height == 2

    def test_a_truncated_gzip_file_cannot_be_read(self, car_loan: ModelConfig) -> None:
        # Given a gzip file cut short (an interrupted upload)
        data = gzip.compress(capture_bytes("binary_mixed_bad.jsonl"))[:-20]
        # When decoded, Then the file is unreadable as a whole (retried, then the DLQ), not quarantined line by line
        with pytest.raises(CaptureReadError, match="s3://b/k: cannot read object: EOFError"):
            decode_capture_bytes(data, car_loan, "s3://b/k")

    def test_open_payload_passes_other_streams_through(self) -> None:
        for data in (b"", b"{", b"\xef\xbb", b'{"a": 1}\n'):
            assert open_payload(io.BytesIO(data), "s").read() == data
            assert open_payload(io.BytesIO(data), "s").read(1) == data[:1]


class TestBase64:
    def test_base64_wrapped_with_line_breaks_and_spaces_decodes(self, car_loan: ModelConfig) -> None:
        # Given the same request as base64 in one line, wrapped at 8 characters, and with spaces
        encoded = base64.b64encode((LOAN_CSV + "\n").encode()).decode()
        wrapped = "\n".join(encoded[i : i + 8] for i in range(0, len(encoded), 8))
        spaced = " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))
        lines = []
        for text in (encoded, wrapped, spaced):
            inp = {"observedContentType": "text/csv", "mode": "INPUT", "data": text, "encoding": "BASE64"}
            lines.append(record(inp, side("0.5")))
        # When decoded
        batch = decode_capture_bytes("\n".join(lines).encode(), car_loan, "s")
        # Then all three give the same row
        assert batch.quarantined == []
        assert len(set(batch.rows.drop("event_id", "inference_id").rows())) == 1

    @pytest.mark.parametrize(
        ("data", "problem"),
        [
            ("Mzk4!MTEu", "character 5 is not a base64 character"),
            ("Mzk4MTE", "bad padding (`=` only at the end, to a multiple of 4 characters)"),
            ("Mz=4MTEu", "bad padding (`=` only at the end, to a multiple of 4 characters)"),
            ("Mzk4M", "5 characters cannot be base64 (4 encode 3 bytes)"),
        ],
    )
    def test_invalid_base64_says_what_is_wrong(self, car_loan: ModelConfig, data: str, problem: str) -> None:
        inp = {"observedContentType": "text/csv", "mode": "INPUT", "data": data, "encoding": "BASE64"}
        batch = decode_capture_bytes(record(inp, side("0.5")).encode(), car_loan, "s")
        assert [q.reason for q in batch.quarantined] == [f"invalid base64 in endpointInput.data: {problem}"]

    def test_an_unknown_encoding_is_named_only_when_it_is_a_word(self, car_loan: ModelConfig) -> None:
        # Given an encoding field holding a payload pasted into the wrong field
        inp = {"observedContentType": "text/csv", "mode": "INPUT", "data": LOAN_CSV, "encoding": LOAN_CSV}
        batch = decode_capture_bytes(record(inp, side("0.5")).encode(), car_loan, "s")
        # Then the reason does not repeat it
        assert [q.reason for q in batch.quarantined] == [
            "unknown encoding in endpointInput.encoding (expected CSV, BASE64 or JSON)"
        ]
        assert json.loads(batch.quarantined[0].raw)["captureData"]["endpointInput"]["encoding"] == LOAN_CSV
