"""Extra columns (bias facets the model does not use) are decoded like features: by position in CSV lines and JSON
lists, by key or path in JSON objects, damaged values stored as missing with their issue; both paths agree."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from modelwatch.capture import capture_schema
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.envelope import CAPTURE_JSON_SCHEMA
from modelwatch.capture.records import LineBatch, read_json_records
from modelwatch.capture.rules import positional_columns
from modelwatch.config.model import ModelConfig
from modelwatch.constants import COL_EXTRA_KEYS, COL_FEATURE_ISSUES
from modelwatch.errors import ConfigError
from tests.unit.capture.conftest import CAR_LOAN_FEATURES, capture_bytes, make_config

EXTRA_COLUMNS = [
    {"name": "region", "type": "categorical", "csv_index": 0},
    {"name": "applicant_age", "type": "numeric", "csv_index": 8, "path": "$.applicant.age"},
    {"name": "branch"},  # JSON objects only
]


@pytest.fixture
def config() -> ModelConfig:
    return make_config(input={"format": "json", "instances": "$.instances"}, extra_columns=EXTRA_COLUMNS)


def decoded(config: ModelConfig) -> DecodedBatch:
    """The sample decoded by the vectorised path and by the per-record path alone: identical, or the test fails."""
    data = capture_bytes("binary_extra_columns.jsonl").rstrip(b"\n")
    fast = CaptureDecoder(config, "s").decode_batch(LineBatch(1, data))
    slow_decoder = CaptureDecoder(config, "s")
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data))
    assert fast.rows.equals(slow.rows)
    assert fast.quarantined == slow.quarantined
    assert (fast.feature_issues, fast.rows_with_extra_keys) == (slow.feature_issues, slow.rows_with_extra_keys)
    return fast


def test_positional_rows_hold_the_extra_columns_at_their_index(config: ModelConfig) -> None:
    names = [c.name for c in positional_columns(config)]
    assert names == ["region", *(f["name"] for f in CAR_LOAN_FEATURES), "applicant_age"]
    schema = capture_schema(config)
    assert (schema["region"], schema["applicant_age"], schema["branch"]) == (pl.Utf8, pl.Float64, pl.Utf8)


def test_extra_columns_are_decoded_like_features_on_both_paths(config: ModelConfig) -> None:
    # Given CSV lines (plain, base64, quoted) with the region first and the age last, JSON objects with the region
    # by key, the age at a path and a branch, and a JSON list of nine values
    # When decoded by both paths (equal, see `decoded`)
    batch = decoded(config)
    rows = batch.rows
    # Then each row has its extra values, the features are where they were, and nothing is quarantined
    assert batch.quarantined == []
    assert rows["region"].to_list() == ["north", "east", "east", None, "west", None, "south", "south, coast"]
    assert rows["applicant_age"].to_list() == [52.0, 37.0, None, None, 41.0, 29.0, 63.0, 70.0]
    assert rows["branch"].to_list() == [None, None, None, None, "B7", None, None, None]
    present = rows.filter(pl.col("region").is_not_null())
    assert present["car_value"].to_list() == [39811.0] * 6
    assert present["driver_tenure"].to_list() == [0.2124] * 6
    # and the clean CSV line was the vectorised path's own (the others are the per-record path's)
    data = capture_bytes("binary_extra_columns.jsonl").rstrip(b"\n")
    frame, *_ = read_json_records(LineBatch(1, data), CAPTURE_JSON_SCHEMA)
    fast_rows, flagged = CaptureDecoder(config, "s").vectorised.decode(frame)
    assert fast_rows is not None and fast_rows["region"].to_list() == ["north"] and 1 not in flagged


def test_damaged_or_absent_extra_values_are_recorded_as_for_features(config: ModelConfig) -> None:
    batch = decoded(config)
    issues: list[Any] = batch.rows[COL_FEATURE_ISSUES].to_list()
    # a non-number where the age belongs; a CSV line without its extra values; a JSON object without the region
    # (and the branch, read from objects only); the keys extra columns read are not extra keys
    assert issues[2] == [{"feature": "applicant_age", "issue": "type"}]
    assert issues[3] == [{"feature": None, "issue": "too_few_columns"}]
    assert issues[5] == [
        {"feature": "region", "issue": "missing_key"},
        {"feature": "branch", "issue": "missing_key"},
    ]
    assert [i for n, i in enumerate(issues) if n not in (2, 3, 5)] == [None] * 5
    assert batch.rows[COL_EXTRA_KEYS].to_list()[4] == ["note"]


def test_a_csv_index_must_fit_the_row() -> None:
    with pytest.raises(ConfigError, match=r"csv_index \[9\]"):
        make_config(extra_columns=[{"name": "region", "csv_index": 9}, {"name": "age", "csv_index": 0}])
    with pytest.raises(ConfigError, match=r"csv_index \[1\] taken twice"):
        make_config(extra_columns=[{"name": "region", "csv_index": 1}, {"name": "age", "csv_index": 1}])
