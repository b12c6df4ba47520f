"""Capture decoding: every SageMaker variant decodes to exact typed rows (Given / When / Then)."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from modelwatch.capture import capture_schema, decode_capture_bytes, iter_decode_capture
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.envelope import CAPTURE_JSON_SCHEMA
from modelwatch.capture.records import LineBatch, read_json_records
from modelwatch.config.model import ModelConfig
from modelwatch.errors import CaptureReadError
from tests.unit.capture.conftest import capture_bytes, make_config

LOAN_1 = [39811.0, "40K - 60K €", 0.6306, 18.0, "False", "40%", 0.2124]
LOAN_2 = [12679.0, "40K - 60K €", 0.7186, 7.0, "True", "10%", 4.9278]
LOAN_3 = [
    [19524.0, "0 - 20K €", 0.9218, 19.0, "True", "40%", 1.6313],
    [48265.0, "20K - 40K €", 0.1011, 12.0, "False", "0%", 2.8391],
    [5630.0, "60K+ €", 0.2854, 7.0, "True", "20%", 0.3124],
]


def feature_rows(batch: DecodedBatch, config: ModelConfig) -> list[list[Any]]:
    return [list(row) for row in batch.rows.select(config.feature_names).iter_rows()]


def record(
    inp: dict[str, Any] | None, out: dict[str, Any] | None, time: str = "2024-03-01T10:00:00Z", **meta: Any
) -> str:
    capture = {}
    if inp is not None:
        capture["endpointInput"] = inp
    if out is not None:
        capture["endpointOutput"] = out
    return json.dumps({"captureData": capture, "eventMetadata": {"eventId": "e-1", "inferenceTime": time, **meta}})


def side(data: str, encoding: str = "CSV", content_type: str = "text/csv") -> dict[str, str]:
    if encoding == "BASE64":
        data = base64.b64encode(data.encode()).decode()
    return {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding}


LOAN_CSV = "39811.0,40K - 60K €,0.6306,18.0,False,40%,0.2124"


class TestBinaryCsv:
    def test_plain_csv_with_charset_and_trailing_newline(self, car_loan: ModelConfig) -> None:
        # Given two CSV records, one with a trailing newline, one with `text/csv; charset=utf-8` and an inferenceId
        data = capture_bytes("binary_csv.jsonl")
        # When decoded
        batch = decode_capture_bytes(data, car_loan, "s3://bucket/binary_csv.jsonl")
        # Then every value is typed and exact
        assert batch.records == 2
        assert batch.quarantined == []
        assert batch.rows_without_prediction == 0
        assert feature_rows(batch, car_loan) == [LOAN_1, LOAN_2]
        assert batch.rows["y_pred_proba"].to_list() == [0.99, 0.07]
        assert batch.rows["y_pred"].to_list() == [1, 0]
        assert batch.rows["event_id"].to_list() == [
            "a1b2c3d4-0001-4000-8000-000000000001",
            "a1b2c3d4-0001-4000-8000-000000000002",
        ]
        # inference_id falls back to the event id when no inferenceId was passed
        assert batch.rows["inference_id"].to_list() == ["a1b2c3d4-0001-4000-8000-000000000001", "loan-42"]
        assert batch.rows["row_in_request"].to_list() == [0, 0]
        # with and without milliseconds
        assert batch.rows["inference_time"].to_list() == [
            datetime(2024, 3, 1, 10, 15, 2, tzinfo=UTC),
            datetime(2024, 3, 1, 10, 15, 3, 417000, tzinfo=UTC),
        ]

    def test_dtypes_are_the_capture_schema(self, car_loan: ModelConfig) -> None:
        # Given the car-loan config
        # When a file is decoded
        batch = decode_capture_bytes(capture_bytes("binary_csv.jsonl"), car_loan, "s")
        # Then the columns and dtypes are exactly the capture schema
        assert batch.rows.schema == pl.Schema(capture_schema(car_loan))
        assert list(capture_schema(car_loan))[-6:] == [
            "y_pred_proba",
            "y_pred",
            "event_id",
            "inference_id",
            "row_in_request",
            "inference_time",
        ]
        assert capture_schema(car_loan)["y_pred"] == pl.Int64
        assert capture_schema(car_loan)["row_in_request"] == pl.Int32
        assert capture_schema(car_loan)["inference_time"] == pl.Datetime("us", "UTC")

    def test_base64_request_of_three_rows_aligns_output_lines(self, car_loan: ModelConfig) -> None:
        # Given one BASE64 request of three rows and three output lines
        batch = decode_capture_bytes(capture_bytes("binary_base64_multirow.jsonl"), car_loan, "s")
        # Then there are three rows, aligned by position
        assert feature_rows(batch, car_loan) == LOAN_3
        assert batch.rows["y_pred_proba"].to_list() == [0.98, 0.62, 0.03]
        assert batch.rows["y_pred"].to_list() == [1, 1, 0]
        assert batch.rows["row_in_request"].to_list() == [0, 1, 2]
        assert batch.rows["inference_time"].to_list() == [datetime(2024, 3, 1, 11, 0, 0, 250000, tzinfo=UTC)] * 3

    def test_comma_joined_output_of_builtin_algorithms(self, car_loan: ModelConfig) -> None:
        # Given three input rows and one output line `0.98,0.62,0.03` (XGBoost's form)
        batch = decode_capture_bytes(capture_bytes("binary_xgboost_joined.jsonl"), car_loan, "s")
        # Then each value belongs to its row
        assert batch.quarantined == []
        assert feature_rows(batch, car_loan) == LOAN_3
        assert batch.rows["y_pred_proba"].to_list() == [0.98, 0.62, 0.03]
        assert batch.rows["row_in_request"].to_list() == [0, 1, 2]

    def test_threshold_derives_y_pred(self) -> None:
        # Given a binary model with threshold 0.7
        config = make_config(threshold=0.7)
        # When probabilities 0.98, 0.62, 0.03 are decoded
        batch = decode_capture_bytes(capture_bytes("binary_base64_multirow.jsonl"), config, "s")
        # Then y_pred uses the threshold
        assert batch.rows["y_pred"].to_list() == [1, 0, 0]

    def test_output_columns_with_label_and_ignored_column(self) -> None:
        # Given outputs `label,probability,ignored`
        config = make_config(output={"format": "csv", "columns": ["y_pred", "y_pred_proba", "_"]})
        data = record(side(LOAN_CSV), side("0,0.71,abc\n"))
        # When decoded
        batch = decode_capture_bytes(data.encode(), config, "s")
        # Then the given label wins over the threshold and `_` is ignored
        assert batch.rows["y_pred"].to_list() == [0]
        assert batch.rows["y_pred_proba"].to_list() == [0.71]

    def test_csv_in_json_out(self, car_loan_json_out: ModelConfig) -> None:
        # Given CSV input and JSON output read through `$.predictions[*].score` / `predicted_label`
        batch = decode_capture_bytes(capture_bytes("binary_csv_in_json_out.jsonl"), car_loan_json_out, "s")
        # Then both rows carry their score and label
        assert batch.quarantined == []
        assert feature_rows(batch, car_loan_json_out) == [LOAN_1, LOAN_2]
        assert batch.rows["y_pred_proba"].to_list() == [0.91, 0.12]
        assert batch.rows["y_pred"].to_list() == [1, 0]

    def test_json_probability_pairs_keep_the_positive_class(self) -> None:
        # Given a JSON output of [p(negative), p(positive)] pairs for two rows
        config = make_config(output={"format": "json", "probabilities": "$.probabilities"})
        out = side(json.dumps({"probabilities": [[0.2, 0.8], [0.9, 0.1]]}), "JSON", "application/json")
        data = record(side(LOAN_CSV + "\n" + LOAN_CSV), out)
        # When decoded
        batch = decode_capture_bytes(data.encode(), config, "s")
        # Then the positive class probability is kept
        assert batch.rows["y_pred_proba"].to_list() == [0.8, 0.1]
        assert batch.rows["y_pred"].to_list() == [1, 0]

    def test_json_request_body_with_objects_and_feature_paths(self) -> None:
        # Given JSON requests with feature objects, one feature renamed through a feature path
        config = make_config(
            input={"format": "json", "instances": "$.data", "feature_paths": {"car_value": "$.car['value']"}}
        )
        row = {
            "car": {"value": 39811},
            "salary_range": "40K - 60K €",
            "debt_to_income_ratio": 0.6306,
            "loan_length": 18,
            "repaid_loan_on_prev_car": False,
            "size_of_downpayment": "40%",
            "driver_tenure": "0.2124",
        }
        data = record(side(json.dumps({"data": [row]}), "JSON", "application/json"), side("0.99"))
        # When decoded
        batch = decode_capture_bytes(data.encode(), config, "s")
        # Then features are read by name and path, numbers typed, booleans as text
        assert batch.quarantined == []
        assert feature_rows(batch, config) == [[39811.0, "40K - 60K €", 0.6306, 18.0, "false", "40%", 0.2124]]

    def test_quoted_csv_values_decode_through_the_per_record_path(self, car_loan: ModelConfig) -> None:
        # Given a categorical value with a comma inside quotes
        data = record(side('39811.0,"40K, - 60K €",0.6306,18.0,False,40%,0.2124'), side("0.5"))
        # When decoded
        batch = decode_capture_bytes(data.encode(), car_loan, "s")
        # Then the CSV quoting is honoured
        assert batch.rows["salary_range"].to_list() == ["40K, - 60K €"]

    def test_empty_numeric_value_is_null(self, car_loan: ModelConfig) -> None:
        # Given a missing (empty) numeric and categorical value
        data = record(side("39811.0,,0.6306,18.0,False,40%,"), side("0.5"))
        # When decoded
        batch = decode_capture_bytes(data.encode(), car_loan, "s")
        # Then they are null, not quarantined
        assert batch.quarantined == []
        assert feature_rows(batch, car_loan) == [[39811.0, None, 0.6306, 18.0, "False", "40%", None]]

    def test_empty_inference_id_falls_back_to_event_id(self, car_loan: ModelConfig) -> None:
        data = record(side(LOAN_CSV), side("0.5"), inferenceId="")
        batch = decode_capture_bytes(data.encode(), car_loan, "s")
        assert batch.rows["inference_id"].to_list() == ["e-1"]

    def test_inference_time_with_offset_is_converted_to_utc(self, car_loan: ModelConfig) -> None:
        data = record(side(LOAN_CSV), side("0.5"), time="2024-03-01T12:00:00.5+02:00")
        batch = decode_capture_bytes(data.encode(), car_loan, "s")
        assert batch.rows["inference_time"].to_list() == [datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)]


class TestPartialCapture:
    def test_input_only_rows_are_kept_and_counted(self, car_loan: ModelConfig) -> None:
        # Given Input-only capture of a two-row request
        batch = decode_capture_bytes(capture_bytes("binary_input_only.jsonl"), car_loan, "s")
        # Then both rows are kept, predictions null, counted as rows without prediction
        assert feature_rows(batch, car_loan) == [LOAN_1, LOAN_2]
        assert batch.rows["y_pred_proba"].to_list() == [None, None]
        assert batch.rows["y_pred"].to_list() == [None, None]
        assert batch.rows_without_prediction == 2

    def test_output_only_rows_have_null_features(self, car_loan: ModelConfig) -> None:
        # Given Output-only capture with two output lines
        batch = decode_capture_bytes(capture_bytes("binary_output_only.jsonl"), car_loan, "s")
        # Then two rows with predictions and null features
        assert feature_rows(batch, car_loan) == [[None] * 7, [None] * 7]
        assert batch.rows["y_pred_proba"].to_list() == [0.91, 0.12]
        assert batch.rows["y_pred"].to_list() == [1, 0]
        assert batch.rows["row_in_request"].to_list() == [0, 1]
        assert batch.rows_without_prediction == 0


class TestMulticlassAndRegression:
    def test_multiclass_json_argmax(self, credit_card_json: ModelConfig) -> None:
        # Given JSON requests (objects by feature name) and a list of class-probability lists
        batch = decode_capture_bytes(capture_bytes("multiclass_json.jsonl"), credit_card_json, "s")
        # Then one probability column per class in config order and y_pred is the argmax class
        assert batch.quarantined == []
        assert batch.rows.schema == pl.Schema(capture_schema(credit_card_json))
        assert batch.rows["y_pred_proba_prepaid_card"].to_list() == [0.13, 0.70]
        assert batch.rows["y_pred_proba_highstreet_card"].to_list() == [0.55, 0.20]
        assert batch.rows["y_pred_proba_upmarket_card"].to_list() == [0.32, 0.10]
        assert batch.rows["y_pred"].to_list() == ["highstreet_card", "prepaid_card"]
        assert feature_rows(batch, credit_card_json) == [
            ["Partner3", 1.8, 350.0, "web", 309.0, 15000.0, "true"],
            ["Organic", -0.42, 500.0, "mobile", 617.0, 52000.5, "false"],
        ]

    def test_multiclass_csv_argmax(self, credit_card_csv: ModelConfig) -> None:
        batch = decode_capture_bytes(capture_bytes("multiclass_csv.jsonl"), credit_card_csv, "s")
        assert batch.quarantined == []
        assert batch.rows["y_pred"].to_list() == ["highstreet_card", "prepaid_card"]
        assert batch.rows["y_pred_proba_upmarket_card"].to_list() == [0.32, 0.10]
        assert batch.rows["is_customer"].to_list() == ["True", "False"]

    def test_multiclass_explicit_prediction_wins(self, credit_card_csv: ModelConfig) -> None:
        config = make_config(
            name="credit_card",
            problem_type="multiclass_classification",
            features=credit_card_csv.model_dump()["features"],
            classes=credit_card_csv.classes,
            output={"format": "csv", "columns": ["y_pred", "y_pred_proba_prepaid_card"]},
        )
        data = record(side("Partner3,1.8,350,web,309,15000,True"), side("upmarket_card,0.9"))
        batch = decode_capture_bytes(data.encode(), config, "s")
        assert batch.rows["y_pred"].to_list() == ["upmarket_card"]
        assert batch.rows["y_pred_proba_prepaid_card"].to_list() == [0.9]
        assert batch.rows["y_pred_proba_highstreet_card"].to_list() == [None]

    def test_regression_json_lists_plain_and_base64(self, car_price: ModelConfig) -> None:
        # Given positional JSON rows, one record JSON-encoded and one BASE64-encoded
        batch = decode_capture_bytes(capture_bytes("regression_json.jsonl"), car_price, "s")
        # Then features are positional and y_pred is a float
        assert batch.quarantined == []
        assert batch.rows["y_pred"].to_list() == [1828.2, 7021.5, 21012.0]
        assert batch.rows.schema["y_pred"] == pl.Float64
        assert feature_rows(batch, car_price) == [
            [15.0, 144020.0, 42810.0, 4.0, 3.0, "diesel", "automatic"],
            [12.0, 57078.0, 31835.0, 3.0, 3.0, "electric", "automatic"],
            [2.0, 20987.0, 25678.0, 0.0, 5.0, "gas", "manual"],
        ]
        assert batch.rows["row_in_request"].to_list() == [0, 1, 0]
        assert batch.rows["inference_time"].to_list()[2] == datetime(2024, 3, 3, 8, 0, 1, 500000, tzinfo=UTC)


class TestQuarantine:
    def test_bad_records_are_quarantined_with_reasons_and_good_ones_kept(self, car_loan: ModelConfig) -> None:
        # Given a file mixing good records and every kind of bad record
        data = capture_bytes("binary_mixed_bad.jsonl")
        # When decoded
        batch = decode_capture_bytes(data, car_loan, "s3://bucket/mixed.jsonl")
        # Then the good records are kept, and so are the two whose features are damaged (a row of 3 values, a
        # non-number in a numeric feature): their predictions stay, the damaged values are missing and recorded
        assert batch.records == 10
        assert batch.rows["event_id"].to_list() == [
            "d0000000-0000-4000-8000-000000000001",
            "d0000000-0000-4000-8000-000000000004",
            "d0000000-0000-4000-8000-000000000006",
            "d0000000-0000-4000-8000-000000000010",
        ]
        assert batch.rows["y_pred"].to_list() == [1, 1, 1, 0]
        assert batch.rows["feature_issues"].to_list() == [
            None,
            [{"feature": None, "issue": "too_few_columns"}],
            [{"feature": "car_value", "issue": "type"}],
            None,
        ]
        # And every record that cannot be read or aligned is quarantined whole, with its line and a specific reason
        reasons = {q.line: q.reason for q in batch.quarantined}
        assert reasons == {
            2: "invalid JSON: Expecting value: line 1 column 35 (char 34)",
            3: "invalid base64 in endpointInput.data: character 10 is not a base64 character",
            5: "unknown encoding 'GZIP' in endpointOutput.encoding (expected CSV, BASE64 or JSON)",
            7: "invalid eventMetadata.inferenceTime (expected ISO-8601 like 2022-02-14T17:25:49Z)",
            8: "missing eventMetadata",
            9: "row count mismatch: endpointInput has 2 rows, endpointOutput has 1",
        }
        lines = data.decode().split("\n")
        assert [q.raw for q in batch.quarantined] == [lines[n - 1] for n in (2, 3, 5, 7, 8, 9)]
        assert {q.source for q in batch.quarantined} == {"s3://bucket/mixed.jsonl"}

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            (b'{"captureData": {}, "eventMetadata": {"eventId": "\xff"}}', "line is not valid UTF-8"),
            (b"[1, 2]", "record is a JSON list, expected an object"),
            (
                record(side(LOAN_CSV), side("0.5"), eventId="").encode(),
                "missing eventMetadata.eventId",
            ),
            (
                json.dumps(
                    {"captureData": {"endpointInput": side(LOAN_CSV)}, "eventMetadata": {"eventId": "x"}}
                ).encode(),
                "missing eventMetadata.inferenceTime",
            ),
            (record(None, None).encode(), "captureData has neither endpointInput nor endpointOutput"),
            (
                record(
                    {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "data": base64.b64encode(b"\xff\xfe").decode(),
                        "encoding": "BASE64",
                    },
                    side("0.5"),
                ).encode(),
                "endpointInput.data is not valid UTF-8 after base64 decoding",
            ),
            (
                record(side(LOAN_CSV), side("0.5,0.7\n0.1")).encode(),
                "wrong column count: endpointOutput row 0 has 2 values, expected 1 (output.columns)",
            ),
            (
                record(side(LOAN_CSV), side("high")).encode(),
                "non-numeric value in endpointOutput column 'y_pred_proba' (row 0)",
            ),
            (record(side(LOAN_CSV), side("")).encode(), "endpointOutput.data is empty"),
            (
                # the empty line is a row (of no values): three rows, two predictions
                record(side(LOAN_CSV + "\n\n" + LOAN_CSV), side("0.1\n0.2")).encode(),
                "row count mismatch: endpointInput has 3 rows, endpointOutput has 2",
            ),
            (
                record({"observedContentType": "text/csv", "mode": "INPUT", "encoding": "CSV"}, side("0.1")).encode(),
                "missing endpointInput.data",
            ),
            (
                record(side(LOAN_CSV), side('{"scores": [0.1]}', "JSON", "application/json")).encode(),
                "endpointOutput is JSON but output.probabilities/prediction paths are not configured",
            ),
        ],
    )
    def test_specific_reasons(self, car_loan: ModelConfig, line: bytes, reason: str) -> None:
        # Given a good record, the bad one, and another good record
        good = record(side(LOAN_CSV), side("0.5")).encode()
        data = good + b"\n" + line + b"\n" + good + b"\n"
        # When decoded
        batch = decode_capture_bytes(data, car_loan, "src")
        # Then only the bad line is quarantined, with its reason and whole raw text
        assert [(q.line, q.reason) for q in batch.quarantined] == [(2, reason)]
        assert batch.quarantined[0].raw == line.decode("utf-8", errors="replace")
        assert batch.rows.height == 2
        assert batch.records == 3

    @pytest.mark.parametrize("label", ["NaN", "1e100"])
    def test_binary_label_that_is_no_class_is_quarantined_on_both_paths(self, label: str) -> None:
        # Given a CSV output `label,probability` whose label is NaN or too large for any class
        config = make_config(output={"format": "csv", "columns": ["y_pred", "y_pred_proba"]})
        data = record(side(LOAN_CSV), side(f"{label},0.5")).encode()
        # When decoded by the vectorised path (which leaves it to the per-record path)
        batch = decode_capture_bytes(data, config, "s")
        # Then the record is quarantined with the reason, nothing raises
        assert [q.reason for q in batch.quarantined] == [
            "endpointOutput column 'y_pred' (row 0) is not an integer class label"
        ]

    def test_json_path_missing(self, car_loan_json_out: ModelConfig) -> None:
        # Given a JSON output without the configured `predictions` list
        out = side(json.dumps({"scores": [0.1]}), "JSON", "application/json")
        data = record(side(LOAN_CSV), out)
        # When decoded
        batch = decode_capture_bytes(data.encode(), car_loan_json_out, "s")
        # Then the reason names the path
        assert [q.reason for q in batch.quarantined] == [
            "JSON path $.predictions[*].score missing in endpointOutput.data: $.predictions not found"
        ]

    def test_json_request_path_missing(self, car_price: ModelConfig) -> None:
        inp = side(json.dumps({"rows": [[1, 2, 3, 4, 5, "gas", "manual"]]}), "JSON", "application/json")
        out = side(json.dumps({"predictions": [1.0]}), "JSON", "application/json")
        batch = decode_capture_bytes(record(inp, out).encode(), car_price, "s")
        assert [q.reason for q in batch.quarantined] == [
            "JSON path $.instances missing in endpointInput.data: $.instances not found"
        ]

    def test_multiclass_probability_count_mismatch(self, credit_card_json: ModelConfig) -> None:
        inp = side(json.dumps({"instances": [["Organic", 1, 2, "web", 3, 4, True]]}), "JSON", "application/json")
        out = side(json.dumps({"probabilities": [[0.5, 0.5]]}), "JSON", "application/json")
        batch = decode_capture_bytes(record(inp, out).encode(), credit_card_json, "s")
        assert [q.reason for q in batch.quarantined] == [
            "wrong column count: endpointOutput probabilities row 0 has 2 values, expected 3 (classes)"
        ]


class TestFilesAndStreaming:
    def test_empty_file_gives_no_rows(self, car_loan: ModelConfig) -> None:
        for data in (b"", b"\n", b"\n \n\r\n"):
            batch = decode_capture_bytes(data, car_loan, "s")
            assert batch.records == 0
            assert batch.rows.height == 0
            assert batch.quarantined == []
            assert batch.rows.schema == pl.Schema(capture_schema(car_loan))

    def test_blank_lines_and_crlf_keep_line_numbers(self, car_loan: ModelConfig) -> None:
        # Given CRLF line ends and blank lines between records
        good = record(side(LOAN_CSV), side("0.5"))
        data = f"{good}\r\n\r\n{{bad\r\n\n{good}\r\n".encode()
        # When decoded
        batch = decode_capture_bytes(data, car_loan, "s")
        # Then blank lines are no records and the bad record has its true line number
        assert batch.records == 3
        assert batch.rows.height == 2
        assert [q.line for q in batch.quarantined] == [3]
        assert batch.quarantined[0].raw == "{bad\r"

    def test_last_line_without_newline(self, car_loan: ModelConfig) -> None:
        good = record(side(LOAN_CSV), side("0.5"))
        batch = decode_capture_bytes(f"{good}\n{good}".encode(), car_loan, "s")
        assert batch.records == 2
        assert batch.rows.height == 2

    @pytest.mark.parametrize("batch_lines", [1, 2, 3, 7])
    def test_small_batches_give_the_same_result_as_one_batch(self, car_loan: ModelConfig, batch_lines: int) -> None:
        # Given a file of good and bad records
        data = b"\n".join(
            capture_bytes(name).rstrip(b"\n")
            for name in ("binary_csv.jsonl", "binary_mixed_bad.jsonl", "binary_base64_multirow.jsonl")
        )
        whole = decode_capture_bytes(data, car_loan, "s")
        # When streamed in batches of a few lines (and tiny read blocks)
        batches = list(iter_decode_capture(io.BytesIO(data), car_loan, "s", batch_lines=batch_lines))
        # Then the concatenated result is identical
        assert all(0 < b.records <= batch_lines for b in batches)
        assert pl.concat([b.rows for b in batches]).equals(whole.rows)
        assert [q for b in batches for q in b.quarantined] == whole.quarantined
        assert sum(b.records for b in batches) == whole.records == 13

    def test_read_blocks_smaller_than_a_line(self, car_loan: ModelConfig) -> None:
        from modelwatch.capture.records import iter_line_batches

        data = capture_bytes("binary_mixed_bad.jsonl")
        decoder = CaptureDecoder(car_loan, "s")
        small = [decoder.decode_batch(b) for b in iter_line_batches(io.BytesIO(data), "s", 4, block_bytes=37)]
        whole = decode_capture_bytes(data, car_loan, "s")
        assert pl.concat([b.rows for b in small]).equals(whole.rows)
        assert [q for b in small for q in b.quarantined] == whole.quarantined

    def test_a_decoder_reused_across_batches_of_other_kinds_decodes_each_as_a_fresh_one(
        self, car_loan: ModelConfig
    ) -> None:
        # Given batches whose sides' content types and encodings differ, some sets of them coming back later (the
        # decoder keeps what they allow from batch to batch)
        kinds = [
            [side(LOAN_CSV), side("0.5")],
            [side(LOAN_CSV, "BASE64"), side("0.5", "BASE64")],
            [side(LOAN_CSV, content_type="text/csv; charset=utf-8"), side("0.5", content_type="text/plain")],
            [side(LOAN_CSV, content_type="application/json"), side("0.5")],
        ]
        lines = [record(inp, out).encode() for inp, out in kinds]
        mixed = [b"\n".join(lines[:2]), b"\n".join(lines[1:])]
        batches = [LineBatch(1, data) for data in [*lines, *reversed(lines), *mixed, *lines]]
        frames = [read_json_records(batch, CAPTURE_JSON_SCHEMA)[0] for batch in batches]
        # When one decoder decodes them all in turn
        decoder = CaptureDecoder(car_loan, "s")
        reused = [decoder.vectorised.decode(frame) for frame in frames]
        # Then its vectorised path decodes each batch (or leaves it to the per-record path) exactly as a decoder of
        # its own does
        for frame, (rows, flagged) in zip(frames, reused, strict=True):
            fresh_rows, fresh_flagged = CaptureDecoder(car_loan, "s").vectorised.decode(frame)
            assert flagged == fresh_flagged
            assert (rows is None) == (fresh_rows is None)
            assert rows is None or fresh_rows is None or rows.equals(fresh_rows)
        assert {rows is None for rows, _ in reused} == {True, False}  # some decoded here, some left per record

    def test_unreadable_stream_raises_capture_read_error(self, car_loan: ModelConfig) -> None:
        class Broken(io.RawIOBase):
            def read(self, size: int = -1) -> bytes:
                raise OSError("connection reset")

        with pytest.raises(CaptureReadError, match="s3://b/k: cannot read object: OSError: connection reset"):
            list(iter_decode_capture(Broken(), car_loan, "s3://b/k"))  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("name", "fixture"),
        [
            ("binary_csv.jsonl", "car_loan"),
            ("binary_base64_multirow.jsonl", "car_loan"),
            ("binary_xgboost_joined.jsonl", "car_loan"),
            ("binary_input_only.jsonl", "car_loan"),
            ("binary_output_only.jsonl", "car_loan"),
            ("binary_mixed_bad.jsonl", "car_loan"),
            ("binary_csv_in_json_out.jsonl", "car_loan_json_out"),
            ("multiclass_csv.jsonl", "credit_card_csv"),
            ("multiclass_json.jsonl", "credit_card_json"),
            ("regression_json.jsonl", "car_price"),
        ],
    )
    def test_fast_path_equals_per_record_path(self, name: str, fixture: str, request: pytest.FixtureRequest) -> None:
        # Given a sample file and its model config
        config: ModelConfig = request.getfixturevalue(fixture)
        batch = LineBatch(1, capture_bytes(name).rstrip(b"\n"))
        # When decoded by the vectorised path and by the per-record path alone
        fast = CaptureDecoder(config, "s").decode_batch(batch)
        slow_decoder = CaptureDecoder(config, "s")
        slow_decoder.force_slow = True
        slow = slow_decoder.decode_batch(LineBatch(1, batch.data))
        # Then both give identical rows, quarantine and counts
        assert fast.rows.equals(slow.rows)
        assert fast.quarantined == slow.quarantined
        assert (fast.records, fast.rows_without_prediction) == (slow.records, slow.rows_without_prediction)
