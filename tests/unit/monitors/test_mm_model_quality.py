"""Model Monitor's model-quality statistics: the DG's published examples reproduced from their confusion matrices,
its "NaN" standard deviations, statistics.json read back, violations by its rule."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from modelwatch.config.model import parse_model_config
from modelwatch.errors import ConfigError
from modelwatch.monitors.mm_model_quality import (
    non_scalar_members,
    parse_statistics,
    scalar_values,
    standard_deviations,
    statistics_document,
    violations,
)
from tests.helpers import EVENTS

BASE = {"name": "m", "endpoint": "e", "features": [{"name": "a"}]}
BINARY = parse_model_config(
    {**BASE, "problem_type": "binary_classification", "output": {"format": "csv", "columns": ["y_pred_proba"]}}
)
MULTICLASS = parse_model_config(
    {
        **BASE,
        "problem_type": "multiclass_classification",
        "classes": ["0", "1"],
        "output": {"format": "csv", "columns": ["y_pred_proba_0", "y_pred_proba_1"]},
    }
)


def _from_matrix(matrix: dict[str, dict[str, int]]) -> pd.DataFrame:
    """Labelled rows with exactly the confusion matrix `{actual: {predicted: count}}`."""
    pairs = [(a, p) for a, row in matrix.items() for p, n in row.items() for _ in range(n)]
    return pd.DataFrame({"y_true": [a for a, _ in pairs], "y_pred": [p for _, p in pairs]})


def test_binary_example_of_the_developer_guide_is_reproduced() -> None:
    # Given the rows of the DG's binary example (`model-monitor-model-quality-metrics`): its confusion matrix
    matrix = {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    rows = _from_matrix(matrix).astype("int64")
    rows["y_pred_proba"] = [0.1, 0.6, 0.7, 0.9]

    # When Model Monitor's scalar metrics are computed
    values = scalar_values(BINARY, rows)

    # Then they are the DG's values (its auc and curves come from other rows than its matrix: not compared)
    expected = {
        "recall": 1.0,
        "precision": 0.3333333333333333,
        "accuracy": 0.5,
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": 0.25,
        "accuracy_best_constant_classifier": 0.25,
        "true_positive_rate": 1.0,
        "true_negative_rate": 0.33333333333333337,
        "false_positive_rate": 0.6666666666666666,
        "false_negative_rate": 0.0,
        "f0_5": 0.3846153846153846,
        "f1": 0.5,
        "f2": 0.7142857142857143,
        "f0_5_best_constant_classifier": 0.29411764705882354,
        "f1_best_constant_classifier": 0.4,
        "f2_best_constant_classifier": 0.625,
    }
    assert {k: values[k] for k in expected} == pytest.approx(expected, abs=1e-15)
    # and the matrix reads back as {actual: {predicted: count}}
    assert non_scalar_members(BINARY, rows)["confusion_matrix"] == matrix


def test_multiclass_example_of_the_developer_guide_is_reproduced() -> None:
    # Given the rows of the DG's multiclass example: its confusion matrix
    rows = _from_matrix({"0": {"0": 1180, "1": 510}, "1": {"0": 268, "1": 138}})

    # When Model Monitor's scalar metrics are computed, then they are the DG's values
    expected = {
        "accuracy": 0.6288167938931297,
        "weighted_recall": 0.6288167938931297,
        "weighted_precision": 0.6983172269629505,
        "weighted_f0_5": 0.6803947317178771,
        "weighted_f1": 0.6571162346664904,
        "weighted_f2": 0.6384024354394601,
        "accuracy_best_constant_classifier": 0.19370229007633588,
        "weighted_recall_best_constant_classifier": 0.19370229007633588,
        "weighted_precision_best_constant_classifier": 0.03752057718081697,
        "weighted_f0_5_best_constant_classifier": 0.04473443104152011,
        "weighted_f1_best_constant_classifier": 0.06286421244683643,
        "weighted_f2_best_constant_classifier": 0.10570313141262414,
    }
    assert scalar_values(MULTICLASS, rows) == pytest.approx(expected, abs=1e-15)


def test_standard_deviation_needs_200_rows_and_is_written_as_nan_text() -> None:
    # Given 199 and 200 labelled rows
    rows = _from_matrix({"0": {"0": 80, "1": 20}, "1": {"0": 30, "1": 70}}).astype("int64")
    rows["y_pred_proba"] = [0.2 + 0.003 * i for i in range(200)]

    # When the standard deviations are computed twice with the chunk's seed
    few = standard_deviations(BINARY, rows.iloc[:199], seed=7)
    enough = standard_deviations(BINARY, rows, seed=7)

    # Then under 200 rows they are NaN, written "NaN" as Model Monitor does; from 200 rows numbers, the same each time
    assert all(math.isnan(v) for v in few.values())
    assert all(math.isfinite(v) and v >= 0 for v in enough.values()) and enough == standard_deviations(BINARY, rows, 7)
    values = scalar_values(BINARY, rows)
    document = statistics_document(BINARY, 199, {k: (v, few[k]) for k, v in values.items()}, {})
    text = json.dumps(document)
    assert '"standard_deviation": "NaN"' in text and "NaN," not in text.replace('"NaN"', "")


def test_statistics_json_with_nan_text_reads_back() -> None:
    # Given the SDK's model-quality statistics.json (standard_deviation "NaN")
    body = (EVENTS / "baselines" / "model_quality" / "regression_statistics_sdk.json").read_bytes()

    # When it is read, then each metric has its value and a NaN standard deviation
    found = parse_statistics(body, "statistics.json", "regression")
    assert found["mae"][0] == 0.5040653554420981 and found["r2"][0] == -3.208758170289026
    assert all(math.isnan(std) for _, std in found.values()) and sorted(found) == ["mae", "mse", "r2", "rmse"]

    # And a file of another problem type, or with a text value, is refused naming the file and the field
    with pytest.raises(ConfigError, match=r"statistics.json: invalid Model Monitor statistics: binary_classification"):
        parse_statistics(body, "statistics.json", "binary_classification")
    broken = json.loads(body)
    broken["regression_metrics"]["mae"]["value"] = "high"
    with pytest.raises(ConfigError, match=r"regression_metrics\.mae\.value"):
        parse_statistics(json.dumps(broken), "statistics.json", "regression")


def test_violations_follow_the_operator_strictly() -> None:
    # Given constraints with both operators
    config = parse_model_config(
        {
            **BASE,
            "problem_type": "regression",
            "output": {"format": "csv", "columns": ["y_pred"]},
            "estimation": {
                "model_monitor": {
                    "constraints": {
                        "mae": {"threshold": 0.5, "comparison_operator": "GreaterThanThreshold"},
                        "r2": {"threshold": 0.2, "comparison_operator": "LessThanThreshold"},
                    }
                }
            },
        }
    )

    # When values equal, cross or miss the thresholds, then only the crossings are violations, in the DG's words
    assert violations(config, {"mae": 0.5, "r2": 0.2}) == []
    assert violations(config, {"mae": 0.75, "r2": 0.1}) == [
        {
            "constraint_check_type": "GreaterThanThreshold",
            "description": "Metric mae with 0.75 was GreaterThanThreshold 0.5",
            "metric_name": "mae",
        },
        {
            "constraint_check_type": "LessThanThreshold",
            "description": "Metric r2 with 0.1 was LessThanThreshold 0.2",
            "metric_name": "r2",
        },
    ]
    assert violations(config, {"mae": math.nan, "r2": math.nan}) == []
