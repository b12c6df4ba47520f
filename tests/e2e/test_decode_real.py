"""`modelwatch decode` on capture files from a real dataset and model: every row decoded, values exact."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from modelwatch_cli.main import main
from tests.e2e.breast_cancer import generate

pytestmark = pytest.mark.slow


def test_decode_writes_every_captured_row_with_exact_values(tmp_path: Path) -> None:
    # Given SageMaker capture files (CSV and BASE64, 1-3 rows per request) of breast-cancer data scored by a real model
    generated = generate(tmp_path / "input")
    files = sorted(str(p) for p in generated.captures.rglob("*.jsonl"))
    # When they are decoded with the CLI
    try:
        main(["decode", "--model", str(generated.config_path), "--output", str(tmp_path / "lake"), *files])
        code = 0
    except SystemExit as exc:
        code = exc.code
    # Then it exits 0 (nothing quarantined) and the lake holds every row once, in the lake layout
    assert code == 0
    parts = sorted((tmp_path / "lake" / "captures" / "model=breast-cancer").rglob("*.parquet"))
    assert parts and all(p.parent.name.startswith("hour=") and p.parent.parent.name.startswith("dt=") for p in parts)
    rows = pl.concat([pl.read_parquet(p) for p in parts]).sort("inference_time", "event_id", "row_in_request")
    expected = generated.analysis
    assert rows.height == len(expected)
    # And features and probabilities are the model's exact floats, y_pred derived with the 0.5 threshold
    features = [c for c in expected.columns if c.startswith("f")]
    decoded = rows.select(features).to_numpy()
    ordered = expected.sort_values("timestamp", kind="stable")
    assert sorted(map(tuple, decoded.tolist())) == sorted(map(tuple, ordered[features].to_numpy().tolist()))
    assert sorted(rows["y_pred_proba"].to_list()) == sorted(expected["y_pred_proba"].tolist())
    assert rows["y_pred"].sum() == int(expected["y_pred"].sum())
    assert rows["inference_time"].dtype == pl.Datetime("us", "UTC")
    assert not (tmp_path / "lake" / "quarantine").exists() or not any((tmp_path / "lake" / "quarantine").rglob("*"))
