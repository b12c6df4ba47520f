"""Damaged features no longer cost the prediction: damaged values are stored as missing with a per-row record of what
was wrong (`feature_issues`, `extra_keys`); only records that cannot be read or aligned are quarantined."""

from __future__ import annotations

import polars as pl
import pytest

from modelwatch.capture import capture_schema
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.records import LineBatch
from modelwatch.config.model import ModelConfig
from modelwatch.constants import COL_EXTRA_KEYS, COL_FEATURE_ISSUES
from tests.unit.capture.conftest import capture_bytes, make_config

DAMAGED = "da000000-0000-4000-8000-0000000000{:02d}"


@pytest.fixture
def loan_json_or_csv() -> ModelConfig:
    """The car-loan model reading JSON requests at $.instances (CSV requests are read as CSV, by content type)."""
    return make_config(input={"format": "json", "instances": "$.instances"})


def decoded(config: ModelConfig) -> DecodedBatch:
    data = capture_bytes("binary_damaged_features.jsonl").rstrip(b"\n")
    fast = CaptureDecoder(config, "s").decode_batch(LineBatch(1, data))
    slow_decoder = CaptureDecoder(config, "s")
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data))
    assert fast.rows.equals(slow.rows)
    assert fast.quarantined == slow.quarantined
    assert (fast.feature_issues, fast.rows_with_extra_keys) == (slow.feature_issues, slow.rows_with_extra_keys)
    return fast


def issues(batch: DecodedBatch, event: int) -> list[object]:
    rows = batch.rows.filter(pl.col("event_id") == DAMAGED.format(event))
    return rows[COL_FEATURE_ISSUES].to_list()


class TestDamagedRecordsKeepTheirPredictions:
    def test_every_damaged_record_keeps_its_prediction(self, loan_json_or_csv: ModelConfig) -> None:
        # Given records with a CSV row of 8 and of 3 values, a non-number, a short second row, a JSON object without
        # a key (and with one no feature reads), a list and a text where values belong, a short positional row,
        # and a request body that is not JSON
        # When decoded
        batch = decoded(loan_json_or_csv)
        # Then only the unreadable request is quarantined; every other record keeps its predictions
        assert [(q.line, q.reason.split(":")[0]) for q in batch.quarantined] == [
            (9, "invalid JSON in endpointInput.data")
        ]
        assert batch.rows["y_pred_proba"].to_list() == [0.91, 0.62, 0.55, 0.08, 0.71, 0.33, 0.47, 0.12, 0.66]
        assert batch.rows["row_in_request"].to_list() == [0, 0, 0, 0, 0, 1, 0, 0, 0]

    def test_what_was_wrong_is_recorded_per_row(self, loan_json_or_csv: ModelConfig) -> None:
        batch = decoded(loan_json_or_csv)
        assert issues(batch, 1) == [None]
        assert issues(batch, 2) == [[{"feature": None, "issue": "too_many_columns"}]]
        assert issues(batch, 3) == [[{"feature": None, "issue": "too_few_columns"}]]
        assert issues(batch, 4) == [[{"feature": "car_value", "issue": "type"}]]
        assert issues(batch, 5) == [None, [{"feature": None, "issue": "too_few_columns"}]]
        assert issues(batch, 6) == [[{"feature": "loan_length", "issue": "missing_key"}]]
        assert issues(batch, 7) == [
            [{"feature": "car_value", "issue": "type"}, {"feature": "salary_range", "issue": "type"}]
        ]
        assert issues(batch, 8) == [[{"feature": None, "issue": "too_few_columns"}]]
        assert batch.feature_issues == {"too_many_columns": 1, "too_few_columns": 3, "type": 3, "missing_key": 1}

    def test_damaged_values_are_missing_and_the_rest_kept(self, loan_json_or_csv: ModelConfig) -> None:
        batch = decoded(loan_json_or_csv)
        row = batch.rows.filter(pl.col("event_id") == DAMAGED.format(7)).row(0, named=True)
        # the damaged values are missing, the others read as usual
        assert (row["car_value"], row["salary_range"], row["loan_length"]) == (None, None, 18.0)
        # a row whose values cannot be assigned to features keeps none
        short = batch.rows.filter(pl.col("event_id") == DAMAGED.format(3)).row(0, named=True)
        assert [short[f.name] for f in loan_json_or_csv.features] == [None] * 7

    def test_keys_no_feature_reads_are_recorded(self, loan_json_or_csv: ModelConfig) -> None:
        batch = decoded(loan_json_or_csv)
        assert batch.rows.filter(pl.col(COL_EXTRA_KEYS).is_not_null())[["event_id", COL_EXTRA_KEYS]].rows() == [
            (DAMAGED.format(6), ["customer_id"])
        ]
        assert batch.rows_with_extra_keys == 1

    def test_clean_data_carries_all_null_columns(self, car_loan: ModelConfig) -> None:
        # Given a clean CSV file on the vectorised path, Then both columns are there, typed and all null
        batch = CaptureDecoder(car_loan, "s").decode_batch(LineBatch(1, capture_bytes("binary_csv.jsonl").rstrip()))
        assert batch.rows.schema == pl.Schema(capture_schema(car_loan))
        assert batch.rows[COL_FEATURE_ISSUES].null_count() == batch.rows[COL_EXTRA_KEYS].null_count() == 2
        assert (batch.feature_issues, batch.rows_with_extra_keys) == ({}, 0)

    def test_feature_paths_name_the_keys_they_read(self) -> None:
        # Given a feature read through a path into a nested object, whose top-level key is then not extra
        config = make_config(
            input={"format": "json", "instances": "$.instances", "feature_paths": {"car_value": "$.car.value"}}
        )
        batch = decoded(config)
        # Then the JSON objects lack `car` (missing_key) and `car_value` is extra
        assert issues(batch, 6) == [
            [{"feature": "car_value", "issue": "missing_key"}, {"feature": "loan_length", "issue": "missing_key"}]
        ]
        extra = batch.rows.filter(pl.col("event_id") == DAMAGED.format(6))[COL_EXTRA_KEYS].to_list()
        assert extra == [["car_value", "customer_id"]]


def test_issues_aggregate_per_chunk_as_the_readme_shows(loan_json_or_csv: ModelConfig) -> None:
    # Given decoded rows (a data-quality monitor reads them from the lake per chunk)
    rows = decoded(loan_json_or_csv).rows
    # When aggregated as README's lake section shows
    per_issue = (
        rows.select(pl.col("feature_issues").explode().struct.unnest())
        .drop_nulls("issue")
        .group_by("feature", "issue")
        .len()
        .sort("feature", "issue", nulls_last=True)
    )
    # Then each (feature, issue) is counted, row-level issues under a null feature
    assert per_issue.rows() == [
        ("car_value", "type", 2),
        ("loan_length", "missing_key", 1),
        ("salary_range", "type", 1),
        (None, "too_few_columns", 3),
        (None, "too_many_columns", 1),
    ]
    assert rows.select(pl.col("extra_keys").explode().drop_nulls().value_counts()).unnest("extra_keys").rows() == [
        ("customer_id", 1)
    ]
