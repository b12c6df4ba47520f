"""Model config validation: good configs load, bad ones name the field and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.config import load_model_config, load_model_config_text
from modelwatch.errors import ConfigError

GOOD = """
name: car-loan
endpoint: car-loan-ep
problem_type: binary_classification
features:
  - {name: car_value, type: numeric}
  - {name: salary_range, type: categorical}
output: {format: csv, columns: [y_pred_proba]}
target: repaid
reference: ref.parquet
chunking: {period: 1h}
"""


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    # Given a config file with a relative reference
    path = tmp_path / "model.yaml"
    path.write_text(GOOD)
    # When it is loaded
    config = load_model_config(path)
    # Then defaults apply and the reference is resolved next to the config
    assert config.metrics == ["roc_auc", "f1"]
    assert config.threshold == 0.5
    assert config.estimation.min_rows_per_chunk == 100
    assert config.chunking.period_delta is not None and config.chunking.period_delta.total_seconds() == 3600
    assert config.reference == str(tmp_path / "ref.parquet")
    assert config.proba_columns == ["y_pred_proba"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ("problem_type: binary_classification", "problem_type"),
        ("chunking: {period: 1h}", "chunking"),
        ("output: {format: csv, columns: [y_pred_proba]}", "output"),
    ],
)
def test_bad_field_is_named(patch: str, field: str) -> None:
    bad = {
        "problem_type": "problem_type: classification",
        "chunking": "chunking: {period: 1h, size: 10}",
        "output": "output: {format: json}",
    }[field]
    with pytest.raises(ConfigError, match=rf"model.yaml: invalid model config: .*{field}"):
        load_model_config_text(GOOD.replace(patch, bad), "model.yaml")


def test_multiclass_needs_classes_and_metric_must_fit_problem() -> None:
    text = GOOD.replace("binary_classification", "multiclass_classification")
    with pytest.raises(ConfigError, match="classes"):
        load_model_config_text(text, "m.yaml")
    with pytest.raises(ConfigError, match=r"estimation\.metrics: \['mae'\]"):
        load_model_config_text(GOOD + "estimation: {metrics: [mae]}\n", "m.yaml")


def test_not_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_model_config_text("a: [", "x.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_model_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "a: [",  # unclosed flow sequence
        "name: m\n  endpoint: e\n",  # bad indentation
        "name: 'unterminated\n",
        "\tname: m\n",  # a tab
    ],
)
def test_invalid_yaml_is_one_line_naming_the_file_and_where(text: str) -> None:
    # When a config that is not YAML is loaded, then the error is one line with the file and the line
    with pytest.raises(ConfigError) as error:
        load_model_config_text(text, "configs/model.yaml")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("configs/model.yaml: not valid YAML: ") and " at line " in message


@pytest.mark.parametrize(
    ("threshold", "problem"),
    [
        ("{type: constant, lower: 0.9, upper: 0.1}", "lower (0.9) is above upper (0.1)"),
        ("{type: standard_deviation, lower: 0.1}", "lower/upper are for type constant"),
        ("{std_lower_multiplier: -1}", "std_lower_multiplier must not be negative"),
    ],
)
def test_inconsistent_thresholds_are_refused_at_validation_naming_the_metric(threshold: str, problem: str) -> None:
    # Given a threshold nannyml would accept and then fail on at fit time, runs later
    text = GOOD + f"estimation: {{thresholds: {{roc_auc: {threshold}}}}}\n"
    # When the config is validated, then it is refused in one line naming the file, the field and the problem
    with pytest.raises(ConfigError) as error:
        load_model_config_text(text, "model.yaml")
    message = str(error.value)
    assert "\n" not in message and message.startswith("model.yaml: invalid model config: ")
    assert "estimation.thresholds.roc_auc" in message and problem in message


def test_a_consistent_constant_threshold_loads() -> None:
    config = load_model_config_text(GOOD + "estimation: {thresholds: {roc_auc: {type: constant, lower: 0.6}}}\n")
    assert config.estimation.thresholds["roc_auc"].lower == 0.6
