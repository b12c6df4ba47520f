"""The results table's shape and types, whatever a monitor hands to `conform`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from modelwatch.monitors.results import RESULT_COLUMNS, conform, empty_table, from_parquet, to_parquet

START = pd.Timestamp("2026-03-02T00:00", tz="UTC")


def test_missing_columns_are_added_as_nulls_in_the_columns_order() -> None:
    table = conform(
        pd.DataFrame(
            {"metric": ["roc_auc"], "chunk_start": [START], "chunk_index": [0], "rows": [5], "labelled_rows": [0]}
        )
    )

    assert list(table.columns) == RESULT_COLUMNS
    assert table.loc[0, "feature"] is None and table.loc[0, "detail"] is None
    assert math.isnan(table.loc[0, "value"]) and math.isnan(table.loc[0, "lower_threshold"])
    assert table.loc[0, "alert"] is np.False_ and table["alert"].dtype == bool
    assert table["chunk_end"].isna().all() and str(table["chunk_end"].dtype) == "datetime64[ns, UTC]"


def test_every_kind_of_null_becomes_none_in_text_and_nan_in_numbers() -> None:
    table = conform(
        pd.DataFrame(
            {
                "metric": ["a", None, np.nan, pd.NA],
                "feature": pd.Series(["x", pd.NA, None, "y"], dtype="string"),
                "value": [1.0, None, np.nan, 2],
                "upper_threshold": pd.array([0.5, None, 1, None], dtype="Float64"),
                "alert": [True, None, False, np.nan],
                "chunk_start": [START] * 4,
                "chunk_index": [0, 1, 2, 3],
                "rows": [1, 2, 3, 4],
                "labelled_rows": [0, 0, 1, 1],
            }
        )
    )

    assert table["metric"].tolist() == ["a", None, None, None]
    assert table["feature"].tolist() == ["x", None, None, "y"] and table["feature"].dtype == object
    assert table["value"].dtype == "float64" and table["value"].isna().tolist() == [False, True, True, False]
    assert table["upper_threshold"].dtype == "float64" and table["upper_threshold"].isna().tolist() == [
        False,
        True,
        False,
        True,
    ]
    assert table["alert"].tolist() == [True, False, False, False]
    assert table["chunk_index"].dtype == "int64" and table["rows"].tolist() == [1, 2, 3, 4]


def test_times_become_utc_from_any_zone_naive_values_or_text() -> None:
    paris = pd.to_datetime(["2026-03-02 01:00"]).tz_localize("Europe/Paris")
    table = conform(
        pd.DataFrame(
            {
                "chunk_start": paris,
                "chunk_end": ["2026-03-02T01:00:00Z"],
                "chunk_index": [0],
                "rows": [1],
                "labelled_rows": [0],
            }
        )
    )

    assert table.loc[0, "chunk_start"] == START
    assert table.loc[0, "chunk_end"] == START + pd.Timedelta(hours=1)
    assert str(table["chunk_start"].dtype) == str(table["chunk_end"].dtype) == "datetime64[ns, UTC]"


def test_rows_are_taken_by_position_even_when_the_index_repeats() -> None:
    frame = pd.DataFrame(
        {
            "metric": ["a", "b", "c"],
            "value": [1.0, 2.0, 3.0],
            "chunk_start": [START] * 3,
            "chunk_index": [0, 1, 2],
            "rows": [1, 1, 1],
            "labelled_rows": [0, 0, 0],
        },
        index=[7, 7, 3],
    )

    table = conform(frame)

    assert table.index.tolist() == [0, 1, 2]
    assert table["metric"].tolist() == ["a", "b", "c"] and table["value"].tolist() == [1.0, 2.0, 3.0]


def test_an_empty_table_is_typed_and_survives_parquet() -> None:
    empty = empty_table()

    assert list(empty.columns) == RESULT_COLUMNS and len(empty) == 0
    pd.testing.assert_frame_equal(from_parquet(to_parquet(empty)), empty)
