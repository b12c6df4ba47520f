"""`modelwatch run` through the embedded stack (ingest -> workflow -> stored results) on hours with injected data
faults: Model Monitor's violations appear exactly in the faulty hours, drift and data-quality values equal nannyml
run directly (every configured drift method); prediction statistics equal pandas'."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelwatch.clock import parse_iso
from modelwatch_cli.main import main
from tests.e2e.faulty_hours import CLEAN_HOURS, EXPECTED_VIOLATIONS, HOURS, START, Generated, generate, nannyml_direct

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Generated, Path]:
    root = tmp_path_factory.mktemp("faulty")
    generated = generate(root / "input")
    output = root / "out"
    main(["run", "--model", str(generated.config_path), "--captures", str(generated.captures), "--output", str(output)])
    return generated, output


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _hour(stamp: str) -> int:
    return int((parse_iso(stamp) - START) / timedelta(hours=1))


def test_violations_appear_exactly_in_the_faulty_hours(finished: tuple[Generated, Path]) -> None:
    # Given hours each with one injected fault (a column 30 % missing, a new category, text in a numeric column,
    # an extra JSON key, a shifted distribution) between clean hours
    _, output = finished
    # When the run is done
    summary = json.loads((output / "summary.json").read_text())
    assert summary["execution_status"] == "SUCCEEDED", summary["error"]
    assert summary["records_quarantined"] == 0  # damaged features keep their predictions
    assert summary["chunks_analysed"] == HOURS
    violations = _lines(output / "constraint_violations.jsonl")
    # Then each fault is one violation of its check, in its hour, for its feature, and the clean hours have none
    found = {(_hour(v["chunk_start"]), v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert found == EXPECTED_VIOLATIONS
    assert len(violations) == len(found)
    assert not {h for h, _, _ in found} & set(CLEAN_HOURS)
    for line in violations:
        assert line["model"] == "faulty"
        assert parse_iso(line["chunk_end"]) - parse_iso(line["chunk_start"]) == timedelta(hours=1)
        assert line["description"]
    drift = next(v for v in violations if v["constraint_check_type"] == "baseline_drift_check")
    assert drift["description"].startswith("Numerical distance: ")
    assert "exceeds numerical threshold: 0.1" in drift["description"]


def test_each_chunk_has_model_monitors_violations_file_in_the_lake_layout(finished: tuple[Generated, Path]) -> None:
    _, output = finished
    files = sorted((output / "results" / "model=faulty" / "violations").rglob("*.json"))
    assert len(files) == HOURS
    by_hour = {}
    for path in files:
        document = json.loads(path.read_text())
        assert set(document) == {"violations", "model", "chunk_start", "chunk_end"}
        assert path.parent.name == f"dt={parse_iso(document['chunk_start']):%Y-%m-%d}"
        by_hour[_hour(document["chunk_start"])] = {
            (v["feature_name"], v["constraint_check_type"]) for v in document["violations"]
        }
    assert {(h, f, c) for h, pairs in by_hour.items() for f, c in pairs} == EXPECTED_VIOLATIONS
    assert len(list((output / "results" / "model=faulty" / "drift").rglob("*.parquet"))) == HOURS


def test_drift_and_data_quality_equal_nannyml_run_directly(finished: tuple[Generated, Path]) -> None:
    generated, output = finished
    expected = nannyml_direct(generated)
    got: dict[tuple[str, str, str | None, Any], dict[str, Any]] = {}
    for line in _lines(output / "metrics.jsonl"):
        if line.get("monitor") in ("drift", "data_quality"):
            key = (line["monitor"], line["metric"], line.get("feature"), parse_iso(line["chunk_start"]))
            assert key not in got, f"written twice: {key}"
            got[key] = line
            assert ("feature" in line) == (line["kind"] != "multivariate")
            assert {"model", "kind", "chunk_end", "alert", "lower_threshold", "upper_threshold"} <= set(line)
    assert set(got) == set(expected)
    for key, (value, alert) in expected.items():
        line = got[key]
        if math.isnan(value):
            assert line["value"] is None, key
        else:
            assert math.isclose(line["value"], value, rel_tol=0, abs_tol=1e-9), key
        assert line["alert"] == alert, key
    # and the faults show in nannyml's calculators too: the new category and the missing column alert
    assert got[("data_quality", "unseen_values_rate", "cat", START + timedelta(hours=2))]["alert"] is True
    assert got[("data_quality", "missing_values_rate", "x1", START + timedelta(hours=1))]["alert"] is True


def test_prediction_statistics_per_chunk_equal_pandas_on_the_same_predictions(finished: tuple[Generated, Path]) -> None:
    # Given the stored results of the run (every chunk analysed once, reused chunks copied into later runs)
    generated, output = finished
    stored = pd.concat([pd.read_parquet(p) for p in output.rglob("results.parquet")], ignore_index=True)
    statistics = stored.loc[(stored["monitor"] == "drift") & (stored["kind"] == "prediction_statistics")]
    # Then each hour's min, max, mean and standard deviation of the probabilities are pandas' on the same rows
    hours = generated.analysis["timestamp"].dt.floor("h")
    expected = generated.analysis["y_pred_proba"].groupby(hours).agg(["min", "max", "mean", "std"])
    assert set(statistics["feature"]) == {"y_pred_proba"}
    seen = set()
    for row in statistics.itertuples():
        hour = pd.Timestamp(row.chunk_start).tz_convert(None)
        assert math.isclose(row.value, expected.loc[hour, row.metric], rel_tol=0, abs_tol=1e-12), (hour, row.metric)
        seen.add((hour, row.metric))
    assert len(seen) == HOURS * 4


def test_model_monitor_metrics_are_published_in_its_namespace(finished: tuple[Generated, Path]) -> None:
    _, output = finished
    lines = [line for line in _lines(output / "metrics.jsonl") if "dimensions" in line]
    names = {line["kind"] for line in lines}
    drift = [line for line in lines if line["dimensions"].get("Feature") == "x1" and "baseline" in line["kind"]]
    assert drift, names
    assert set(drift[0]["dimensions"]) == {"Model", "Endpoint", "MonitoringSchedule", "Feature"}
    assert drift[0]["dimensions"]["Endpoint"] == "faulty-ep"
    assert {"constraint_violations", "multivariate_drift_error"} <= names
