"""`modelwatch run` holds its output folder: a second run into a folder in use is refused, a finished one frees it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelwatch.errors import OutputInUseError
from modelwatch_cli.local.run import claim_output
from modelwatch_cli.main import main


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
