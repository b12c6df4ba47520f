"""Every capture shape SageMaker writes decodes, none quarantined: TensorFlow Serving's scalar instances and
pretty-printed predictions, JSON Lines bodies, features keyed by any name, JSON ground truth (Given / When / Then)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelwatch.capture import decode_ground_truth_bytes
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.records import LineBatch
from modelwatch.config.model import ModelConfig
from modelwatch.errors import ConfigError
from tests.unit.capture.conftest import CAR_LOAN_FEATURES, capture_bytes, make_config

CHURN_FEATURES = ["Account Length", "Day Mins", "Int'l Plan_no", "Int'l Plan_yes", "VMail Plan_yes"]


def decoded(config: ModelConfig, name: str) -> DecodedBatch:
    """A sample file decoded by the vectorised path and by the per-record path alone (they must agree)."""
    data = capture_bytes(name).rstrip(b"\n")
    fast = CaptureDecoder(config, "s").decode_batch(LineBatch(1, data))
    slow_decoder = CaptureDecoder(config, "s")
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data))
    assert fast.rows.equals(slow.rows)
    assert fast.quarantined == slow.quarantined
    return fast


def one_feature_regression(instances: str) -> ModelConfig:
    return make_config(
        name="tf_regressor",
        problem_type="regression",
        features=[{"name": "x", "type": "numeric"}],
        input={"format": "json", "instances": instances},
        output={"format": "json", "prediction": "$.predictions"},
    )


class TestTensorFlowServing:
    @pytest.mark.parametrize("instances", ["$.instances", "$.instances[*]"])
    def test_scalar_instances_are_one_row_each(self, instances: str) -> None:
        # Given TF Serving requests {"instances": [1.0, 2.0, 5.0]} and {"instances": [7.5]} to a one-feature model,
        # and its predictions pretty-printed with newlines inside `data`
        config = one_feature_regression(instances)
        # When decoded
        batch = decoded(config, "regression_tfserving_scalar.jsonl")
        # Then each scalar is a row, aligned with its prediction
        assert batch.quarantined == []
        assert batch.rows.select("x", "y_pred", "row_in_request").rows() == [
            (1.0, 3.5, 0),
            (2.0, 4.0, 1),
            (5.0, 5.5, 2),
            (7.5, 9.25, 0),
        ]

    def test_a_model_with_more_features_gets_a_clear_reason(self, car_price: ModelConfig) -> None:
        # Given the same requests for a seven-feature model
        batch = decoded(car_price, "regression_tfserving_scalar.jsonl")
        # Then they are quarantined saying why, not as a wrong column count
        assert [q.reason for q in batch.quarantined] == [
            "endpointInput.data at $.instances holds 3 single values: one row per value needs a one-feature model, "
            "one row needs 7 values (features)",
            "endpointInput.data at $.instances holds 1 single values: one row per value needs a one-feature model, "
            "one row needs 7 values (features)",
        ]

    def test_a_wildcard_over_single_values_for_more_features(self) -> None:
        config = make_config(
            name="car_price",
            problem_type="regression",
            features=[{"name": "a"}, {"name": "b"}],
            input={"format": "json", "instances": "$.instances[*]"},
            output={"format": "json", "prediction": "$.predictions"},
        )
        batch = decoded(config, "regression_tfserving_scalar.jsonl")
        assert {q.reason for q in batch.quarantined} == {
            "endpointInput row 0 is a single value: one value per row needs a one-feature model "
            "(this model has 2 features)"
        }

    def test_one_positional_row_given_as_a_flat_list_still_decodes(self, car_price: ModelConfig) -> None:
        # Given a request whose instances path holds one row as a flat list of the model's seven values
        row = [15, 144020, 42810, 4, 3, "diesel", "automatic"]
        record = capture_line_json({"instances": row}, {"predictions": [1828.2]})
        # When decoded, Then it is one row (as before scalar instances were read)
        batch = CaptureDecoder(car_price, "s").decode_batch(LineBatch(1, record))
        assert batch.quarantined == []
        assert batch.rows.select("car_age", "transmission", "y_pred").rows() == [(15.0, "automatic", 1828.2)]


def capture_line_json(request: Any, response: Any) -> bytes:
    side = {"observedContentType": "application/json", "encoding": "JSON"}
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {**side, "mode": "INPUT", "data": json.dumps(request)},
                "endpointOutput": {**side, "mode": "OUTPUT", "data": json.dumps(response)},
            },
            "eventMetadata": {"eventId": "e-1", "inferenceTime": "2024-03-01T10:00:00Z"},
        }
    ).encode()


class TestJsonLines:
    def test_request_and_response_bodies_are_one_row_per_line(self) -> None:
        # Given application/jsonlines bodies (JSON-encoded and BASE64), two instances and two predictions each,
        # for a model whose config still says CSV input
        config = make_config(output={"format": "json", "probabilities": "$.score", "prediction": "$.predicted_label"})
        assert config.input.format == "csv"
        # When decoded
        batch = decoded(config, "binary_jsonlines.jsonl")
        # Then the observed content type wins: one row per line, aligned with the response's lines
        assert batch.quarantined == []
        assert (
            batch.rows.select("car_value", "repaid_loan_on_prev_car", "y_pred_proba", "y_pred").rows()
            == [
                (39811.0, "false", 0.91, 1),
                (12679.0, "true", 0.12, 0),
            ]
            * 2
        )
        assert batch.rows["row_in_request"].to_list() == [0, 1, 0, 1]

    def test_a_line_that_is_not_json_names_its_line(self) -> None:
        config = make_config(output={"format": "json", "probabilities": "$.score"})
        record = json.loads(capture_bytes("binary_jsonlines.jsonl").split(b"\n")[0])
        record["captureData"]["endpointInput"]["data"] += "\n{oops"
        batch = decoded_line(config, json.dumps(record).encode())
        assert [q.reason for q in batch.quarantined] == [
            "invalid JSON in endpointInput.data line 3: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)"
        ]


def decoded_line(config: ModelConfig, line: bytes) -> DecodedBatch:
    return CaptureDecoder(config, "s").decode_batch(LineBatch(1, line))


class TestFeatureNames:
    def test_features_keyed_by_any_name(self) -> None:
        # Given a request keyed by real column names (a quote in `Int'l Plan_no`, spaces), numbers also as strings
        config = make_config(
            name="churn",
            features=[{"name": name, "type": "numeric"} for name in CHURN_FEATURES],
            input={"format": "json", "instances": "$.instances"},
        )
        # When decoded by name
        batch = decoded(config, "binary_json_named_features.jsonl")
        # Then every feature is found and typed, and the comma-joined output lines up
        assert batch.quarantined == []
        assert batch.rows.select(CHURN_FEATURES).rows() == [(134.0, 205.1, 1.0, 0.0, 0.0), (87.0, 151.4, 0.0, 1.0, 1.0)]
        assert batch.rows["y_pred_proba"].to_list() == [0.07, 0.83]

    def test_feature_paths_can_name_any_key(self) -> None:
        # Given feature paths quoting keys with a quote, with both quoting styles
        config = make_config(
            name="churn",
            features=[{"name": "intl_no"}, {"name": "intl_yes"}],
            input={
                "format": "json",
                "instances": "$.instances",
                "feature_paths": {"intl_no": "$['Int\\'l Plan_no']", "intl_yes": '$["Int\'l Plan_yes"]'},
            },
        )
        # When decoded, Then the renamed features read those keys
        batch = decoded(config, "binary_json_named_features.jsonl")
        assert batch.rows.select("intl_no", "intl_yes").rows() == [(1.0, 0.0), (0.0, 1.0)]

    @pytest.mark.parametrize("path", ["$['Int'l Plan_no']", "$['unterminated", "$.a b"])
    def test_invalid_feature_paths_fail_the_config_naming_the_field(self, path: str) -> None:
        with pytest.raises(ConfigError, match=r"input\.feature_paths: .*invalid JSON path"):
            make_config(input={"format": "json", "feature_paths": {"car_value": path}})


class TestJsonGroundTruth:
    def test_one_label_per_record_at_a_path(self) -> None:
        # Given JSON labels {"label": 1} (JSON-encoded) and {"label": 0} (BASE64)
        config = make_config(ground_truth={"format": "json", "label": "$.label"})
        # When decoded
        batch = decode_ground_truth_bytes(capture_bytes("ground_truth_json_single.jsonl"), config, "k")
        # Then each is the label of its request's one row
        assert batch.quarantined == []
        assert batch.rows.select("inference_id", "row_in_request", "y_true").rows() == [
            ("f2000000-0000-4000-8000-000000000001", 0, 1),
            ("f2000000-0000-4000-8000-000000000002", 0, 0),
        ]

    def test_one_label_per_row_of_a_multi_row_request(self) -> None:
        config = make_config(ground_truth={"format": "json", "label": "$.instances[*].label"})
        batch = decode_ground_truth_bytes(capture_bytes("ground_truth_json_multirow.jsonl"), config, "k")
        assert batch.quarantined == []
        assert batch.rows.select("inference_id", "row_in_request", "y_true").rows() == [
            ("f2000000-0000-4000-8000-000000000001", 0, 1),
            ("f2000000-0000-4000-8000-000000000001", 1, 0),
            ("f2000000-0000-4000-8000-000000000002", 0, 0),
            ("f2000000-0000-4000-8000-000000000002", 1, 0),
        ]

    def test_a_label_path_that_is_missing_quarantines_the_record(self) -> None:
        config = make_config(ground_truth={"format": "json", "label": "$.target"})
        batch = decode_ground_truth_bytes(capture_bytes("ground_truth_json_single.jsonl"), config, "k")
        assert [q.reason for q in batch.quarantined] == [
            "JSON path $.target missing in groundTruthData.data: $.target not found"
        ] * 2

    @pytest.mark.parametrize(
        ("ground_truth", "message"),
        [
            ({"label": "$.label"}, "ground_truth: .*needs ground_truth.format json"),
            ({"format": "json", "label": "label"}, "ground_truth: .*invalid JSON path 'label'"),
        ],
    )
    def test_label_paths_are_validated(self, ground_truth: dict[str, str], message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            make_config(ground_truth=ground_truth)

    def test_csv_stays_the_default(self) -> None:
        config = make_config(features=CAR_LOAN_FEATURES)
        assert (config.ground_truth.format, config.ground_truth.label) == ("csv", None)
