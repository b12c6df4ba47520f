"""`modelwatch run` with bias and attribution: a facet the model does not use is decoded from the captures, and
OUT/metrics.jsonl holds the bias and attribution datapoints in the issue's shape, equal to smclarify's values."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from smclarify.bias import report

from modelwatch.clock import parse_iso
from modelwatch_cli.main import main

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 2, tzinfo=UTC)
HOURS = 4
ROWS_PER_HOUR = 300
NEW_VERSION_FROM = 2  # hours 2 and 3 come from a model that depends on tenure instead of income
LABELLED_HOURS = 2  # labels for hours 0 and 1 only
FEATURES = ["age", "income", "tenure"]
CONFIG = {
    "name": "credit",
    "endpoint": "credit-ep",
    "problem_type": "binary_classification",
    "features": [{"name": f, "type": "numeric"} for f in FEATURES],
    # the clinic is captured after the features but the model does not use it
    "extra_columns": [{"name": "clinic", "type": "categorical", "csv_index": 3}],
    "output": {"format": "csv", "columns": ["y_pred_proba"]},
    "target": "repaid",
    "timestamp": "timestamp",
    "reference": "reference.parquet",
    "chunking": {"period": "1h"},
    "estimation": {"metrics": ["accuracy"], "min_rows_per_chunk": 50},
    "bias": {
        "label_values_or_threshold": [1],
        "facets": [
            {"name_or_index": "clinic", "value_or_threshold": ["east"]},
            {"name_or_index": 0, "value_or_threshold": [40]},  # age, by index as Clarify allows
        ],
        "methods": ["CI", "DI", "DPPL", "DPL", "AD", "RD"],
    },
    "attribution": {"ndcg_threshold": 0.9},
}
KEYS = {"model", "monitor", "metric", "kind", "facet", "facet_value", "chunk_start", "chunk_end", "value", "alert"}


def _frame(rows: int, seed: int, new_version: bool, start: datetime) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, size=rows).astype("float64"),
            "income": rng.normal(50, 15, size=rows).round(3),
            "tenure": rng.uniform(0, 20, size=rows).round(3),
            "clinic": rng.choice(["east", "west", "north"], size=rows, p=[0.3, 0.5, 0.2]),
        }
    )
    driver = 0.35 * (frame["tenure"] - 10) if new_version else 0.12 * (frame["income"] - 50)
    frame["y_pred_proba"] = (1 / (1 + np.exp(-(0.02 * (frame["age"] - 45) + driver)))).round(6)
    frame["y_pred"] = (frame["y_pred_proba"] >= 0.5).astype("int64")
    frame["repaid"] = (rng.uniform(size=rows) < frame["y_pred_proba"]).astype("int64")
    step = timedelta(hours=1) / rows
    frame["timestamp"] = [start + step * i for i in range(rows)]
    return frame


def _record(row: Any, number: int) -> dict[str, Any]:
    body = f"{row.age},{row.income},{row.tenure},{row.clinic}\n"
    return {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": body, "encoding": "CSV"},
            "endpointOutput": {
                "observedContentType": "text/csv",
                "mode": "OUTPUT",
                "data": f"{row.y_pred_proba}\n",
                "encoding": "CSV",
            },
        },
        "eventMetadata": {
            "eventId": f"e-{number}",
            "inferenceTime": row.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        },
        "eventVersion": "0",
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    root = tmp_path_factory.mktemp("fairness")
    reference = _frame(2000, 0, False, START - timedelta(days=1))
    reference.assign(timestamp=reference["timestamp"].map(lambda t: t.replace(tzinfo=None))).to_parquet(
        root / "reference.parquet", index=False
    )
    (root / "model.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    hours = [_frame(ROWS_PER_HOUR, 10 + h, h >= NEW_VERSION_FROM, START + timedelta(hours=h)) for h in range(HOURS)]
    captured = pd.concat(hours, ignore_index=True)
    for number, row in enumerate(captured.itertuples()):
        folder = root / "captures" / "credit-ep" / "AllTraffic" / row.timestamp.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "capture.jsonl").open("a") as handle:
            handle.write(json.dumps(_record(row, number)) + "\n")
        if number < LABELLED_HOURS * ROWS_PER_HOUR:
            label = {
                "groundTruthData": {"data": str(int(row.repaid)), "encoding": "CSV"},
                "eventMetadata": {"eventId": f"e-{number}"},
                "eventVersion": "0",
            }
            labels = root / "ground-truth" / "2026/03/03/00"
            labels.mkdir(parents=True, exist_ok=True)
            with (labels / "labels.jsonl").open("a") as handle:
                handle.write(json.dumps(label) + "\n")
    output = root / "out"
    main(
        [
            "--verbose",
            "run",
            "--model", str(root / "model.yaml"),
            "--captures", str(root / "captures"),
            "--ground-truth", str(root / "ground-truth"),
            "--output", str(output),
        ]
    )  # fmt: skip
    return captured, output


def _lines(output: Path, monitor: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("monitor") == monitor]


def _smclarify(rows: pd.DataFrame, facet: str, values: list[Any], metric: str) -> float:
    stage = report.StageType.PRE_TRAINING if metric in ("CI", "DPL") else report.StageType.POST_TRAINING
    (found,) = report.bias_report(
        rows[[facet]],
        report.FacetColumn(facet, values),
        report.LabelColumn("repaid", rows["repaid"], [1]),
        stage,
        report.LabelColumn("y_pred", rows["y_pred"], [1]),
        metrics=[metric],
    )
    return float(found["metrics"][0]["value"])


def test_bias_datapoints_are_clarify_s_per_facet_and_chunk(finished: tuple[pd.DataFrame, Path]) -> None:
    captured, output = finished
    lines = _lines(output, "bias")
    assert lines and all(set(line) == KEYS for line in lines)
    got = {(x["metric"], x["kind"], x["facet"], x["facet_value"], parse_iso(x["chunk_start"])): x for x in lines}
    assert len(got) == len(lines), "a datapoint published twice"
    starts = [START + timedelta(hours=h) for h in range(HOURS)]
    for hour, start in enumerate(starts):
        rows = captured.iloc[hour * ROWS_PER_HOUR : (hour + 1) * ROWS_PER_HOUR]
        for facet, value, values in (("clinic", "east", ["east"]), ("age", "40", [40])):
            # label-free metrics on every complete chunk; the clinic facet is the extra column decoded from captures
            for metric in ("CI", "DI", "DPPL"):
                line = got[(metric, "realized", facet, value, start)]
                assert math.isclose(line["value"], _smclarify(rows, facet, values, metric), abs_tol=1e-9)
                assert parse_iso(line["chunk_end"]) == start + timedelta(hours=1)
                assert isinstance(line["alert"], bool)
            # AD and RD estimated on every chunk; realized (and DPL) only where labels landed
            assert {("AD", "estimated"), ("RD", "estimated")} <= {
                (m, k) for m, k, f, v, s in got if (f, s) == (facet, start)
            }
            labelled = hour < LABELLED_HOURS
            for metric in ("AD", "DPL"):
                assert ((metric, "realized", facet, value, start) in got) == labelled
                if labelled:
                    expected = _smclarify(rows, facet, values, metric)
                    assert math.isclose(got[(metric, "realized", facet, value, start)]["value"], expected, abs_tol=1e-9)


def test_attribution_datapoints_alert_on_the_new_model_version(finished: tuple[pd.DataFrame, Path]) -> None:
    _, output = finished
    lines = _lines(output, "attribution")
    assert lines and all(set(line) == KEYS | {"feature"} for line in lines)
    ndcg = {parse_iso(x["chunk_start"]): x for x in lines if x["metric"] == "ndcg"}
    assert [ndcg[s]["alert"] for s in sorted(ndcg)] == [h >= NEW_VERSION_FROM for h in range(HOURS)]
    assert all(x["feature"] is None and x["kind"] == "realized" and x["facet"] is None for x in ndcg.values())
    shap = [x for x in lines if x["metric"] == "global_shap"]
    assert {(x["feature"], parse_iso(x["chunk_start"])) for x in shap} == {(f, s) for f in FEATURES for s in ndcg}
    # and the model's incident names the attribution drift and the feature that rose in rank
    notes = [json.loads(line) for line in (output / "notifications.jsonl").read_text().splitlines() if line.strip()]
    lines = [x.strip() for n in notes if isinstance(n["message"], str) for x in n["message"].splitlines()]
    assert any(x.startswith("attribution ndcg:") and "rose: tenure" in x for x in lines)


def test_the_report_has_a_fairness_section_per_facet_and_an_attribution_section(
    finished: tuple[pd.DataFrame, Path],
) -> None:
    _, output = finished
    (report,) = (output / "reports").rglob("report.html")
    html = report.read_text(encoding="utf-8")
    for title in ("Fairness: age in 40", "Fairness: clinic in east", "Feature attribution drift (nDCG)"):
        assert f"<h2>{title}</h2>" in html, title
