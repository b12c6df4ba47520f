"""`modelwatch run` on an A/B test: a model watching two production variants, each with its own reference, and
segments by clinic; the challenger serves a noisier model to one clinic. Every per-variant and per-segment estimate
and realized value equals nannyml run directly on those rows."""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from modelwatch.clock import parse_iso
from modelwatch_cli.main import cli, main
from tests.e2e.breast_cancer import METRICS, Generated, generate, nannyml_direct, of_clinic

pytestmark = pytest.mark.slow

VARIANTS = ("champion", "challenger")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Generated], Path]:
    root = tmp_path_factory.mktemp("ab-test")
    inputs = root / "input"
    # Both variants' captures in <endpoint>/<variant>/yyyy/mm/dd/hh, their labels in one ground-truth folder; the
    # challenger serves a noisier model to the east clinic and has its own reference.
    generated = {
        "champion": generate(inputs, seed=7, variant="champion", noisy_clinic="none"),
        "challenger": generate(inputs, seed=11, variant="challenger", noise=0.35, noisy_clinic="east"),
    }
    config = yaml.safe_load(generated["champion"].config_path.read_text())
    config.pop("variant")
    config["reference"] = "reference-champion.parquet"
    config["variants"] = ["champion", {"name": "challenger", "reference": "reference-challenger.parquet"}]
    config["segments"] = [{"column": "clinic", "top": 2}]
    config["data_quality"] = {"enabled": False}  # not what this test checks (tests/e2e/test_data_quality.py is)
    config_path = inputs / "model.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    output = root / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        main(
            [
                "run",
                "--model", str(config_path),
                "--captures", str(generated["champion"].captures),
                "--ground-truth", str(generated["champion"].ground_truth),
                "--output", str(output),
                "--json",
            ]
        )  # fmt: skip
    return generated, output


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_each_variant_equals_nannyml_on_its_own_rows(finished: tuple[dict[str, Generated], Path]) -> None:
    generated, output = finished
    got: dict[tuple[str, str, str, datetime], float] = {}
    for line in _lines(output / "metrics.jsonl"):
        assert line["model"] == "breast-cancer" and line["variant"] in VARIANTS, line
        if line["kind"] in ("estimated", "realized") and "segment" not in line:
            key = (line["variant"], line["metric"], line["kind"], parse_iso(line["chunk_start"]))
            assert key not in got, f"published twice: {key}"
            got[key] = line["value"]
    for variant in VARIANTS:
        expected = nannyml_direct(generated[variant])
        mine = {k[1:]: v for k, v in got.items() if k[0] == variant}
        assert set(mine) == set(expected), variant
        for key, value in expected.items():
            assert math.isclose(mine[key], value, rel_tol=0, abs_tol=1e-9), (variant, key)


def test_each_segment_equals_nannyml_on_its_own_rows(finished: tuple[dict[str, Generated], Path]) -> None:
    generated, output = finished
    got: dict[tuple[str, str, str, str, datetime], float] = {}
    for line in _lines(output / "metrics.jsonl"):
        if line["kind"] in ("estimated", "realized") and "segment" in line:
            (clinic,) = line["segment"].values()
            key = (line["variant"], clinic, line["metric"], line["kind"], parse_iso(line["chunk_start"]))
            assert key not in got, f"published twice: {key}"
            got[key] = line["value"]
    for variant in VARIANTS:
        for clinic in ("east", "west"):  # the top two clinics by reference volume
            expected = {k: v for k, v in nannyml_direct(of_clinic(generated[variant], clinic)).items() if v == v}
            mine = {k[2:]: v for k, v in got.items() if k[:2] == (variant, clinic)}
            assert set(mine) == set(expected), (variant, clinic)
            for key, value in expected.items():
                assert math.isclose(mine[key], value, rel_tol=0, abs_tol=1e-9), (variant, clinic, key)
    # The challenger's noise hurts the east clinic only, as nannyml says on those rows.
    east = nannyml_direct(of_clinic(generated["challenger"], "east"))
    west = nannyml_direct(of_clinic(generated["challenger"], "west"))
    realized = [k for k in east if k[0] == "roc_auc" and k[1] == "realized"]
    assert sum(east[k] for k in realized) < sum(west[k] for k in realized)
    (report,) = (output / "reports" / "model=breast-cancer.challenger").rglob("report.html")
    assert "<h2>Who is hurt</h2>" in report.read_text(encoding="utf-8")


def test_summary_counts_every_variant_and_no_label_is_unmatched(
    finished: tuple[dict[str, Generated], Path],
) -> None:
    generated, output = finished
    summary = json.loads((output / "summary.json").read_text())
    assert summary["execution_status"] == "SUCCEEDED" and summary["error"] == ""
    assert summary["rows_decoded"] == sum(len(g.analysis) for g in generated.values())
    assert summary["chunks_analysed"] == 6  # three hours per variant
    # Each label belongs to one variant's request: none is unmatched although each variant sees them all.
    assert summary["labels_unmatched"] == 0
    assert summary["files_skipped"] == []


def test_compare_shows_each_chunks_difference_and_the_verdict(
    finished: tuple[dict[str, Generated], Path],
) -> None:
    generated, output = finished
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["compare", "--model", "breast-cancer", "--local", str(output), "--json", "--chunks"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    documents = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert {(d["metric"], d["kind"]) for d in documents} == {(m, k) for m in METRICS for k in ("estimated", "realized")}
    champion, challenger = nannyml_direct(generated["champion"]), nannyml_direct(generated["challenger"])
    for document in documents:
        assert (document["champion"], document["challenger"]) == ("champion", "challenger")
        expected = {
            start: challenger[(m, k, start)] - champion[(m, k, start)]
            for (m, k, start) in champion
            if (m, k) == (document["metric"], document["kind"])
        }
        by_chunk = {parse_iso(c["chunk_start"]): c for c in document["by_chunk"]}
        assert set(by_chunk) == set(expected)
        for start, difference in expected.items():
            assert math.isclose(by_chunk[start]["difference"], difference, abs_tol=1e-9)
            assert by_chunk[start]["standard_error"] > 0
        assert math.isclose(document["difference"], sum(expected.values()) / len(expected), abs_tol=1e-9)
        assert document["chunks"] == 3 and document["verdict"]
    # The challenger's run notified exactly when some verdict says it is significantly worse.
    worse = sorted((d["metric"], d["kind"]) for d in documents if d["significant"] and not d["challenger_better"])
    notes = _lines(output / "notifications.jsonl")
    compared = [n for n in notes if "variant challenger worse than champion" in n["subject"]]
    if worse:
        assert len(compared) == 1
        text = compared[0]["message"]
        verdicts = [d["verdict"] for d in documents if (d["metric"], d["kind"]) in worse]
        assert all(v in text for v in verdicts)
        assert "modelwatch compare --model breast-cancer --variants champion,challenger" in text
    else:
        assert compared == []


def test_the_challenger_s_report_compares_it_with_the_champion(finished: tuple[dict[str, Generated], Path]) -> None:
    _, output = finished
    (report,) = (output / "reports" / "model=breast-cancer.challenger").rglob("report.html")
    page = report.read_text(encoding="utf-8")
    assert "<h2>Variants: challenger against champion</h2>" in page
    runner = CliRunner()
    result = runner.invoke(cli, ["compare", "--model", "breast-cancer", "--local", str(output)], catch_exceptions=False)
    verdicts = [line for line in result.output.splitlines() if line.strip()]
    assert len(verdicts) == 2 * len(METRICS)
    assert all(html.escape(v) in page for v in verdicts)
