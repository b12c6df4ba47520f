"""`modelwatch import-baseline`: what a Model Monitor model-quality constraints.json becomes, what it cannot, why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from modelwatch.config import load_model_config
from modelwatch_cli.main import cli
from tests.helpers import EVENTS

BASELINES = EVENTS / "baselines" / "model_quality"
MODEL = {
    "name": "price",
    "endpoint": "price-ep",
    "problem_type": "regression",
    "features": [{"name": "x"}],
    "output": {"format": "csv", "columns": ["y_pred"]},
    "estimation": {"model_monitor": {"metrics": True}},
}


def test_every_sdk_regression_constraint_maps_and_the_baseline_is_shown() -> None:
    # Given the SDK's regression constraints.json and its statistics.json ("NaN" deviations)
    constraints = BASELINES / "regression_constraints_sdk.json"
    statistics = BASELINES / "regression_statistics_sdk.json"

    # When imported (the problem type read from the file's section)
    result = CliRunner().invoke(cli, ["import-baseline", str(constraints), "--statistics", str(statistics), "--json"])

    # Then every metric maps, mae/mse/rmse as nannyml's estimated and realized metrics with an upper threshold,
    # r2 realized only, each with its baseline value and no deviation; exit 0
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_metric = {r["metric"]: r for r in report["constraints"]}
    assert report["problem_type"] == "regression"
    assert {m: r["mapping"] for m, r in by_metric.items()} == {
        "mae": "nannyml",
        "mse": "nannyml",
        "rmse": "nannyml",
        "r2": "realized_only",
    }
    assert by_metric["mae"]["detail"] == "estimated and realized (constant upper threshold)"
    assert by_metric["r2"]["detail"] == "realized only (nannyml cannot estimate r2)"
    assert by_metric["r2"]["baseline_value"] == -3.208758170289026
    assert by_metric["r2"]["baseline_standard_deviation"] is None


def test_what_cannot_be_monitored_is_listed_with_its_reason_and_exit_3() -> None:
    # Given a multiclass constraints file with a threshold on the confusion matrix
    result = CliRunner().invoke(cli, ["import-baseline", str(BASELINES / "multiclass_constraints.json")])

    # Then the report names each metric's fate and the run exits 3
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("(multiclass_classification_constraints): 5 constraint(s), 4 mapped")
    assert any("accuracy" in line and "estimated and realized (constant lower threshold)" in line for line in lines)
    assert any(
        "weighted_precision" in line and "realized only (nannyml cannot estimate weighted_precision)" in line
        for line in lines
    )
    assert any(
        "confusion_matrix" in line and "not mapped: confusion_matrix is not a single value" in line for line in lines
    )
    assert lines[-1] == "1 constraint(s) cannot be monitored: remove them from the file to use it."


def test_with_the_model_the_config_is_written_to_read_the_file(tmp_path: Path) -> None:
    # Given a regression model config and the constraints
    model = tmp_path / "model.yaml"
    model.write_text(yaml.safe_dump(MODEL))
    constraints = tmp_path / "constraints.json"
    shutil.copy(BASELINES / "regression_constraints.json", constraints)
    written = tmp_path / "model-with-constraints.yaml"

    # When imported for the model with --write-config
    result = CliRunner().invoke(
        cli, ["import-baseline", str(constraints), "--model", str(model), "--write-config", str(written)]
    )

    # Then the written config names the file, and loading it gives the file's thresholds (metrics option kept)
    assert result.exit_code == 0, result.output
    config = load_model_config(written)
    assert config.estimation.constraints == str(constraints)
    assert config.metrics == ["mae", "mse", "rmse"] and config.realized_only_metrics == ["r2"]
    assert config.estimation.model_monitor.metrics is True

    # And a file of another problem type than the model's is one clear error line (exit 1 through main)
    wrong = CliRunner().invoke(
        cli, ["import-baseline", str(BASELINES / "binary_constraints.json"), "--model", str(model)]
    )
    assert wrong.exit_code != 0 and "regression_constraints: missing" in str(wrong.exception)
