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


FAIRNESS = GOOD.replace(
    "  - {name: salary_range, type: categorical}\n",
    "  - {name: salary_range, type: categorical}\n  - {name: age, type: numeric}\n  - {name: income, type: numeric}\n",
)


def _readme_fairness_sections() -> str:
    """The YAML block of the README's 'Bias and feature attribution' section."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Bias and feature attribution", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_readme_s_bias_and_attribution_sections_load() -> None:
    # Given the README's example of extra columns, bias and attribution, on a model with an age feature
    config = load_model_config_text(FAIRNESS + _readme_fairness_sections(), "readme.yaml")
    # Then it is a valid config in Clarify's terms
    assert config.bias is not None and config.attribution is not None
    assert [config.column_of(f.name_or_index) for f in config.bias.facets] == ["clinic", "age"]
    assert config.bias.positive_class(config.classes) == 1 and config.bias.metrics[:2] == ["CDDL", "CI"]
    assert config.attribution.ndcg_threshold == 0.9


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("bias: {facets: [{name_or_index: zip, value_or_threshold: [1]}]}", "bias.facets.0.name_or_index: 'zip'"),
        ("bias: {facets: [{name_or_index: 9, value_or_threshold: [1]}]}", "index 9 is not a feature index"),
        ("bias: {facets: [{name_or_index: age, value_or_threshold: [40, 50]}]}", "takes one threshold"),
        ("bias: {facets: [{name_or_index: age, value_or_threshold: [old]}]}", "threshold of 'age' is not a number"),
        ("bias: {facets: [{name_or_index: age, value_or_threshold: [40]}], methods: [XYZ]}", "unknown bias metrics"),
        (
            "bias: {facets: [{name_or_index: age, value_or_threshold: [40]}], label_values_or_threshold: [0, 1]}",
            "names both",
        ),
        ("bias: {facets: [{name_or_index: age, value_or_threshold: [40]}], group_variable: zip}", "group_variable"),
        ("attribution: {ndcg_threshold: 1.5}", "attribution.ndcg_threshold"),
        ("extra_columns: [{name: age}]", "already features"),
    ],
)
def test_bad_bias_and_attribution_sections_name_the_field(section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"model\.yaml: invalid model config") as error:
        load_model_config_text(FAIRNESS + section + "\n", "model.yaml")
    assert message in str(error.value)
