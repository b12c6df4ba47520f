"""A Model Monitor model-quality constraints.json drives the thresholds and alerts of a run exactly: every stored
threshold and alert is compared with the file, and the chunk's statistics.json and violations with the rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import fbeta_score, r2_score

from modelwatch.analysis import RunRequest, run_monitor
from modelwatch.config.model import with_model_monitor_constraints
from modelwatch.config.model_quality import CONSTRAINTS_SECTIONS, GREATER_THAN, violates
from modelwatch.lake.store import LocalStore
from modelwatch.monitors.mm_model_quality import KIND_MODEL_MONITOR
from tests.helpers import EVENTS

from .cases import LATE, Case

BASELINES = EVENTS / "baselines" / "model_quality"


def _constrained(case: Case, file: str) -> tuple[Case, dict[str, dict[str, object]]]:
    """The case's model with the constraints file (its listed metrics dropped: the file decides) and the file."""
    path = BASELINES / file
    data = case.config.model_dump(mode="json")
    data["estimation"]["metrics"] = []
    config = type(case.config).model_validate(data)
    config = with_model_monitor_constraints(config, path.read_bytes(), str(path))
    document = json.loads(path.read_text())[CONSTRAINTS_SECTIONS[config.problem_type.value]]
    return Case(**{**case.__dict__, "config": config}), document


def _run(case: Case, tmp_path: Path) -> pd.DataFrame:
    outcome = run_monitor(
        case.config,
        case.reference,
        case.captures,
        case.labels,
        RunRequest(case.config.name, "r1"),
        LocalStore(tmp_path),
        LATE,
    )
    table = pd.read_parquet(outcome.results_uri)
    return table.loc[table["monitor"] == "performance"]


def _files(tmp_path: Path, model: str, area: str) -> dict[pd.Timestamp, dict[str, object]]:
    found = {}
    for path in sorted((tmp_path / "results" / f"model={model}" / area).rglob("*.json")):
        document = json.loads(path.read_text())
        found[pd.Timestamp(document["chunk_start"])] = document
    return found


