"""How `modelwatch run` ends (#20): a table per model of every metric (estimate, realized, verdict with direction)
that folds to the terminal, a legend, and nothing but errors with --quiet. The pipeline is stubbed: its output
folder is what publishing and the export leave (runs.json next to the reports, the run's results table)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from modelwatch.lake.layout import results_key
from modelwatch_cli.local import run as local_run
from modelwatch_cli.local.run import RunSummary
from modelwatch_cli.main import main

START = datetime(2026, 3, 2, 3, tzinfo=UTC)
CONFIG = (
    "name: loans\nendpoint: e\nproblem_type: binary_classification\nfeatures: [{name: a}]\n"
    "output: {format: csv, columns: [y_pred_proba]}\nreference: ref.parquet\n"
    "estimation: {metrics: [roc_auc, f1, accuracy]}\n"
)


def _published_output(output: Path) -> None:
    """A degraded run: f1 and accuracy in a degradation incident (below), roc_auc within its band."""
    runs = [
        {
            "run_id": "r2",
            "status": "DEGRADED",
            "text": "DEGRADED since 04:00 UTC: f1, accuracy below their bands",
            "metrics": [
                {"label": "f1", "side": "lower", "kind": "degradation"},
                {"label": "accuracy", "side": "lower", "kind": "degradation"},
            ],
        }
    ]
    (output / "reports/model=loans").mkdir(parents=True)
    (output / "reports/model=loans/runs.json").write_text(json.dumps(runs))
    rows = []
    for hour, (estimate, realized) in enumerate([(0.9712345678, 0.9654321), (0.9123456789, None)]):
        for metric in ("roc_auc", "f1", "accuracy"):
            start = START + timedelta(hours=hour)
            rows.append(("performance", metric, "estimated", start, estimate, hour == 1 and metric != "roc_auc"))
            rows.append(("performance", metric, "realized", start, realized, False))
    table = pl.DataFrame(rows, schema=["monitor", "metric", "kind", "chunk_start", "value", "alert"], orient="row")
    target = output / results_key("loans", "r2")
    target.parent.mkdir(parents=True)
    table.write_parquet(target)


@pytest.fixture
def stubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    (tmp_path / "model.yaml").write_text(CONFIG)
    (tmp_path / "captures").mkdir()

    def pipeline(config_path, captures, ground_truth, output, progress=None, flat=False, on_skipped=None):  # type: ignore[no-untyped-def]
        output.mkdir(parents=True, exist_ok=True)
        _published_output(output)
        if progress:
            progress("captures", 1, 1)
        return RunSummary(model="loans", chunks_analysed=2, execution_status="SUCCEEDED", output=str(output))

    monkeypatch.setattr(local_run, "run_pipeline", pipeline)
    monkeypatch.setenv("COLUMNS", "72")
    return ["run", "--model", str(tmp_path / "model.yaml"), "--captures", str(tmp_path / "captures"),
            "--output", str(tmp_path / "out")]  # fmt: skip


def test_run_ends_with_every_metric_its_values_and_verdict_folded_to_the_terminal(
    stubbed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # When `modelwatch run` finishes (stdout piped: 72 columns from COLUMNS)
    main(stubbed)
    out, err = capsys.readouterr()
    # Then the model's table lists every configured metric, rounded, with its verdict and direction, nothing cut
    assert "loans: DEGRADED since 04:00 UTC: f1, accuracy below their bands" in " ".join(out.split())
    for metric in ("roc_auc", "f1", "accuracy"):
        assert metric in out
    assert "0.912" in out and "0.9123" not in out  # the latest estimate, rounded
    assert "0.965 (03:00)" in out  # the latest realized value, from the earlier chunk that has one
    assert out.count("DEGRADED:") == 2 and "ok" in out  # f1 and accuracy in the incident; roc_auc within its band
    # (the first line is the run's one-line summary, printed as it was: the terminal wraps it)
    assert "…" not in out and max(len(line) for line in out.splitlines()[1:]) <= 72
    assert "estimate: nannyml's estimate" in " ".join(out.split())  # the legend
    assert err == ""  # no progress bars when stderr is not a terminal


def test_quiet_prints_nothing_on_success(stubbed: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    main([*stubbed, "--quiet"])
    out, err = capsys.readouterr()
    assert out == "" and err == ""
