"""Library warnings during a run are counted into its log, not printed on the console."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from modelwatch_cli.output import captured_warnings


def test_library_warnings_are_counted_into_the_log_not_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run's log
    log = tmp_path / "functions.log"
    log.write_text("handler logs\n")
    # When nannyml warns the same thing per chunk (a Python warning and its logger) while captured
    with captured_warnings(log) as tally:
        for _ in range(3):
            warnings.warn("'y_true' only contains a single class for chunk, cannot calculate ROC AUC.", stacklevel=1)
        warnings.warn("No application metrics to publish.", stacklevel=1)
        logging.getLogger("nannyml.chunk").warning("The resulting number of chunks is too low.")
    # Then nothing reaches the console, and the log ends with the count of each
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert sum(tally.values()) == 5
    lines = log.read_text().splitlines()
    assert lines[:2] == ["handler logs", "library warnings: 5"]
    assert any(line.startswith("  3 x UserWarning") and "single class for chunk" in line for line in lines)
    assert any(line.startswith("  1 x WARNING nannyml.chunk: The resulting number of chunks") for line in lines)
    # And afterwards warnings are shown as before
    with pytest.warns(UserWarning):
        warnings.warn("after", stacklevel=1)
