"""The one results table every monitor returns: a row per (chunk, monitor, metric, kind, feature/facet/segment).

Monitors build it with pandas (in the analysis image); publishing reads it back with polars alone (the zip
functions ship neither pandas nor numpy), so this module imports neither at module level.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelwatch.clock import to_utc
from modelwatch.errors import PublishError

if TYPE_CHECKING:
    import pandas as pd

# Numeric fields of a row; NaN where the monitor has none (a realized value has no confidence band).
VALUE_FIELDS = (
    "value",
    "sampling_error",
    "upper_confidence_boundary",
    "lower_confidence_boundary",
    "upper_threshold",
    "lower_threshold",
)
# What a row is about, besides its chunk: null where it does not apply (performance rows have no feature).
SUBJECT_FIELDS = ("feature", "facet", "facet_value", "segment", "variant", "version")
RESULT_COLUMNS = [
    "model",
    "run_id",
    "monitor",
    "metric",
    "kind",
    *SUBJECT_FIELDS,
    "chunk_key",
    "chunk_index",
    "chunk_start",
    "chunk_end",
    *VALUE_FIELDS,
    "alert",
    "estimation_error",
    "label_coverage",
    "rows",
    "labelled_rows",
    "detail",
]
CHUNK_COLUMNS = ["chunk_key", "chunk_index", "chunk_start", "chunk_end", "rows", "labelled_rows", "label_coverage"]
_STRING_COLUMNS = ("model", "run_id", "monitor", "metric", "kind", *SUBJECT_FIELDS, "chunk_key", "detail")
_FLOAT_COLUMNS = (*VALUE_FIELDS, "estimation_error", "label_coverage")


@dataclass(frozen=True)
class ResultRow:
    """One row of a run's results, as publishing reads it."""

    monitor: str
    metric: str
    kind: str
    chunk_start: datetime
    chunk_end: datetime | None
    value: float | None
    lower_bound: float | None
    upper_bound: float | None
    lower_threshold: float | None
    upper_threshold: float | None
    alert: bool
    label_coverage: float | None
    rows: int | None
    feature: str | None = None
    facet: str | None = None
    facet_value: str | None = None
    segment: str | None = None
    variant: str | None = None
    version: str | None = None  # the model version whose rows made it, while more than one is live
    estimation_error: float | None = None
    detail: str | None = None
    sampling_error: float | None = None  # the value's standard error (nannyml's sampling error of the metric)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def read_results(body: bytes) -> list[ResultRow]:
    """Parse a results Parquet into rows (polars only). Files without a `monitor` column are performance results."""
    import polars as pl

    try:
        table = pl.read_parquet(io.BytesIO(body))
    except Exception as exc:  # polars raises several error types for a corrupt or foreign file
        raise PublishError(f"results file is not readable Parquet: {exc}") from exc
    required = {"chunk_start", "metric", "kind", "value", "alert"}
    missing = required - set(table.columns)
    if missing:
        raise PublishError(f"results file lacks columns {sorted(missing)}")
    rows = []
    for row in table.iter_rows(named=True):
        end = row.get("chunk_end")
        count = row.get("rows")
        rows.append(
            ResultRow(
                monitor=str(row.get("monitor") or "performance"),
                metric=str(row["metric"]),
                kind=str(row["kind"]),
                chunk_start=to_utc(row["chunk_start"]),
                chunk_end=to_utc(end) if end is not None else None,
                value=_number(row["value"]),
                lower_bound=_number(row.get("lower_confidence_boundary")),
                upper_bound=_number(row.get("upper_confidence_boundary")),
                lower_threshold=_number(row.get("lower_threshold")),
                upper_threshold=_number(row.get("upper_threshold")),
                alert=bool(row["alert"]),
                label_coverage=_number(row.get("label_coverage")),
                rows=int(count) if count is not None else None,
                feature=_text(row.get("feature")),
                facet=_text(row.get("facet")),
                facet_value=_text(row.get("facet_value")),
                segment=_text(row.get("segment")),
                version=_text(row.get("version")),
                variant=_text(row.get("variant")),
                estimation_error=_number(row.get("estimation_error")),
                detail=_text(row.get("detail")),
                sampling_error=_number(row.get("sampling_error")),
            )
        )
    return rows


def empty_table() -> pd.DataFrame:
    """A results table without rows, with every column typed (a copy of one built once: building it costs tens of
    milliseconds, and every monitor's step starts with one)."""
    return _empty_table().copy()


@functools.cache
def _empty_table() -> pd.DataFrame:
    import pandas as pd

    return conform(pd.DataFrame({column: [] for column in RESULT_COLUMNS}))


def conform(table: pd.DataFrame) -> pd.DataFrame:
    """The table with exactly RESULT_COLUMNS in order and their types (missing columns added as nulls)."""
    import numpy as np
    import pandas as pd

    # Each column converted once to a numpy array (by position: an index may repeat) and the table built in one go:
    # inserting columns one by one, or a Series per missing column, cost tens of milliseconds per call.
    rows = len(table)
    columns: dict[str, Any] = {}
    for column in RESULT_COLUMNS:
        present = column in table.columns
        if column in _STRING_COLUMNS:
            columns[column] = (
                table[column].to_numpy(dtype="object", na_value=None) if present else np.full(rows, None, "object")
            )
        elif column in _FLOAT_COLUMNS:
            columns[column] = table[column].astype("float64").to_numpy() if present else np.full(rows, np.nan)
        elif column in ("chunk_start", "chunk_end"):
            series = table[column] if present else pd.Series([None] * rows, dtype="object")
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                series = series.dt.tz_convert("UTC")  # to_datetime would walk the values one by one
            else:
                series = pd.to_datetime(series, utc=True)
            columns[column] = series.array
        elif column == "alert":
            columns[column] = (
                table[column].to_numpy(dtype="object", na_value=False).astype(bool) if present else np.zeros(rows, bool)
            )
        else:  # chunk_index, rows, labelled_rows
            series = table[column] if present else pd.Series([None] * rows, dtype="object")
            columns[column] = series.astype("int64").to_numpy()
    return pd.DataFrame(columns)


def to_parquet(table: pd.DataFrame) -> bytes:
    """Parquet bytes of a results table (timestamps as UTC)."""
    buffer = io.BytesIO()
    conform(table).to_parquet(buffer, index=False)
    return buffer.getvalue()


def from_parquet(body: bytes) -> pd.DataFrame:
    """A stored results table back as pandas (the analysis step's own reads)."""
    import pandas as pd

    return conform(pd.read_parquet(io.BytesIO(body)))