@pytest.mark.parametrize(
    ("case_name", "file", "mapped", "realized_only"),
    [
        (
            "binary_case",
            "binary_constraints.json",
            {"auc": "roc_auc", "true_negative_rate": "specificity"},
            ["f2", "false_positive_rate", "false_negative_rate"],
        ),
        ("regression_case", "regression_constraints.json", {"mae": "mae", "mse": "mse", "rmse": "rmse"}, ["r2"]),
    ],
)
def test_constraints_drive_thresholds_and_alerts_exactly(
    case_name: str,
    file: str,
    mapped: dict[str, str],
    realized_only: list[str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    # Given a model whose config names a Model Monitor constraints.json with both comparison operators
    case, constraints = _constrained(request.getfixturevalue(case_name), file)
    assert {c["comparison_operator"] for c in constraints.values()} == {"GreaterThanThreshold", "LessThanThreshold"}
    assert case.config.constrained_metrics == mapped and case.config.realized_only_metrics == realized_only

    # When the monitor runs over the labelled window
    stored = _run(case, tmp_path)

    # Then each constraint thresholds its metric on the side its operator says, and nothing else
    alerts: set[tuple[pd.Timestamp, str]] = set()
    for metric, constraint in constraints.items():
        target = mapped.get(metric, metric)
        kinds = ["estimated", "realized"] if metric in mapped else ["realized"]
        rows = stored.loc[(stored["metric"] == target) & stored["kind"].isin(kinds)]
        assert sorted(rows["kind"].unique()) == kinds, metric
        assert len(rows.loc[rows["kind"] == "realized"]) == 8, metric
        threshold, operator = float(constraint["threshold"]), str(constraint["comparison_operator"])
        side, other = (
            ("upper_threshold", "lower_threshold")
            if operator == GREATER_THAN
            else ("lower_threshold", "upper_threshold")
        )
        assert (rows[side] == threshold).all(), metric
        assert rows[other].isna().all(), metric
        # and each alert is exactly the file's rule on the stored value (strict comparison)
        expected = [violates(float(v), threshold, operator) for v in rows["value"]]
        assert rows["alert"].tolist() == expected, metric
        alerts |= {(start, metric) for start in rows.loc[rows["alert"] & (rows["kind"] == "realized"), "chunk_start"]}
    assert alerts, "the file's thresholds put some chunks in alert"
    assert len(alerts) < 8 * len(constraints), "and leave others out"

    # And each chunk's constraint_violations.json lists exactly the realized rows in alert, by Model Monitor's names
    violations = _files(tmp_path, case.config.name, "model_quality_violations")
    assert len(violations) == 8
    found = {(start, v["metric_name"]) for start, doc in violations.items() for v in doc["violations"]}  # type: ignore[attr-defined]
    assert found == alerts
    for doc in violations.values():
        for entry in doc["violations"]:  # type: ignore[attr-defined]
            constraint = constraints[entry["metric_name"]]
            assert entry["constraint_check_type"] == constraint["comparison_operator"]
            assert entry["description"].startswith(f"Metric {entry['metric_name']} with ")
            assert entry["description"].endswith(
                f"was {constraint['comparison_operator']} {float(constraint['threshold'])!r}"
            )

    # And each chunk's statistics.json holds Model Monitor's metrics of its labelled rows
    _check_statistics(case, stored, tmp_path)


def _sklearn_values(case: Case, rows: pd.DataFrame) -> dict[str, float]:
    """Model Monitor's realized-only metrics of a chunk computed with scikit-learn directly."""
    labelled = case.direct_analysis.merge(case.direct_labels[["id", case.target]], on="id", suffixes=("_x", ""))
    starts = labelled["timestamp"].dt.floor("h")
    chunk = labelled.loc[starts == rows["chunk_start"].iloc[0].tz_convert("UTC").tz_localize(None)]
    truth = chunk[case.target].to_numpy()
    if case.config.problem_type.value == "regression":
        return {"r2": float(r2_score(truth, chunk["y_pred"]))}
    predicted = chunk["y_pred"].to_numpy()
    tn, fp = np.sum((truth == 0) & (predicted == 0)), np.sum((truth == 0) & (predicted == 1))
    fn, tp = np.sum((truth == 1) & (predicted == 0)), np.sum((truth == 1) & (predicted == 1))
    return {
        "f2": float(fbeta_score(truth, predicted, beta=2)),
        "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (fn + tp),
    }


def _check_statistics(case: Case, stored: pd.DataFrame, tmp_path: Path) -> None:
    """Each chunk's statistics.json has Model Monitor's shape, 2,500 labelled rows and a standard deviation per
    metric; its values are the stored Model Monitor rows, the realized-only ones equal to scikit-learn's."""
    statistics = _files(tmp_path, case.config.name, "model_quality_statistics")
    assert len(statistics) == 8
    section = {"binary_classification": "binary_classification_metrics", "regression": "regression_metrics"}
    for start, document in statistics.items():
        assert document["version"] == 0.0 and document["dataset"] == {"item_count": 2500}
        metrics = document[section[case.config.problem_type.value]]
        assert all(math.isfinite(m["standard_deviation"]) for m in metrics.values() if "standard_deviation" in m)
        rows = stored.loc[(stored["chunk_start"] == start) & (stored["kind"] == KIND_MODEL_MONITOR)]
        for name, value in _sklearn_values(case, rows).items():
            assert metrics[name]["value"] == pytest.approx(value, abs=1e-12), name
            realized = stored.loc[
                (stored["chunk_start"] == start) & (stored["kind"] == "realized") & (stored["metric"] == name)
            ]
            assert float(realized["value"].iloc[0]) == metrics[name]["value"], name
        if "confusion_matrix" in metrics:
            matrix = metrics["confusion_matrix"]
            assert sum(matrix["0"].values()) + sum(matrix["1"].values()) == 2500
            assert len(metrics["receiver_operating_characteristic_curve"]["false_positive_rates"]) <= 101
