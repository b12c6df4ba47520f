"""CI runs the benchmarks only as a smoke test: `python -m benchmarks.run --quick` works and reports every section.

Benchmarks are not timed tests: nothing here asserts a speed. It asserts that each section ran (no "error"),
produced its measurements, and that the report and plot were written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET_SECONDS = 420  # a guard against a hang, not a speed check: the quick run takes about a minute on 2 idle cores


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("bench-quick")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--results", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUDGET_SECONDS,
        env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"},
    )
    return completed, out


def test_quick_run_succeeds_and_reports_every_section(quick_run) -> None:
    completed, out = quick_run
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((out / "all.json").read_text())
    for section in (
        "machine", "decode", "estimation", "data_quality", "fairness", "e2e", "coldstart", "memory", "latency",
        "scaling", "fleet", "cost",
    ):  # fmt: skip
        assert section in results, section
        assert "error" not in results[section], (section, results[section].get("error"))
    assert results["machine"]["cores_online"] >= 1 and results["machine"]["cpu_model"]


def test_sections_hold_measurements(quick_run) -> None:
    _, out = quick_run
    results = json.loads((out / "all.json").read_text())
    decode = results["decode"]["files"][0]
    assert decode["values_identical"] and decode["speed_ratio"] > 0 and decode["modelwatch"]["peak_rss_mb"] > 0
    for window in results["estimation"]["windows"]:
        assert window["reproducible"] and window["fit_and_cached_identical"]
        assert window["max_abs_diff_vs_nannyml"] < 1e-9
        assert window["modelwatch"]["cached_run_seconds"] > 0 and window["direct"]["fit_run_seconds"] > 0
    fairness = results["fairness"]
    assert fairness["bias_cached_hour_seconds"] > 0 and fairness["attribution_cached_hour_seconds"] > 0
    e2e = results["e2e"]
    assert e2e["metric_published_seconds"] is not None, e2e.get("metric_published_seconds_reason")
    cold = {h["function"]: h for h in results["coldstart"]["handlers"]}
    assert not cold["ingest_capture"]["nannyml_loaded"]
    performance = results["memory"]["configs"]["estimation"]["performance"]
    assert performance["baseline"] == "hit" and performance["peak_rss_mb"] > performance["rss_after_import_mb"] > 0
    assert results["latency"]["pipeline_p95_seconds"] > results["latency"]["pipeline_p50_seconds"] > 0
    assert results["cost"]["metrics_profiles"]["profiles"][0]["profile"] == "lean"
    scaling = results["scaling"]
    assert len(scaling["ingest"]) >= 2 and len(scaling["estimation"]) >= 2
    assert [m["models"] for m in scaling["models"]["table"]][-1] == 100
    fleet = results["fleet"]
    models = fleet["models"]
    assert fleet["fleet_status"] == "SUCCEEDED" and fleet["per_model_failures"] == 0
    assert fleet["monitor_executions"] == {"SUCCEEDED": models} and fleet["start_execution_calls"] == models
    assert fleet["lambda_invocations"]["StartMonitorFunction"] == 1  # the models are one batch
    assert fleet["put_metric_data_requests"] > 0 and fleet["put_metric_data_datapoints"] > 0
    assert {q["key"] for q in fleet["extrapolation"]["quotas"]} >= {"start_execution", "lambda_concurrency"}
    cost = results["cost"]
    assert len(cost["tiers"]) == 3
    assert all(t["modelwatch"]["total_usd"] > 0 and t["sagemaker"]["total_usd"] > 0 for t in cost["tiers"])


def test_report_and_plot_are_written(quick_run) -> None:
    _, out = quick_run
    png = out / "scaling.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tables = (out / "tables.md").read_text()
    for heading in ("### Machine", "### Ingest", "### Estimation", "### End to end", "### Cold start", "### Scaling",
                    "### Fleet", "### Cost model"):  # fmt: skip
        assert heading in tables
