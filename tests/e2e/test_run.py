"""`modelwatch run` on capture files from a real dataset and model: metrics.jsonl equals nannyml run directly."""

from __future__ import annotations

import contextlib
import io
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelwatch.clock import parse_iso
from modelwatch_cli.main import cli, main
from tests.e2e.breast_cancer import METRICS, Generated, generate, nannyml_direct

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Generated, Path]:
    root = tmp_path_factory.mktemp("breast-cancer")
    generated = generate(root / "input")
    # One broken record: quarantined with its reason, the rest of the file is kept, the run still exits 0.
    first = sorted(generated.captures.rglob("*.jsonl"))[0]
    first.write_text(first.read_text() + "{not json\n")
    # One file outside the hour folders, read with --flat (filed by its first record's time, its own hour).
    first.rename(generated.captures / f"flat-{first.name}")
    output = root / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        main(
            [
                "run",
                "--model", str(generated.config_path),
                "--captures", str(generated.captures),
                "--ground-truth", str(generated.ground_truth),
                "--output", str(output),
                "--flat",
                "--json",
            ]
        )  # fmt: skip
    (root / "stdout.txt").write_text(stdout.getvalue())
    return generated, output


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_metrics_equal_nannyml_run_directly(finished: tuple[Generated, Path]) -> None:
    generated, output = finished
    expected = nannyml_direct(generated)
    got: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for line in _lines(output / "metrics.jsonl"):
        if line["kind"] in ("estimated", "realized"):
            key = (line["metric"], line["kind"], parse_iso(line["chunk_start"]))
            assert key not in got, f"published twice: {key}"
            got[key] = line
    assert set(got) == set(expected)
    assert {m for m, _, _ in got} == set(METRICS)
    assert len({start for _, _, start in got}) == 3  # every hour analysed, the last one too (input complete)
    for key, value in expected.items():
        assert math.isclose(got[key]["value"], value, rel_tol=0, abs_tol=1e-9), key
        line = got[key]
        assert parse_iso(line["chunk_end"]) > parse_iso(line["chunk_start"])
        assert isinstance(line["alert"], bool)
        assert line["lower_threshold"] is None or isinstance(line["lower_threshold"], float)
        assert line["upper_threshold"] is None or isinstance(line["upper_threshold"], float)


def test_outputs_and_summary(finished: tuple[Generated, Path]) -> None:
    generated, output = finished
    summary = json.loads((output / "summary.json").read_text())
    assert summary["execution_status"] == "SUCCEEDED"
    assert summary["error"] == ""
    assert summary["rows_decoded"] == len(generated.analysis)
    assert summary["records_quarantined"] == 1
    assert summary["chunks_analysed"] == 3
    assert list((output / "results").rglob("*.parquet"))
    assert list((output / "reports").rglob("*.html"))
    notes = _lines(output / "notifications.jsonl")
    assert all({"topic_arn", "subject", "message"} <= set(n) for n in notes)


def test_bad_config_is_one_clear_line_and_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "model.yaml"
    config.write_text(
        "name: m\nendpoint: e\nproblem_type: binary_classification\nfeatures: [{name: a}]\n"
        "output: {format: csv, columns: [y_pred_proba]}\nreference: missing.parquet\n"
    )
    (tmp_path / "captures").mkdir()
    (tmp_path / "captures" / "x.jsonl").write_text("{}\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--model", str(config), "--captures", str(tmp_path / "captures"), "--output", str(tmp_path / "o")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.parquet" in err[0]


def test_metrics_jsonl_keeps_every_datapoint_whatever_the_metrics_profile(finished: tuple[Generated, Path]) -> None:
    # Given a model config on the default (lean) metrics profile, which keeps bounds out of CloudWatch on AWS
    _, output = finished

    # Then metrics.jsonl still has the confidence bounds of every estimate (#15: the profile is CloudWatch's only)
    kinds = {line["kind"] for line in _lines(output / "metrics.jsonl")}
    assert {"estimated", "lower_confidence_bound", "upper_confidence_bound"} <= kinds


def test_run_json_prints_the_summary_alone(finished: tuple[Generated, Path]) -> None:
    # Given the run above (--json)
    _, output = finished
    # Then stdout holds one JSON object: the summary.json written to the output folder
    printed = json.loads((output.parent / "stdout.txt").read_text())
    assert printed == json.loads((output / "summary.json").read_text())
    assert {"model", "capture_files", "rows_decoded", "chunks_analysed", "files_skipped", "error"} <= set(printed)
    assert printed["files_skipped"] == []


def _verb(*argv: str) -> str:
    result = CliRunner().invoke(cli, list(argv), catch_exceptions=False)
    assert result.exit_code == 0, (argv, result.output)
    return result.output


def test_state_reading_verbs_read_the_run_folder(finished: tuple[Generated, Path], tmp_path: Path) -> None:
    # Given the folder `modelwatch run` wrote
    _, output = finished
    folder = ["--local", str(output)]
    model = json.loads((output / "summary.json").read_text())["model"]
    # When models, status, report and compact are pointed at it, then each sees what the run produced
    assert [json.loads(line)["name"] for line in _verb("models", *folder, "--json").splitlines()] == [model]
    [status] = [json.loads(line) for line in _verb("status", *folder, "--json").splitlines()]
    assert status["model"] == model and status["last_run"] and status["as_of"]
    assert status["health"] in ("ok", "ALERT")
    assert status["latest_chunk"] and isinstance(status["in_alert"], list)
    assert 0.0 <= status["label_coverage"] <= 1.0
    wide = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["status", *folder], catch_exceptions=False)
    assert model in wide.output and "label coverage" in wide.output, wide.output
    runs = [json.loads(line) for line in _verb("report", model, *folder, "--list", "--json").splitlines()]
    assert runs and {"model", "run_id", "written", "key"} <= set(runs[0])
    saved = tmp_path / "report.html"
    assert _verb("report", model, *folder, "--output", str(saved)).strip() == str(saved)
    assert saved.read_bytes().startswith(b"<")
    compacted = json.loads(_verb("compact", *folder, "--days-ago", "0", "--json"))
    assert set(compacted) == {"day", "models", "partitions", "compacted", "files_replaced", "rows"}


