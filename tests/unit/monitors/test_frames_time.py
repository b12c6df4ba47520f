"""Timestamps as nannyml takes them: tz-naive UTC datetime64[ns], whatever type the lake or a reference gives."""

from __future__ import annotations

import pandas as pd
import pytest

from modelwatch.monitors.frames import naive_utc

HOURS = pd.Series(pd.date_range("2024-03-01", periods=5, freq="h"))


@pytest.mark.parametrize(
    "values",
    [
        HOURS,  # naive (taken as UTC)
        HOURS.astype("datetime64[us]"),  # the lake's Parquet unit
        HOURS.dt.tz_localize("UTC"),
        HOURS.dt.tz_localize("UTC").astype("datetime64[ms, UTC]"),
        HOURS.dt.tz_localize("Europe/Berlin"),
        HOURS.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),  # text, as a CSV reference gives it
        pd.Series([None, "2024-03-01T00:00:00+02:00"]),
    ],
    ids=["naive", "naive-us", "utc", "utc-ms", "berlin", "text", "text-offset-missing"],
)
def test_every_time_type_becomes_what_pandas_parsing_as_utc_gives(values: pd.Series) -> None:
    # Given timestamps of any type; when made tz-naive UTC
    converted = naive_utc(values)
    # Then they equal pandas' own parse as UTC, converted (datetime columns are no longer re-parsed value by value)
    expected = pd.to_datetime(values, utc=True).dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    assert converted.dtype == "datetime64[ns]"
    pd.testing.assert_series_equal(converted, expected)
