"""Chunk-level results in a tidy long table: one row per (chunk, metric, kind) with nannyml's to_df() columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED

if TYPE_CHECKING:
    import pandas as pd

VALUE_FIELDS = (
    "value",
    "sampling_error",
    "upper_confidence_boundary",
    "lower_confidence_boundary",
    "upper_threshold",
    "lower_threshold",
)
RESULT_COLUMNS = [
    "model",
    "run_id",
    "chunk_key",
    "chunk_index",
    "chunk_start",
    "chunk_end",
    "period",
    "metric",
    "kind",
    *VALUE_FIELDS,
    "alert",
    "estimation_error",
    "label_coverage",
    "rows",
    "labelled_rows",
]


def _analysis(result: Any) -> pd.DataFrame:
    frame = result.to_df()
    if (frame[("chunk", "period")] != "analysis").any():  # results from `reuse.combine` hold only analysis rows
        frame = result.filter(period="analysis").to_df()
    return frame.reset_index(drop=True)


def _long_rows(frame: pd.DataFrame, metrics: list[str], kind: str) -> list[pd.DataFrame]:
    """One long block per metric: a row per chunk with the VALUE_FIELDS (NaN where absent) and the alert flag."""
    import numpy as np
    import pandas as pd

    blocks = []
    for metric in metrics:
        block = pd.DataFrame(
            {
                "chunk_key": frame[("chunk", "key")].astype(str).to_numpy(),
                "period": frame[("chunk", "period")].astype(str).to_numpy(),
                "metric": metric,
                "kind": kind,
            }
        )
        for field in VALUE_FIELDS:
            column = (metric, field)
            block[field] = frame[column].astype("float64").to_numpy() if column in frame.columns else np.nan
        if (metric, "alert") in frame.columns:  # None and NaN (no value) are no alert
            alerts = frame[(metric, "alert")].tolist()
            block["alert"] = np.array([a is not None and a == a and bool(a) for a in alerts], dtype=bool)
        else:
            block["alert"] = False
        blocks.append(block)
    return blocks


def tidy_results(
    model: str, run_id: str, metrics: list[str], estimated: Any, realized: Any | None, chunks: pd.DataFrame
) -> pd.DataFrame:
    """Flatten nannyml results (analysis period) into the stored long table.

    `chunks` has one row per analysed chunk: chunk_key, chunk_index, chunk_start, chunk_end (exclusive; UTC), rows,
    labelled_rows, label_coverage. Realized rows exist only for chunks with labels; `estimation_error` is
    estimated minus realized on both rows of a chunk and metric (NaN without labels).
    """
    import pandas as pd

    blocks = _long_rows(_analysis(estimated), metrics, KIND_ESTIMATED)
    if realized is not None:
        blocks += _long_rows(_analysis(realized), metrics, KIND_REALIZED)
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RESULT_COLUMNS})
    table = pd.concat(blocks, ignore_index=True).merge(chunks, on="chunk_key", how="inner", validate="many_to_one")
    table = table.loc[(table["kind"] != KIND_REALIZED) | (table["labelled_rows"] > 0)]
    keys = ["chunk_key", "metric"]
    estimated_values = table.loc[table["kind"] == KIND_ESTIMATED, [*keys, "value"]].rename(columns={"value": "est"})
    realized_values = table.loc[table["kind"] == KIND_REALIZED, [*keys, "value"]].rename(columns={"value": "real"})
    error = estimated_values.merge(realized_values, on=keys, how="inner")
    error["estimation_error"] = error["est"] - error["real"]
    table = table.merge(error[[*keys, "estimation_error"]], on=keys, how="left")
    table["model"] = model
    table["run_id"] = run_id
    table = table.sort_values(["chunk_start", "metric", "kind"], kind="stable").reset_index(drop=True)
    return table[RESULT_COLUMNS]


def results_to_parquet(table: pd.DataFrame) -> bytes:
    """Parquet bytes of the results table (timestamps as UTC)."""
    import io

    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()
