"""`modelwatch decode` and `modelwatch compact --local` through click: lake layout, summary line, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from modelwatch.lake.reader import read_rows
from modelwatch.lake.store import LocalStore
from modelwatch_cli.main import cli
from tests.helpers import EVENTS
from tests.unit.capture.conftest import CAR_LOAN_FEATURES
from tests.unit.ingest.helpers import capture_file, churn_config, ground_truth_file

CAPTURES = EVENTS / "captures"
CAR_LOAN = {
    "name": "car_loan",
    "endpoint": "car-loan-endpoint",
    "problem_type": "binary_classification",
    "features": CAR_LOAN_FEATURES,
    "output": {"format": "csv", "columns": ["y_pred_proba"]},
}


@pytest.fixture
def model_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(CAR_LOAN))
    return path


def decode(*args: str):
    return CliRunner().invoke(cli, ["decode", *args])


def test_clean_files_decode_with_exit_0(tmp_path, model_yaml):
    out = tmp_path / "lake"
    result = decode("--model", str(model_yaml), "--output", str(out), str(CAPTURES / "binary_csv.jsonl"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 2 rows from 2 records, 0 quarantined")
    rows = read_rows(LocalStore(out), "captures", "car_loan")
    assert rows.height == 2 and rows["car_value"].dtype == pl.Float64
    assert all(p.parts[-4:-1] == ("model=car_loan", "dt=2024-03-01", "hour=10") for p in out.rglob("*.parquet"))


def test_some_quarantined_records_exit_3_and_land_in_quarantine(tmp_path, model_yaml):
    out = tmp_path / "lake"
    files = [str(CAPTURES / "binary_csv.jsonl"), str(CAPTURES / "binary_mixed_bad.jsonl")]
    result = decode("--model", str(model_yaml), "--output", str(out), *files)
    assert result.exit_code == 3, result.output
    assert result.output.startswith("quarantined: ")
    assert "2/2 files" in result.output
    quarantine = list((out / "quarantine").rglob("*.jsonl"))
    assert quarantine and all(line for line in quarantine[0].read_text().splitlines())


def test_an_unreadable_file_exits_1_but_the_others_are_decoded(tmp_path, model_yaml):
    out = tmp_path / "lake"
    result = decode(
        "--model",
        str(model_yaml),
        "--output",
        str(out),
        str(tmp_path / "missing.jsonl"),
        str(CAPTURES / "binary_csv.jsonl"),
    )
    assert result.exit_code == 1
    assert "failed: 2 rows" in result.output and "1/2 files" in result.output
    assert read_rows(LocalStore(out), "captures", "car_loan").height == 2


def test_an_invalid_config_exits_1_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**CAR_LOAN, "problem_type": "ranking"}))
    result = decode("--model", str(bad), "--output", str(tmp_path / "o"), str(CAPTURES / "binary_csv.jsonl"))
    assert result.exit_code == 1
    assert "problem_type" in result.output


def test_usage_errors_stay_exit_2(tmp_path):
    assert decode("--output", str(tmp_path)).exit_code == 2


def test_an_empty_file_is_fine(tmp_path, model_yaml):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    result = decode("--model", str(model_yaml), "--output", str(tmp_path / "o"), str(empty))
    assert result.exit_code == 0
    assert result.output.startswith("ok: 0 rows from 0 records")


def test_ground_truth_files_decode_by_their_folder_hour(tmp_path):
    config = tmp_path / "churn.yaml"
    config.write_text(churn_config().to_yaml())
    folder = tmp_path / "gt" / "2024" / "03" / "02" / "08"
    folder.mkdir(parents=True)
    (folder / "labels.jsonl").write_bytes(ground_truth_file({"a": 1, "b": 0}))
    out = tmp_path / "lake"
    result = decode("--model", str(config), "--output", str(out), "--ground-truth", str(folder / "labels.jsonl"))
    assert result.exit_code == 0, result.output
    [written] = list((out / "ground_truth").rglob("*.parquet"))
    assert written.parts[-3:-1] == ("dt=2024-03-02", "hour=08")


def test_compact_a_decoded_folder(tmp_path):
    config = tmp_path / "churn.yaml"
    config.write_text(churn_config().to_yaml())
    out = tmp_path / "lake"
    files = []
    for index in range(3):
        path = tmp_path / f"c{index}.jsonl"
        path.write_bytes(capture_file(datetime(2024, 3, 1, 10, index, tzinfo=UTC), 4, prefix=f"f{index}"))
        files.append(str(path))
    assert decode("--model", str(config), "--output", str(out), *files).exit_code == 0
    before = read_rows(LocalStore(out), "captures", "churn").sort("event_id")
    result = CliRunner().invoke(cli, ["compact", "--local", str(out), "--dt", "2024-03-01", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["compacted"] == 1
    assert len(list((out / "captures").rglob("*.parquet"))) == 1
    assert read_rows(LocalStore(out), "captures", "churn").sort("event_id").equals(before)


def test_a_ground_truth_file_decoded_as_captures_gets_a_hint(tmp_path):
    # Given a ground-truth file
    config = tmp_path / "churn.yaml"
    config.write_text(churn_config().to_yaml())
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(ground_truth_file({"a": 1, "b": 0}))
    # When it is decoded without --ground-truth
    result = CliRunner().invoke(cli, ["decode", "--model", str(config), "--output", str(tmp_path / "o"), str(labels)])
    # Then its records are quarantined (exit 3) and a hint says to pass --ground-truth
    assert result.exit_code == 3
    assert f"hint: {labels} holds ground truth (groundTruthData records): read it with --ground-truth" in result.output


def test_a_folder_is_read_from_its_hour_folders_or_flat_and_each_file_not_read_is_named(tmp_path):
    # Given a folder: one capture file in its hour folder, one at the top, a note and a ground-truth file
    config = tmp_path / "churn.yaml"
    config.write_text(churn_config().to_yaml())
    folder = tmp_path / "captures"
    hour = folder / "churn-endpoint" / "AllTraffic" / "2024" / "03" / "01" / "10"
    hour.mkdir(parents=True)
    (hour / "a.jsonl").write_bytes(capture_file(datetime(2024, 3, 1, 10, tzinfo=UTC), 3, prefix="a"))
    (folder / "b.jsonl").write_bytes(capture_file(datetime(2024, 3, 1, 11, tzinfo=UTC), 2, prefix="b"))
    (folder / "notes.txt").write_text("not a capture")
    (folder / "labels.jsonl").write_bytes(ground_truth_file({"a-0": 1}))
    where = ["decode", "--model", str(config), "--json", "--output"]
    # When it is decoded as it is
    laid_out = CliRunner().invoke(cli, [*where, str(tmp_path / "o1"), str(folder)])
    # Then the file in its hour folder is read, and every other file is named with why it was not
    assert laid_out.exit_code == 0, laid_out.output
    document = json.loads(laid_out.stdout)
    assert (document["status"], document["rows"], document["files"]) == ("ok", 3, 1)
    reasons = {Path(s["file"]).name: s["reason"] for s in document["files_skipped"]}
    assert set(reasons) == {"b.jsonl", "notes.txt", "labels.jsonl"}
    assert "outside the layout <endpoint>/<variant>/yyyy/mm/dd/hh/" in reasons["b.jsonl"]
    assert "--flat" in reasons["b.jsonl"] and "--ground-truth" in reasons["labels.jsonl"]
    assert f"not read: {folder / 'b.jsonl'}: outside the layout" in laid_out.stderr
    # And with --flat the top-level file is read too
    flat = CliRunner().invoke(cli, [*where, str(tmp_path / "o2"), "--flat", str(folder)])
    assert flat.exit_code == 0, flat.output
    assert (json.loads(flat.stdout)["rows"], json.loads(flat.stdout)["files"]) == (5, 2)
    assert set(json.loads(flat.stdout)) == {
        "status", "records", "rows", "quarantined", "rows_without_prediction", "files", "files_unreadable",
        "files_skipped", "hints", "output",
    }  # fmt: skip