def test_files_outside_the_layout_are_named_and_the_run_stops_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given captures in a flat folder (no hour folders), a ground-truth file among them and an empty file
    generated = generate(tmp_path / "input")
    flat = tmp_path / "flat"
    flat.mkdir()
    for index, path in enumerate(sorted(generated.captures.rglob("*.jsonl"))[:2]):
        path.rename(flat / f"c{index}.jsonl")
    next(generated.ground_truth.rglob("*.jsonl")).rename(flat / "labels.jsonl")
    (flat / "empty.jsonl").write_text("")
    # When `modelwatch run` is given that folder without --flat
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--model", str(generated.config_path), "--captures", str(flat), "--output", str(tmp_path / "o")])
    # Then each file not read is named with why, and the run stops with one line naming the layout and --flat
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert sum("outside the layout <endpoint>/<variant>/yyyy/mm/dd/hh/" in line for line in err) == 2
    assert any("labels.jsonl" in line and "--ground-truth" in line for line in err)
    assert any("empty.jsonl: empty file" in line for line in err)
    assert err[-1].startswith("error: ") and "--flat" in err[-1] and "no capture file to read (4 not read)" in err[-1]


def test_output_folder_has_the_indexes_the_shared_plotly_and_light_reports(finished: tuple[Generated, Path]) -> None:
    # (#20) Given the run's output folder: one shared plotly.js beside the reports, the fleet's and the model's index
    _, output = finished
    reports = output / "reports"
    assert len(list(reports.glob("plotly-*.min.js"))) == 1
    pages = list(reports.rglob("report.html"))
    assert pages and all(p.stat().st_size < 1_000_000 for p in pages)
    model_index = next(reports.glob("model=*/index.html"))
    assert "run=" in model_index.read_text() and "model=" in (reports / "index.html").read_text()
    # Then each report's headline is its model's verdict, as the index lists it
    runs = json.loads((model_index.parent / "runs.json").read_text())
    assert runs[0]["status"] in ("OK", "DEGRADED", "IMPROVED")
    assert runs[0]["text"] in (model_index.parent / f"run={runs[0]['run_id']}" / "report.html").read_text()


def test_final_table_has_every_metric_and_folds_to_a_narrow_terminal(finished: tuple[Generated, Path]) -> None:
    import io

    from rich.console import Console

    from modelwatch_cli.local.story import folder_reader, model_story, render_stories

    _, output = finished
    model = json.loads((output / "summary.json").read_text())["model"]
    story = model_story(folder_reader(output), model, list(METRICS))
    assert [line.metric for line in story.lines][: len(METRICS)] == list(METRICS)
    assert all(line.estimate is not None and line.realized is not None for line in story.lines[: len(METRICS)])
    buffer = io.StringIO()
    render_stories(Console(file=buffer, width=60), [story])
    text = buffer.getvalue()
    assert "…" not in text and all(metric in text for metric in METRICS) and "estimate:" in text
    assert max(len(line) for line in text.splitlines()) <= 60
