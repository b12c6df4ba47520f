"""Ground-truth decoding: SageMaker merge records into typed labels per request row (Given / When / Then)."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import polars as pl
import pytest

from modelwatch.capture import decode_ground_truth_bytes, ground_truth_schema, iter_decode_ground_truth
from modelwatch.config.model import ModelConfig
from tests.unit.capture.conftest import capture_bytes, make_config

LABEL_TIME = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)


def gt(data: str, encoding: str = "CSV", event_id: str = "id-1") -> str:
    return json.dumps({"groundTruthData": {"data": data, "encoding": encoding}, "eventMetadata": {"eventId": event_id}})


class TestGroundTruth:
    def test_binary_labels_every_encoding(self, car_loan: ModelConfig) -> None:
        # Given CSV, multi-line CSV, BASE64 and JSON-list ground truth
        data = capture_bytes("ground_truth_binary.jsonl")
        # When decoded with the label time of the source key's folder
        batch = decode_ground_truth_bytes(data, car_loan, "s3://gt/2024/03/05/14/labels.jsonl", LABEL_TIME)
        # Then each label has its inference id and row
        assert batch.quarantined == []
        assert batch.records == 4
        assert batch.rows.schema == pl.Schema(ground_truth_schema(car_loan))
        assert batch.rows.select("inference_id", "row_in_request", "y_true", "source_line").rows() == [
            ("loan-42", 0, 1, 1),
            ("a1b2c3d4-0002-4000-8000-000000000001", 0, 1, 2),
            ("a1b2c3d4-0002-4000-8000-000000000001", 1, 0, 2),
            ("a1b2c3d4-0002-4000-8000-000000000001", 2, 0, 2),
            ("a1b2c3d4-0001-4000-8000-000000000001", 0, 0, 3),
            ("a1b2c3d4-0004-4000-8000-000000000001", 0, 1, 4),
            ("a1b2c3d4-0004-4000-8000-000000000001", 1, 0, 4),
        ]
        assert set(batch.rows["label_time"].to_list()) == {LABEL_TIME}
        assert set(batch.rows["source_key"].to_list()) == {"s3://gt/2024/03/05/14/labels.jsonl"}

    def test_multiclass_labels_are_text(self, credit_card_json: ModelConfig) -> None:
        batch = decode_ground_truth_bytes(capture_bytes("ground_truth_multiclass.jsonl"), credit_card_json, "k")
        assert batch.rows["y_true"].to_list() == ["highstreet_card", "prepaid_card"]
        assert batch.rows.schema["y_true"] == pl.Utf8
        # no label time given: null
        assert batch.rows["label_time"].to_list() == [None, None]

    def test_regression_labels_are_floats(self, car_price: ModelConfig) -> None:
        batch = decode_ground_truth_bytes(capture_bytes("ground_truth_regression.jsonl"), car_price, "k")
        assert batch.rows["y_true"].to_list() == [1795.0, 7200.25]
        assert batch.rows["row_in_request"].to_list() == [0, 1]
        assert batch.rows.schema["y_true"] == pl.Float64

    def test_binary_class_names_map_to_0_and_1(self) -> None:
        # Given a binary model whose classes are named
        config = make_config(classes=["rejected", "repaid"])
        # When labels use the names
        batch = decode_ground_truth_bytes((gt("repaid\nrejected") + "\n").encode(), config, "k")
        # Then they are 1 and 0
        assert batch.rows["y_true"].to_list() == [1, 0]

    def test_base64_json_labels_with_json_hint(self) -> None:
        config = make_config(ground_truth={"encoding_hint": "json"})
        data = gt(base64.b64encode(b"[1, 0, 1]").decode(), "BASE64")
        batch = decode_ground_truth_bytes(data.encode(), config, "k")
        assert batch.rows["y_true"].to_list() == [1, 0, 1]

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            (gt("maybe"), "non-numeric label in groundTruthData.data label 0"),
            (gt("0.5"), "groundTruthData.data label 0 is not an integer class label"),
            (gt("1,0"), "wrong column count: groundTruthData.data line 1 has 2 values, expected 1"),
            (gt("1\n\n0"), "wrong column count: groundTruthData.data line 2 has 0 values, expected 1"),
            (gt(""), "groundTruthData.data is empty"),
            (gt("[]", "JSON"), "groundTruthData.data holds no labels"),
            (gt("[1,", "JSON"), "invalid JSON in groundTruthData.data: Expecting value: line 1 column 4 (char 3)"),
            (gt("!!", "BASE64"), "invalid base64 in groundTruthData.data: character 1 is not a base64 character"),
            (gt("1", "XML"), "unknown encoding 'XML' in groundTruthData.encoding (expected CSV, BASE64 or JSON)"),
            (gt("1", event_id=""), "missing eventMetadata.eventId"),
            (json.dumps({"groundTruthData": {"data": "1", "encoding": "CSV"}}), "missing eventMetadata"),
            (json.dumps({"eventMetadata": {"eventId": "x"}}), "missing groundTruthData"),
            ("{oops", "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ],
    )
    def test_bad_records_are_quarantined(self, car_loan: ModelConfig, line: str, reason: str) -> None:
        # Given a bad record between two good ones
        data = "\n".join([gt("1", event_id="a"), line, gt("0", event_id="b")]).encode()
        # When decoded
        batch = decode_ground_truth_bytes(data, car_loan, "k")
        # Then the good labels are kept and the bad record is quarantined with its reason
        assert batch.rows["inference_id"].to_list() == ["a", "b"]
        assert [(q.line, q.reason, q.raw) for q in batch.quarantined] == [(2, reason, line)]
        assert batch.records == 3

    def test_streaming_in_small_batches_is_identical(self, car_loan: ModelConfig) -> None:
        data = capture_bytes("ground_truth_binary.jsonl") + (gt("x") + "\n").encode()
        whole = decode_ground_truth_bytes(data, car_loan, "k", LABEL_TIME)
        parts = list(iter_decode_ground_truth(io.BytesIO(data), car_loan, "k", LABEL_TIME, batch_lines=2))
        assert pl.concat([p.rows for p in parts]).equals(whole.rows)
        assert [q for p in parts for q in p.quarantined] == whole.quarantined
        assert sum(p.records for p in parts) == whole.records == 5

    def test_empty_file(self, car_loan: ModelConfig) -> None:
        batch = decode_ground_truth_bytes(b"", car_loan, "k")
        assert batch.records == 0
        assert batch.rows.schema == pl.Schema(ground_truth_schema(car_loan))
