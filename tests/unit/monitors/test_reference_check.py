"""A reference's chunking is judged before it is fitted: a sparse one (thresholds that can never fire) is refused at
registration and at fit with a chunking that would do; a merely small one is a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from modelwatch.analysis.run import prepared_reference
from modelwatch.config.model import ModelConfig
from modelwatch.errors import ReferenceDataError
from modelwatch.monitors.frames import prepare_reference
from modelwatch.monitors.reference_check import judge_chunking
from modelwatch.workflow.lifecycle import ReferenceData, validate_reference

CONFIG = {
    "name": "loans",
    "endpoint": "loans-endpoint",
    "problem_type": "binary_classification",
    "features": [{"name": "income"}],
    "output": {"format": "csv", "columns": ["y_pred_proba", "y_pred"]},
    "target": "repaid",
    "timestamp": "ts",
    "chunking": {"period": "1h"},
}


def _reference(rows: int, step: timedelta) -> pd.DataFrame:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pd.DataFrame(
        {
            "income": [1000.0 + i for i in range(rows)],
            "y_pred_proba": [(i % 10) / 10 for i in range(rows)],
            "y_pred": [int(i % 10 >= 5) for i in range(rows)],
            "repaid": [int(i % 3 == 0) for i in range(rows)],
            "ts": [start + i * step for i in range(rows)],
        }
    )


def _parquet(frame: pd.DataFrame) -> ReferenceData:
    return ReferenceData(frame.to_parquet(), ".parquet", "reference.parquet")


def test_a_sparse_reference_is_refused_at_registration_and_at_fit_with_a_chunking_that_would_do() -> None:
    # Given 1,200 rows spread over 200 days, chunked hourly (as the ten-month reference): one row an hour
    config = ModelConfig.model_validate(CONFIG)
    sparse = _reference(1200, timedelta(hours=4))
    # When it is judged, registered or fitted
    verdict = judge_chunking(config, prepare_reference(config, sparse))
    # Then its chunks are one row each, all missing a class: the thresholds would be meaningless
    assert (verdict.chunks, verdict.median_rows) == (1200, 1.0)
    assert verdict.single_class_chunks == 1200 and verdict.fatal
    # And registration and fit refuse it, naming the problem and a chunking giving ~10 chunks of >= 100 rows
    expected = r"1200 of 1200 chunks lack a class.*meaningless; try chunking size: 120 or period: 20d \(about 10 chunks"
    with pytest.raises(ReferenceDataError, match=expected):
        validate_reference(config, _parquet(sparse))
    with pytest.raises(ReferenceDataError, match=expected):
        prepared_reference(config, sparse)


def test_a_well_chunked_reference_passes_without_warnings() -> None:
    # Given 2,400 rows over 12 hours, chunked hourly (200 rows a chunk, both classes in each)
    config = ModelConfig.model_validate(CONFIG)
    check = validate_reference(config, _parquet(_reference(2400, timedelta(seconds=18))))
    # Then it is accepted without a warning
    assert check.rows == 2400 and check.warnings == ()


def test_few_or_small_chunks_are_a_warning_not_an_error() -> None:
    # Given 3 hourly chunks of 40 rows (fewer than 6 chunks, fewer rows than min_rows_per_chunk 100)
    config = ModelConfig.model_validate(CONFIG)
    check = validate_reference(config, _parquet(_reference(120, timedelta(seconds=90))))
    # Then it is accepted with one warning naming both, and no suggestion (too few rows for 6 chunks of 100)
    [warning] = check.warnings
    assert "3 chunk(s) (fewer than 6)" in warning
    assert "40 rows in the median chunk (fewer than min_rows_per_chunk 100)" in warning
    assert "may be unreliable" in warning and "try chunking" not in warning
