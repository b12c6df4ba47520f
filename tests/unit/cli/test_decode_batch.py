"""`modelwatch decode` of batch transform files: a job's .out file, and Model Monitor's merged records in their hour
folder (they carry no inference time), into a lake folder."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import yaml
from click.testing import CliRunner

from modelwatch.lake.reader import read_rows
from modelwatch.lake.store import LocalStore
from modelwatch_cli.main import cli
from tests.helpers import EVENTS
from tests.unit.capture.conftest import CAR_LOAN_FEATURES

BATCH = EVENTS / "batch_transform"
MODEL = {
    "name": "car_loan_batch",
    "endpoint": "car-loan-batch",
    "problem_type": "binary_classification",
    "features": CAR_LOAN_FEATURES,
    "output": {"format": "csv", "columns": ["y_pred_proba"]},
    "batch_transform": {"capture": "s3://capture/datacapture/car-loan-batch"},
}


def test_a_transform_output_file_and_merged_records_decode(tmp_path: Path) -> None:
    # Given the batch model, a job's .out file and Model Monitor's merged records in their hour folder
    model = tmp_path / "model.yaml"
    model.write_text(yaml.safe_dump(MODEL))
    out = tmp_path / "car-loan-2024-03-01.csv.out"
    shutil.copy(BATCH / "car-loan-2024-03-01.csv.out", out)
    hour = tmp_path / "merge" / "schedule" / "2024" / "03" / "02" / "07"
    hour.mkdir(parents=True)
    merged = hour / "part-00000.c000.jsonl"
    shutil.copy(BATCH / "merged_csv.jsonl", merged)
    lake = tmp_path / "lake"

    # When both are decoded into a lake folder
    result = CliRunner().invoke(cli, ["decode", "--model", str(model), "--output", str(lake), str(out), str(merged)])

    # Then every record is a row: the .out file's at the job's time, the merged ones at their folder's hour
    assert result.exit_code == 0, result.output
    rows = read_rows(LocalStore(lake), "captures", "car_loan_batch").sort("inference_time")
    assert rows.height == 8
    assert set(rows["inference_time"].to_list()) == {
        datetime(2024, 3, 1, 10, 5, 12, tzinfo=UTC),
        datetime(2024, 3, 2, 7, tzinfo=UTC),
    }
    assert rows["car_value"].null_count() == 0 and rows["y_pred_proba"].null_count() == 0
