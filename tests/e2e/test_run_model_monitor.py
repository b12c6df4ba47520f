"""`modelwatch run` with a Model Monitor model-quality constraints.json and its metrics asked for: the violations,
statistics.json files and bare-name CloudWatch metrics come out of the embedded stack (IAM enforced)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from modelwatch.config.model_quality import violates
from modelwatch_cli.main import main
from tests.e2e.breast_cancer import generate

pytestmark = pytest.mark.slow

CONSTRAINTS = {
    "version": 0.0,
    "binary_classification_constraints": {
        "auc": {"threshold": 0.995, "comparison_operator": "LessThanThreshold"},
        "false_positive_rate": {"threshold": 0.02, "comparison_operator": "GreaterThanThreshold"},
    },
}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_model_monitor_outputs_of_a_run(tmp_path: Path) -> None:
    # Given the breast-cancer model with Model Monitor constraints next to its config and its metrics asked for
    generated = generate(tmp_path / "input")
    (generated.config_path.parent / "constraints.json").write_text(json.dumps(CONSTRAINTS, indent=2))
    config = yaml.safe_load(generated.config_path.read_text())
    config["estimation"].update(constraints="constraints.json", model_monitor={"metrics": True})
    generated.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    output = tmp_path / "out"

    # When modelwatch run analyses the three labelled hours
    main(
        [
            "run",
            "--model", str(generated.config_path),
            "--captures", str(generated.captures),
            "--ground-truth", str(generated.ground_truth),
            "--output", str(output),
        ]
    )  # fmt: skip

    # Then model_quality_violations.jsonl lists exactly the stored realized rows in alert, by Model Monitor's names
    summary = json.loads((output / "summary.json").read_text())
    assert summary["execution_status"] == "SUCCEEDED" and summary["chunks_analysed"] == 3
    results = pd.concat(pd.read_parquet(p) for p in (output / "results").rglob("results.parquet"))
    realized = results.loc[(results["kind"] == "realized") & results["metric"].isin(["roc_auc", "false_positive_rate"])]
    assert len(realized) == 6
    names = {"roc_auc": "auc", "false_positive_rate": "false_positive_rate"}
    section = CONSTRAINTS["binary_classification_constraints"]
    for row in realized.itertuples():
        constraint = section[names[row.metric]]
        assert row.alert == violates(row.value, constraint["threshold"], constraint["comparison_operator"])
    expected = {
        (row.chunk_start.isoformat().replace("+00:00", "Z"), names[row.metric])
        for row in realized.itertuples()
        if row.alert
    }
    assert expected and len(expected) < len(realized), "the thresholds put some chunks in alert, not all"
    violations = _lines(output / "model_quality_violations.jsonl")
    assert {(v["chunk_start"], v["metric_name"]) for v in violations} == expected
    assert summary["model_quality_violations"] == len(violations)

    # And each chunk's statistics.json is in the output folder: under 200 labelled rows, "NaN" deviations
    files = sorted((output / "results").rglob("model_quality_statistics/**/*.json"))
    assert len(files) == 3
    document = json.loads(files[0].read_text())
    metrics = document["binary_classification_metrics"]
    assert document["dataset"]["item_count"] < 200
    assert {m["standard_deviation"] for m in metrics.values() if "standard_deviation" in m} == {"NaN"}

    # And CloudWatch got Model Monitor's bare metric names with Endpoint and MonitoringSchedule, in its namespace
    points = [line for line in _lines(output / "metrics.jsonl") if line["kind"] == "model_monitor"]
    assert {p["metric"] for p in points} >= {"accuracy", "auc", "f2", "false_positive_rate"}
    assert {p["namespace"] for p in points} == {"aws/sagemaker/Endpoints/model-metrics"}
    assert {tuple(sorted(p["dimensions"].items())) for p in points} == {
        (("Endpoint", "breast-cancer-ep"), ("MonitoringSchedule", "breast-cancer-model-quality"))
    }
    assert len(points) == 17 * 3 == summary["model_monitor_datapoints"]
    auc = {p["chunk_start"]: p["value"] for p in points if p["metric"] == "auc"}
    stored = results.loc[(results["kind"] == "model_monitor") & (results["metric"] == "auc")]
    assert auc == {
        s.isoformat().replace("+00:00", "Z"): v for s, v in zip(stored["chunk_start"], stored["value"], strict=True)
    }
