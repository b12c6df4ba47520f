"""nannyml's synthetic datasets reshaped as decoded lake rows and reference data, with hourly chunks of 2,500 rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from modelwatch.config.model import ModelConfig, parse_model_config

ROWS = 20_000
ROWS_PER_HOUR = 2_500
REFERENCE_START = pd.Timestamp("2026-03-01 00:00")
ANALYSIS_START = pd.Timestamp("2026-03-02 00:00")
# Long after every chunk of the test data: every chunk is complete.
LATE = datetime(2026, 4, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """One dataset: the model config, reference and lake-shaped captures/labels, and nannyml-shaped originals."""

    name: str
    config: ModelConfig
    reference: pd.DataFrame  # configured names plus target and timestamp columns
    captures: pd.DataFrame  # decoded lake rows
    labels: pd.DataFrame  # decoded ground-truth rows
    direct_analysis: pd.DataFrame  # the analysis rows as nannyml's dataset has them (naive timestamps)
    direct_labels: pd.DataFrame  # id, target
    target: str
    nannyml: dict[str, Any]  # keyword arguments for the direct nannyml calls


def _rebase(frame: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    frame = frame.reset_index(drop=True).copy()
    step = pd.Timedelta(hours=1) / ROWS_PER_HOUR
    frame["timestamp"] = start + step * np.arange(len(frame))
    return frame


def _lake_rows(config: ModelConfig, analysis: pd.DataFrame) -> pd.DataFrame:
    rows = pd.DataFrame()
    for feature in config.features:
        values = analysis[feature.name]
        if feature.type == "numeric":
            rows[feature.name] = values.astype("float64")
        else:
            rows[feature.name] = values.map(lambda v: None if pd.isna(v) else str(v)).astype("object")
    for column in config.prediction_columns:
        rows[column] = analysis[column]
    rows["event_id"] = "evt-" + analysis["id"].astype(str)
    rows["inference_id"] = "inf-" + analysis["id"].astype(str)
    rows["row_in_request"] = np.zeros(len(analysis), dtype="int64")
    rows["inference_time"] = analysis["timestamp"].dt.tz_localize("UTC")
    return rows


def _label_rows(labels: pd.DataFrame, target: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "inference_id": "inf-" + labels["id"].astype(str),
            "row_in_request": np.zeros(len(labels), dtype="int64"),
            "y_true": labels[target],
            "label_time": pd.Timestamp("2026-03-20", tz="UTC"),
            "source_key": "gt/labels.csv",
            "source_line": np.arange(len(labels), dtype="int64"),
        }
    )


def _features(numeric: list[str], categorical: list[str]) -> list[dict[str, str]]:
    return [{"name": n, "type": "numeric"} for n in numeric] + [{"name": n, "type": "categorical"} for n in categorical]


def _case(
    name: str,
    raw: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    config: dict[str, Any],
    target: str,
    analysis_slice: slice,
    nannyml: dict[str, Any],
) -> Case:
    reference, analysis, labels = raw
    cfg = parse_model_config(config)
    reference = _rebase(reference.iloc[:ROWS], REFERENCE_START)
    analysis = _rebase(analysis.iloc[analysis_slice], ANALYSIS_START)
    labels = labels[labels["id"].isin(analysis["id"])]
    return Case(
        name=name,
        config=cfg,
        reference=reference,
        captures=_lake_rows(cfg, analysis),
        labels=_label_rows(labels, target),
        direct_analysis=analysis,
        direct_labels=labels,
        target=target,
        nannyml=nannyml,
    )


def binary_case_data() -> Case:
    import nannyml as nml

    config = {
        "name": "car-loan",
        "endpoint": "car-loan-endpoint",
        "problem_type": "binary_classification",
        "features": _features(
            ["car_value", "debt_to_income_ratio", "loan_length", "driver_tenure"],
            ["salary_range", "repaid_loan_on_prev_car", "size_of_downpayment"],
        ),
        "output": {"columns": ["y_pred_proba", "y_pred"]},
        "target": "repaid",
        "estimation": {
            "metrics": ["roc_auc", "f1", "precision", "recall", "specificity", "accuracy", "average_precision"],
            "top_features": 3,
        },
    }
    return _case(
        "binary",
        nml.load_synthetic_car_loan_dataset(),
        config,
        "repaid",
        slice(15_000, 35_000),
        {"problem_type": "classification_binary", "y_pred_proba": "y_pred_proba"},
    )


def multiclass_case_data() -> Case:
    import nannyml as nml

    classes = ["prepaid_card", "highstreet_card", "upmarket_card"]
    config = {
        "name": "credit-card",
        "endpoint": "credit-card-endpoint",
        "problem_type": "multiclass_classification",
        "classes": classes,
        "features": _features(
            ["app_behavioral_score", "requested_credit_limit", "credit_bureau_score", "stated_income"],
            ["acq_channel", "app_channel", "is_customer"],
        ),
        "output": {"columns": [*(f"y_pred_proba_{c}" for c in classes), "y_pred"]},
        "target": "y_true",
        "estimation": {"metrics": ["roc_auc", "f1", "precision", "recall", "specificity", "accuracy"]},
    }
    return _case(
        "multiclass",
        nml.load_synthetic_multiclass_classification_dataset(),
        config,
        "y_true",
        slice(20_000, 40_000),
        {"problem_type": "classification_multiclass", "y_pred_proba": {c: f"y_pred_proba_{c}" for c in classes}},
    )


def regression_case_data() -> Case:
    import nannyml as nml

    config = {
        "name": "car-price",
        "endpoint": "car-price-endpoint",
        "problem_type": "regression",
        "features": _features(
            ["car_age", "km_driven", "price_new", "accident_count", "door_count"], ["fuel", "transmission"]
        ),
        "output": {"columns": ["y_pred"]},
        "target": "y_true",
        "estimation": {"metrics": ["mae", "mape", "mse", "msle", "rmse", "rmsle"]},
    }
    return _case(
        "regression",
        nml.load_synthetic_car_price_dataset(),
        config,
        "y_true",
        slice(20_000, 40_000),
        {"problem_type": "regression"},
    )
