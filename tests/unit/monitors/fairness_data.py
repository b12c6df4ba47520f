"""A small binary credit model for the bias and attribution monitors: reference data and decoded lake rows, hourly
chunks, a categorical (clinic) and a numeric (age) facet; `new_version` hours come from a model that depends on
tenure instead of income."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from modelwatch.config.model import ModelConfig, load_model_config_text
from modelwatch.signing import process_signer

START = datetime(2026, 3, 2, tzinfo=UTC)
LATE = datetime(2026, 4, 1, tzinfo=UTC)
SIGNER = process_signer()  # signs and checks the cached baselines (this process's own key)
CONFIG = """
name: credit
endpoint: credit-endpoint
problem_type: binary_classification
features:
  - {name: age, type: numeric}
  - {name: income, type: numeric}
  - {name: tenure, type: numeric}
  - {name: clinic, type: categorical}
output: {format: csv, columns: [y_pred_proba, y_pred]}
target: repaid
timestamp: timestamp
chunking: {period: 1h}
estimation: {min_rows_per_chunk: 50}
"""
BIAS = {
    "label_values_or_threshold": [1],
    "facets": [
        {"name_or_index": "clinic", "value_or_threshold": ["east"]},
        {"name_or_index": "age", "value_or_threshold": [40]},
    ],
    "group_variable": "clinic",
}


def credit_config(**sections: object) -> ModelConfig:
    config = load_model_config_text(CONFIG, "credit.yaml")
    return config.model_validate({**config.model_dump(mode="json"), **sections})


def _rows(rows: int, seed: int, new_version: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.uniform(18, 80, size=rows).round(0),
            "income": rng.normal(50, 15, size=rows),
            "tenure": rng.uniform(0, 20, size=rows),
            "clinic": rng.choice(["east", "west", "north"], size=rows, p=[0.3, 0.5, 0.2]),
        }
    )
    east = (frame["clinic"] == "east").to_numpy()
    if new_version:  # the new model looks at tenure, no longer at income
        logit = 0.02 * (frame["age"] - 45) + 0.35 * (frame["tenure"] - 10) - 0.6 * east
    else:
        logit = 0.02 * (frame["age"] - 45) + 0.12 * (frame["income"] - 50) - 0.6 * east
    proba = 1 / (1 + np.exp(-logit.to_numpy()))
    frame["y_pred_proba"] = proba
    frame["y_pred"] = (proba > 0.5).astype("int64")
    frame["repaid"] = (rng.uniform(size=rows) < proba).astype("int64")
    return frame


def reference(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    frame = _rows(rows, seed)
    frame["timestamp"] = pd.Timestamp("2026-03-01") + pd.to_timedelta(np.arange(rows) * (86_400 / rows), unit="s")
    return frame


def captures(hours: int, rows_per_hour: int = 400, seed: int = 1, new_version_from: int | None = None) -> pd.DataFrame:
    """Decoded lake rows of `hours` hours from START (hours from `new_version_from` on by the new model version),
    with the label in `repaid` (dropped by `lake_rows`)."""
    parts = []
    for hour in range(hours):
        part = _rows(rows_per_hour, seed + hour, new_version=new_version_from is not None and hour >= new_version_from)
        step = pd.Timedelta(hours=1) / rows_per_hour
        part["inference_time"] = pd.Timestamp(START) + pd.Timedelta(hours=hour) + step * np.arange(rows_per_hour)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    ids = pd.Series(np.arange(len(frame))).astype(str)
    frame["event_id"] = "evt-" + ids
    frame["inference_id"] = "inf-" + ids
    frame["row_in_request"] = np.zeros(len(frame), dtype="int64")
    return frame


def lake_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["repaid"])


def label_rows(frame: pd.DataFrame, share: float = 1.0) -> pd.DataFrame:
    """Ground-truth rows of the first `share` of each hour's rows."""
    keep = frame.groupby(frame["inference_time"].dt.floor("h")).cumcount() < (
        frame.groupby(frame["inference_time"].dt.floor("h"))["event_id"].transform("size") * share
    )
    labelled = frame.loc[keep]
    return pd.DataFrame(
        {
            "inference_id": labelled["inference_id"],
            "row_in_request": labelled["row_in_request"],
            "y_true": labelled["repaid"].astype("float64"),
            "label_time": pd.Timestamp("2026-03-20", tz="UTC"),
            "source_key": "gt/labels.jsonl",
            "source_line": np.arange(len(labelled), dtype="int64"),
        }
    )
