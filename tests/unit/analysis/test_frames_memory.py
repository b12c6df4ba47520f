"""Lake rows into pandas without holding them twice (#15 item 1): the conversion moves one column at a time and the
prepared frame shares the lake rows' columns, with the same values and types as before."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

from modelwatch.monitors.frames import lake_to_pandas, prepare_captures
from modelwatch.monitors.labels import join_labels

from .cases import Case


def _lake_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "n": [1.5, None, 3.0],
            "k": [1, 2, None],
            "c": ["a", None, "a"],
            "y_pred_proba": [0.2, 0.7, 0.9],
            "y_pred": [0, 1, 1],
            "event_id": ["e1", "e2", None],
            "inference_id": ["i1", "i2", "i3"],
            "row_in_request": pl.Series([0, 0, 1], dtype=pl.Int32),
            "inference_time": pl.Series([datetime(2026, 3, 2, h, tzinfo=UTC) for h in (1, 2, 3)]),
        }
    )


def test_lake_rows_convert_as_a_whole_frame_would_and_the_source_is_kept_unless_consumed() -> None:
    frame = _lake_frame()
    whole = frame.drop("event_id", "inference_id").to_pandas()
    ids = frame.select("event_id", "inference_id").to_pandas(use_pyarrow_extension_array=True)
    expected = pd.concat([whole.iloc[:, :5], ids, whole.iloc[:, 5:]], axis=1)

    converted = lake_to_pandas(frame)

    pd.testing.assert_frame_equal(converted, expected, check_exact=True)
    assert converted.dtypes.equals(expected.dtypes)
    assert isinstance(converted["inference_id"].dtype, pd.ArrowDtype)
    assert frame.equals(_lake_frame())  # not consumed: the caller's rows are as they were


def test_consumed_lake_rows_leave_their_frame_empty_and_convert_the_same() -> None:
    frame = _lake_frame()
    converted = lake_to_pandas(frame, consume=True)
    pd.testing.assert_frame_equal(converted, lake_to_pandas(_lake_frame()), check_exact=True)
    assert frame.width == 0  # each column was dropped as it moved into pandas


def test_prepared_rows_share_the_lake_rows_columns_and_never_change_them(binary_case: Case) -> None:
    captures = binary_case.captures
    before = captures.copy(deep=True)
    numeric = next(f.name for f in binary_case.config.features if f.type == "numeric")
    assert captures[numeric].dtype == "float64"
    features = binary_case.config.feature_names

    prepared = prepare_captures(binary_case.config, captures, features=features).frame

    pd.testing.assert_frame_equal(captures, before, check_exact=True)
    assert np.shares_memory(prepared[numeric].to_numpy(), captures[numeric].to_numpy())  # no copy of the hour


def test_joined_labels_share_the_analysis_columns_and_missing_ids_never_match(binary_case: Case) -> None:
    prepared = prepare_captures(binary_case.config, binary_case.captures, features=[]).frame
    analysis = prepared.iloc[:6].copy()
    analysis["inference_id"] = pd.Series(["a", "b", None, None, "c", "c"], dtype="large_string[pyarrow]").to_numpy()
    analysis["row_in_request"] = [0, 0, 0, 0, 0, 1]
    labels = pd.DataFrame(
        {
            "inference_id": pd.Series(["a", None, "c", "c", "zz"], dtype="large_string[pyarrow]"),
            "row_in_request": [0, 0, 0, 1, 0],
            "y_true": [1, 0, 0, 1, 1],
        }
    )

    joined = join_labels(binary_case.config, analysis, labels)

    assert np.shares_memory(joined.frame["y_pred_proba"].to_numpy(), analysis["y_pred_proba"].to_numpy())
    assert joined.frame["y_true"].tolist()[:2] == [1.0, pytest.approx(np.nan, nan_ok=True)]
    assert np.isnan(joined.frame["y_true"].iloc[2:4]).all()  # missing ids: no label, and ambiguous with each other
    assert joined.frame["y_true"].iloc[4:].tolist() == [0.0, 1.0]
    assert joined.ambiguous_rows == 2
    assert joined.unmatched_labels == 1  # "zz"; the label without an id is never counted
