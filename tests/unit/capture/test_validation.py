"""Poison-proof decoding: outputs, times and labels a run could not survive are quarantined with named reasons;
non-finite feature values are stored as missing and recorded (Given / When / Then)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from modelwatch.capture import decode_capture_bytes, decode_ground_truth_bytes
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.envelope import TIME_DTYPE, TimeBounds, inference_time_expr, strptime_time_expr
from modelwatch.capture.ground_truth import GroundTruthDecoder
from modelwatch.capture.records import LineBatch
from modelwatch.config.model import ModelConfig
from modelwatch.errors import ConfigError
from tests.unit.capture.conftest import (
    CAR_PRICE_FEATURES,
    CREDIT_CARD_CLASSES,
    CREDIT_CARD_FEATURES,
    capture_bytes,
    make_config,
)
from tests.unit.capture.test_decode import LOAN_CSV, record, side

POISON_ID = "e0000000-0000-4000-8000-0000000000{:02d}"
JSON = "application/json"


def both_paths(config: ModelConfig, data: bytes, arrived: datetime | None = None) -> DecodedBatch:
    """Decode by the vectorised path and by the per-record path alone; they must agree; returns one of them."""
    fast = CaptureDecoder(config, "s", arrived).decode_batch(LineBatch(1, data.rstrip(b"\n")))
    slow_decoder = CaptureDecoder(config, "s", arrived)
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data.rstrip(b"\n")))
    assert fast.rows.equals(slow.rows)
    assert fast.quarantined == slow.quarantined
    assert fast.feature_issues == slow.feature_issues
    return fast


class TestPoisonFile:
    def test_every_poison_is_quarantined_or_stored_as_missing(self, car_loan: ModelConfig) -> None:
        # Given a capture file with NaN/Infinity/out-of-range probabilities, an impossible time, non-finite
        # features and a base64 request wrapped at 76 characters
        data = capture_bytes("binary_poison.jsonl")
        # When decoded (both paths agree)
        batch = both_paths(car_loan, data)
        # Then the bad outputs and the time quarantine their records, each with its named reason
        assert {q.line: q.reason for q in batch.quarantined} == {
            2: "non-finite probability in endpointOutput column 'y_pred_proba' (row 0)",
            3: "non-finite probability in endpointOutput column 'y_pred_proba' (row 0)",
            4: "probability out of range [0, 1] in endpointOutput column 'y_pred_proba' (row 0)",
            5: "probability out of range [0, 1] in endpointOutput column 'y_pred_proba' (row 0)",
            6: "eventMetadata.inferenceTime out of range (1677-09-22 to 2262-04-11, what the lake holds)",
        }
        # And the records with non-finite features keep their predictions, the values missing and recorded
        kept = batch.rows.select("event_id", "car_value", "driver_tenure", "y_pred_proba", "feature_issues")
        assert kept.rows() == [
            (POISON_ID.format(1), 39811.0, 0.2124, 0.91, None),
            (POISON_ID.format(7), None, 0.2124, 0.8, [{"feature": "car_value", "issue": "non_finite"}]),
            (POISON_ID.format(8), 39811.0, None, 0.3, [{"feature": "driver_tenure", "issue": "non_finite"}]),
            (POISON_ID.format(9), 39811.0, 0.2124, 0.6, None),
            (POISON_ID.format(9), 12679.0, 0.2124, 0.2, None),
        ]
        assert batch.feature_issues == {"non_finite": 2}

    def test_the_whole_file_streams_to_the_same_result(self, car_loan: ModelConfig) -> None:
        data = capture_bytes("binary_poison.jsonl")
        whole = decode_capture_bytes(data, car_loan, "s")
        assert whole.rows.height == 5 and len(whole.quarantined) == 5
        assert whole.feature_issues == {"non_finite": 2}


class TestOutputs:
    def test_json_nan_and_infinity_literals_are_quarantined(self, car_loan_json_out: ModelConfig) -> None:
        # Given JSON outputs with the NaN and Infinity literals Python's json (and some model servers) write
        lines = [
            record(side(LOAN_CSV), side('{"predictions": [{"score": NaN, "predicted_label": 0}]}', "JSON", JSON)),
            record(side(LOAN_CSV), side('{"predictions": [{"score": -Infinity, "predicted_label": 1}]}', "JSON", JSON)),
        ]
        # When decoded
        batch = both_paths(car_loan_json_out, "\n".join(lines).encode())
        # Then both records are quarantined, none silently becomes y_pred 0
        assert [q.reason for q in batch.quarantined] == [
            "non-finite probability in endpointOutput probabilities (row 0)"
        ] * 2
        assert batch.rows.height == 0

    def test_binary_prediction_outside_the_classes(self) -> None:
        config = make_config(output={"format": "csv", "columns": ["y_pred", "y_pred_proba"]})
        batch = both_paths(config, record(side(LOAN_CSV), side("7,0.5")).encode())
        assert [q.reason for q in batch.quarantined] == [
            "value outside the model's classes in endpointOutput column 'y_pred' (row 0)"
        ]

    @pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity"])
    def test_regression_prediction_must_be_finite(self, value: str) -> None:
        config = make_config(
            name="car_price",
            problem_type="regression",
            features=CAR_PRICE_FEATURES,
            output={"format": "csv", "columns": ["y_pred"]},
        )
        data = record(side("15,144020,42810,4,3,diesel,automatic"), side(f"{value}\n"))
        batch = both_paths(config, data.encode())
        assert [q.reason for q in batch.quarantined] == [
            "non-finite prediction in endpointOutput column 'y_pred' (row 0)"
        ]


class TestMulticlassProbabilities:
    @staticmethod
    def config(**validation: float) -> ModelConfig:
        return make_config(
            name="credit_card",
            problem_type="multiclass_classification",
            features=CREDIT_CARD_FEATURES,
            classes=CREDIT_CARD_CLASSES,
            output={"format": "csv", "columns": [f"y_pred_proba_{c}" for c in CREDIT_CARD_CLASSES]},
            validation=validation,
        )

    def test_rows_must_sum_to_one_within_the_tolerance(self) -> None:
        # Given rows summing to 1.0, 0.99 (rounded output) and 1.3
        features = "Partner3,1.8,350,web,309,15000,True"
        lines = [record(side(features), side(p)) for p in ("0.2,0.3,0.5", "0.33,0.33,0.33", "0.5,0.5,0.3")]
        # When decoded with the default tolerance (0.01)
        batch = both_paths(self.config(), "\n".join(lines).encode())
        # Then only the row that sums to 1.3 is quarantined, saying why (not what the values were)
        assert [(q.line, q.reason) for q in batch.quarantined] == [
            (3, "class probabilities do not sum to 1 (within 0.01) in endpointOutput row 0")
        ]
        assert batch.rows["y_pred"].to_list() == ["upmarket_card", "prepaid_card"]

    def test_the_tolerance_is_configurable(self) -> None:
        data = record(side("Partner3,1.8,350,web,309,15000,True"), side("0.3,0.3,0.3")).encode()
        assert len(both_paths(self.config(), data).quarantined) == 1
        assert both_paths(self.config(probability_sum_tolerance=0.2), data).quarantined == []

    def test_a_prediction_outside_the_classes(self, credit_card_json: ModelConfig) -> None:
        config = make_config(
            name="credit_card",
            problem_type="multiclass_classification",
            features=CREDIT_CARD_FEATURES,
            classes=CREDIT_CARD_CLASSES,
            output={"format": "csv", "columns": ["y_pred"]},
        )
        batch = both_paths(config, record(side("Partner3,1.8,350,web,309,15000,True"), side("gold_card")).encode())
        assert [q.reason for q in batch.quarantined] == [
            "value outside the model's classes in endpointOutput column 'y_pred' (row 0)"
        ]


class TestFeatures:
    def test_non_finite_json_features_are_missing_and_recorded(self, car_price: ModelConfig) -> None:
        # Given a JSON request (per-record path) with NaN and Infinity literals in numeric features
        inp = side('{"instances": [[NaN, 144020, Infinity, 4, 3, "diesel", "automatic"]]}', "JSON", "application/json")
        out = side('{"predictions": [1828.2]}', "JSON", "application/json")
        # When decoded
        batch = decode_capture_bytes(record(inp, out).encode(), car_price, "s")
        # Then the prediction is kept and the two values are missing, each recorded
        assert batch.quarantined == []
        assert batch.rows.select("car_age", "price_new", "y_pred").row(0) == (None, None, 1828.2)
        assert batch.rows["feature_issues"].to_list() == [
            [{"feature": "car_age", "issue": "non_finite"}, {"feature": "price_new", "issue": "non_finite"}]
        ]
        assert batch.feature_issues == {"non_finite": 2}

    def test_clean_rows_have_no_feature_issues(self, car_loan: ModelConfig) -> None:
        batch = both_paths(car_loan, capture_bytes("binary_csv.jsonl"))
        assert batch.rows["feature_issues"].null_count() == batch.rows.height == 2
        assert batch.feature_issues == {}


def generated_times(count: int, seed: int = 1) -> list[str]:
    """Times of the usual `...Z` form with any two digits in each field (invalid dates, hour 24, leap seconds) and
    0 to 6 fraction digits."""
    rng = random.Random(seed)

    def field(low: int, high: int, odd: tuple[str, ...]) -> str:
        return f"{rng.randint(low, high):02d}" if rng.random() < 0.9 else rng.choice(odd)

    times = []
    for _ in range(count):
        year = rng.choice([f"{rng.randint(1678, 2261):04d}", f"{rng.randint(0, 9999):04d}", "2024", "2000", "0000"])
        month, day = field(1, 12, ("00", "13", "99")), field(1, 28, ("00", "29", "30", "31", "32"))
        hour, minute, second = field(0, 23, ("24", "99")), field(0, 59, ("60", "99")), field(0, 59, ("60", "61"))
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 6)))
        dot = f".{fraction}" if fraction else ""
        times.append(f"{year}-{month}-{day}T{hour}:{minute}:{second}{dot}Z")
    return times


class TestInferenceTime:
    def test_the_vectorised_time_is_what_one_strptime_reads(self) -> None:
        # Given many times of the usual form, valid or not, and times of other forms
        others = ["2024-01-01T00:00:00.1234567Z", "2024-01-01 00:00:00Z", "2024-1-01T00:00:00Z"]
        times = [*generated_times(20_000), *others]
        frame = pl.DataFrame({"t": times})
        # When read by the decoder's vectorised half and by one strptime of the whole form
        read = frame.select(
            inference_time_expr(pl.col("t"), TimeBounds(skew=timedelta(days=10**6))).alias("fast"),
            strptime_time_expr(pl.col("t")).alias("strptime"),
        )
        # Then both read the same times (the bounds aside), and fail on the same ones
        within = read["strptime"].is_between(datetime(1677, 9, 22, tzinfo=UTC), datetime(2262, 4, 11, tzinfo=UTC))
        expected = read["strptime"].zip_with(within.fill_null(False), pl.Series([None] * len(times), dtype=TIME_DTYPE))
        assert read["fast"].equals(expected)
        assert read["fast"].is_not_null().sum() > 5_000

    @pytest.mark.parametrize(
        "time",
        ["9999-12-31T23:59:59Z", "2262-04-11T00:00:00Z", "1677-09-21T12:00:00Z", "0001-01-01T00:30:00+01:00"],
    )
    def test_times_the_lake_cannot_hold_are_quarantined(self, car_loan: ModelConfig, time: str) -> None:
        batch = both_paths(car_loan, record(side(LOAN_CSV), side("0.5"), time=time).encode())
        assert [q.reason for q in batch.quarantined] == [
            "eventMetadata.inferenceTime out of range (1677-09-22 to 2262-04-11, what the lake holds)"
        ]

    def test_times_too_far_after_the_arrival_are_quarantined(self, car_loan: ModelConfig) -> None:
        # Given an object that arrived at 10:00 with records timed 10:00 the next day and one minute after that
        arrived = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
        lines = [
            record(side(LOAN_CSV), side("0.5"), time="2024-03-02T10:00:00Z"),
            record(side(LOAN_CSV), side("0.5"), time="2024-03-02T10:01:00Z"),
        ]
        # When decoded (default max_time_skew 1d)
        batch = both_paths(car_loan, "\n".join(lines).encode(), arrived)
        # Then only the second is quarantined, naming the setting
        assert [(q.line, q.reason) for q in batch.quarantined] == [
            (
                2,
                "eventMetadata.inferenceTime is more than 1d after the capture object arrived "
                "(validation.max_time_skew)",
            )
        ]

    def test_the_skew_is_configurable_and_unchecked_without_an_arrival(self) -> None:
        config = make_config(validation={"max_time_skew": "2h"})
        data = record(side(LOAN_CSV), side("0.5"), time="2024-03-01T13:00:00Z").encode()
        arrived = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
        assert len(both_paths(config, data, arrived).quarantined) == 1
        assert both_paths(config, data, arrived + timedelta(hours=1)).quarantined == []
        assert both_paths(config, data).quarantined == []

    def test_an_invalid_skew_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match=r"validation\.max_time_skew"):
            make_config(validation={"max_time_skew": "soon"})


def gt(data: str, event_id: str = "id-1") -> str:
    return json.dumps({"groundTruthData": {"data": data, "encoding": "CSV"}, "eventMetadata": {"eventId": event_id}})


def labels_both_paths(config: ModelConfig, data: bytes) -> DecodedBatch:
    fast = GroundTruthDecoder(config, "k", None).decode_batch(LineBatch(1, data.rstrip(b"\n")))
    slow_decoder = GroundTruthDecoder(config, "k", None)
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data.rstrip(b"\n")))
    assert fast.rows.equals(slow.rows)
    assert fast.quarantined == slow.quarantined
    return fast


class TestLabels:
    def test_bad_labels_are_quarantined_without_their_values(self, car_loan: ModelConfig) -> None:
        # Given labels 1, 7 (no class of a binary model), 0 and "maybe"
        data = capture_bytes("ground_truth_binary_bad.jsonl")
        # When decoded
        batch = labels_both_paths(car_loan, data)
        # Then the good labels are kept and the others quarantined, the reasons naming no value
        assert batch.rows["y_true"].to_list() == [1, 0]
        assert [(q.line, q.reason) for q in batch.quarantined] == [
            (2, "label outside the model's classes in groundTruthData.data label 0"),
            (4, "non-numeric label in groundTruthData.data label 0"),
        ]
        assert not any(word in q.reason for q in batch.quarantined for word in ("7", "maybe"))

    def test_multiclass_labels_must_be_classes(self, credit_card_json: ModelConfig) -> None:
        data = "\n".join([gt("prepaid_card"), gt("gold_card")]).encode()
        batch = labels_both_paths(credit_card_json, data)
        assert batch.rows["y_true"].to_list() == ["prepaid_card"]
        assert [q.reason for q in batch.quarantined] == [
            "label outside the model's classes in groundTruthData.data label 0"
        ]

    @pytest.mark.parametrize(
        ("label", "reason"),
        [
            ("NaN", "non-finite label in groundTruthData.data label 0"),
            ("-inf", "non-finite label in groundTruthData.data label 0"),
            ("twelve", "non-numeric label in groundTruthData.data label 0"),
        ],
    )
    def test_regression_labels_must_be_finite_numbers(self, car_price: ModelConfig, label: str, reason: str) -> None:
        batch = labels_both_paths(car_price, "\n".join([gt("1795.5"), gt(label)]).encode())
        assert batch.rows["y_true"].to_list() == [1795.5]
        assert [q.reason for q in batch.quarantined] == [reason]

    def test_whole_label_files_decode_alike(self, car_loan: ModelConfig) -> None:
        data = capture_bytes("ground_truth_binary_bad.jsonl")
        assert decode_ground_truth_bytes(data, car_loan, "k").rows["y_true"].to_list() == [1, 0]
