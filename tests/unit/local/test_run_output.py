"""`modelwatch run` holds its output folder: a second run into a folder in use is refused, a finished one frees it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelwatch.errors import OutputInUseError
from modelwatch_cli.inputs import find_inputs
from modelwatch_cli.local.run import _execution_error, claim_output, filed_key
from modelwatch_cli.main import main
from tests.unit.ingest.helpers import capture_file, churn_config


def test_a_second_claim_of_a_folder_in_use_is_refused_naming_the_holder(tmp_path: Path) -> None:
    # Given a run writing into a folder
    with claim_output(tmp_path / "out"):
        # When another run claims it, then it is refused with the folder and the holding process named
        held = rf"out: in use by another modelwatch run \(process {os.getpid()}\)"
        with pytest.raises(OutputInUseError, match=held), claim_output(tmp_path / "out"):
            pass
        # And another folder is free
        with claim_output(tmp_path / "other"):
            pass
    # And once the first run is done, the folder can be claimed again
    with claim_output(tmp_path / "out"):
        pass


def test_modelwatch_run_into_a_folder_in_use_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model, captures and an output folder another run holds
    (tmp_path / "model.yaml").write_text("name: m\n")
    (tmp_path / "captures").mkdir()
    # When `modelwatch run` is started into it
    with claim_output(tmp_path / "out"), pytest.raises(SystemExit) as exit_info:
        main(
            [
                "run",
                "--model", str(tmp_path / "model.yaml"),
                "--captures", str(tmp_path / "captures"),
                "--output", str(tmp_path / "out"),
            ]
        )  # fmt: skip
    # Then it exits 1 with one line saying why, before reading anything
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use by another modelwatch run" in err[0] and str(tmp_path / "out") in err[0]


def test_a_failed_execution_is_one_line_with_the_functions_message_not_its_json() -> None:
    # Given an execution that failed with an empty window (Step Functions' cause is the Lambda error as JSON)
    cause = json.dumps(
        {
            "errorMessage": "model m: no complete chunk with rows in 2026-03-01T00:00Z..2026-03-02T00:00Z",
            "errorType": "EmptyWindowError",
            "stackTrace": ['  File "x", line 1\n'],
        }
    )
    described = {"status": "FAILED", "error": "EmptyWindowError", "cause": cause}
    # When the run's error is read from it
    error = _execution_error({}, described)
    # Then it is the error's name and message on one line
    assert error == "EmptyWindowError: model m: no complete chunk with rows in 2026-03-01T00:00Z..2026-03-02T00:00Z"
    # And a caught error in a succeeded execution reads the same way
    caught = _execution_error({"error": {"Error": "EmptyWindowError", "Cause": cause}}, {"status": "SUCCEEDED"})
    assert caught == error


def test_flat_files_are_filed_by_their_first_records_hour_and_dated_files_keep_theirs(tmp_path: Path) -> None:
    # Given a capture in its hour folder and one in a flat subfolder
    config = churn_config()
    dated = tmp_path / "ep" / "v" / "2024" / "03" / "01" / "10" / "a.jsonl"
    flat = tmp_path / "sub" / "b.jsonl"
    for path, when in (
        (dated, datetime(2024, 3, 1, 10, 5, tzinfo=UTC)),
        (flat, datetime(2024, 3, 1, 11, 30, tzinfo=UTC)),
    ):
        path.parent.mkdir(parents=True)
        path.write_bytes(capture_file(when, 2))
    # When the folder is read with --flat
    found, skipped = find_inputs(tmp_path, flat=True)
    keys = [filed_key(config, tmp_path, item, "datacapture/") for item in found]
    # Then both are read, each under its hour in the layout the ingest function parses
    assert skipped == []
    assert keys == [
        "datacapture/churn-endpoint/AllTraffic/2024/03/01/10/a.jsonl",
        "datacapture/churn-endpoint/AllTraffic/2024/03/01/11/sub_b.jsonl",
    ]
    # And without --flat the flat one is named as outside the layout
    found, skipped = find_inputs(tmp_path)
    assert [f.path for f in found] == [dated]
    assert [s.path for s in skipped] == [flat] and "pass --flat" in skipped[0].reason
