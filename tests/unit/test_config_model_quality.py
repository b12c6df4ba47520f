"""`estimation.constraints`: a Model Monitor model-quality constraints.json read into the model config, its
metrics mapped (estimated and realized, or realized only), anything it cannot monitor refused by name."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from modelwatch.config import load_model_config, load_model_config_text
from modelwatch.config.model import Threshold
from modelwatch.errors import ConfigError
from modelwatch.workflow.lifecycle import resolve_model_monitor_constraints
from tests.helpers import EVENTS

BASELINES = EVENTS / "baselines" / "model_quality"
MODEL = """
name: churn
endpoint: churn-ep
problem_type: {problem_type}
features: [{{name: x}}]
output: {{format: csv, columns: [{columns}]}}
{extra}
estimation:
  constraints: {constraints}
"""


def _write(tmp_path: Path, problem_type: str, constraints: str, extra: str = "") -> Path:
    columns = {"regression": "y_pred", "multiclass_classification": "y_pred_proba_0, y_pred_proba_1"}
    path = tmp_path / "model.yaml"
    path.write_text(
        MODEL.format(
            problem_type=problem_type,
            columns=columns.get(problem_type, "y_pred_proba"),
            constraints=constraints,
            extra=extra if problem_type != "multiclass_classification" else "classes: ['0', '1']",
        )
    )
    return path


def test_constraints_file_next_to_the_config_becomes_thresholds(tmp_path: Path) -> None:
    # Given a binary model naming Model Monitor's constraints.json by a relative path
    shutil.copy(BASELINES / "binary_constraints.json", tmp_path / "constraints.json")
    path = _write(tmp_path, "binary_classification", "constraints.json")

    # When the config is loaded
    config = load_model_config(path)

    # Then the file is read in, the metrics nannyml can estimate are monitored with constant thresholds on the
    # operator's side, and the others are checked on realized values
    assert config.estimation.constraints == str(tmp_path / "constraints.json")
    assert sorted(config.estimation.model_monitor.constraints) == [
        "auc",
        "f2",
        "false_negative_rate",
        "false_positive_rate",
        "true_negative_rate",
    ]
    assert config.metrics == ["roc_auc", "specificity"]
    assert config.thresholds == {
        "roc_auc": Threshold(type="constant", lower=0.963),
        "specificity": Threshold(type="constant", lower=0.93),
    }
    assert config.realized_only_metrics == ["f2", "false_positive_rate", "false_negative_rate"]
    assert config.alert_metrics == ["roc_auc", "specificity", "f2", "false_positive_rate", "false_negative_rate"]
    # and the stored config (YAML) holds the constraints, so runs need no file
    again = load_model_config_text(config.to_yaml(), "stored.yaml")
    assert again == config


def test_regression_constraints_of_the_sdk_map_mae_to_an_upper_and_r2_to_realized_values(tmp_path: Path) -> None:
    # Given the SDK's model-quality constraints.json (mae, mse, rmse GreaterThanThreshold; r2 LessThanThreshold)
    path = _write(tmp_path, "regression", str(BASELINES / "regression_constraints_sdk.json"))

    # When loaded, then mae, mse and rmse get upper thresholds and r2 (which DLE cannot estimate) is realized only
    config = load_model_config(path)
    assert config.metrics == ["mae", "mse", "rmse"]
    assert config.thresholds["mae"] == Threshold(type="constant", upper=0.5040653554420981)
    assert config.realized_only_metrics == ["r2"]


@pytest.mark.parametrize(
    ("problem_type", "document", "message"),
    [
        (
            "multiclass_classification",
            None,  # the multiclass file: a threshold on confusion_matrix
            r"multiclass_classification_constraints\.confusion_matrix: cannot be monitored: confusion_matrix is not a "
            r"single value",
        ),
        (
            "binary_classification",
            {"regression_constraints": {"mae": {"threshold": 1, "comparison_operator": "GreaterThanThreshold"}}},
            r"binary_classification_constraints: missing \(the model is binary_classification; it has "
            r"\['regression_constraints'\]\)",
        ),
        (
            "binary_classification",
            {"binary_classification_constraints": {"auc": {"threshold": 0.8, "comparison_operator": "LessThan"}}},
            r"binary_classification_constraints\.auc\.comparison_operator: 'LessThan' is not one of",
        ),
        (
            "binary_classification",
            {"binary_classification_constraints": {"auc": {"threshold": "0.8", "comparison_operator": "LessThan"}}},
            r"binary_classification_constraints\.auc\.threshold: expected a finite number",
        ),
        (
            "binary_classification",
            {
                "binary_classification_constraints": {
                    "mae": {"threshold": 1, "comparison_operator": "LessThanThreshold"}
                }
            },
            r"\.mae: cannot be monitored: mae is a metric of regression, not of binary_classification",
        ),
        (
            "binary_classification",
            {
                "binary_classification_constraints": {
                    "accuracy_best_constant_classifier": {"threshold": 1, "comparison_operator": "LessThanThreshold"}
                }
            },
            r"accuracy_best_constant_classifier: cannot be monitored: a best-constant-classifier value describes",
        ),
    ],
)
def test_constraints_modelwatch_cannot_use_are_refused_naming_file_and_metric(
    problem_type: str, document: dict[str, Any] | None, message: str, tmp_path: Path
) -> None:
    # Given a constraints file with an entry modelwatch cannot monitor
    file = tmp_path / "constraints.json"
    if document is None:
        shutil.copy(BASELINES / "multiclass_constraints.json", file)
    else:
        file.write_text(json.dumps(document))
    path = _write(tmp_path, problem_type, "constraints.json")

    # When the config is loaded, then the error names the file, the section and the metric
    with pytest.raises(ConfigError, match=message) as raised:
        load_model_config(path)
    assert str(file) in str(raised.value)


def test_a_metric_nannyml_cannot_estimate_is_named_when_asked_for_estimation() -> None:
    # Given a regression model asking to estimate r2 (DLE cannot)
    text = MODEL.format(problem_type="regression", columns="y_pred", extra="", constraints="null")
    text = text.replace("estimation:\n", "estimation:\n  metrics: [mae, r2]\n")

    # When loaded, then the error says so and where a Model Monitor r2 constraint goes instead
    with pytest.raises(ConfigError, match=r"nannyml cannot estimate \['r2'\].*estimation\.constraints"):
        load_model_config_text(text, "model.yaml")


def test_two_constraints_on_one_nannyml_metric_are_refused(tmp_path: Path) -> None:
    # Given recall and true_positive_rate (both nannyml's recall) with thresholds
    file = tmp_path / "constraints.json"
    section = {
        "recall": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"},
        "true_positive_rate": {"threshold": 0.7, "comparison_operator": "LessThanThreshold"},
    }
    file.write_text(json.dumps({"binary_classification_constraints": section}))

    # When loaded, then the error names both
    with pytest.raises(ConfigError, match=r"recall and true_positive_rate are both nannyml's recall"):
        load_model_config(_write(tmp_path, "binary_classification", "constraints.json"))


class _S3:
    """get_object of one object, as boto3's client answers it."""

    def __init__(self, bucket: str, key: str, body: bytes) -> None:
        self.objects = {(bucket, key): body}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def test_an_s3_constraints_file_is_read_when_the_model_is_registered(tmp_path: Path) -> None:
    # Given a config naming constraints on S3 (not read when the config is loaded)
    uri = "s3://baselines/churn/constraints.json"
    config = load_model_config(_write(tmp_path, "binary_classification", uri))
    assert config.estimation.model_monitor.constraints == {} and config.metrics == ["roc_auc", "f1"]

    # When registration resolves it with the stack's S3 client
    s3 = _S3("baselines", "churn/constraints.json", (BASELINES / "binary_constraints.json").read_bytes())
    resolved = resolve_model_monitor_constraints(config, s3)

    # Then the stored config holds the file's constraints; without a client the error names the file
    assert resolved.metrics == ["roc_auc", "specificity"] and resolved.estimation.constraints == uri
    with pytest.raises(ConfigError, match=r"s3://baselines/churn/constraints.json: an s3:// constraints file"):
        resolve_model_monitor_constraints(config, None)
