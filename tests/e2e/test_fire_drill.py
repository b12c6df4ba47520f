"""`modelwatch fire-drill --local`: the alert path proved end to end on a fresh embedded stack, as CI runs it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from modelwatch_cli.main import cli, main

pytestmark = pytest.mark.slow


def test_fire_drill_on_the_local_stack_passes_every_hop_and_exits_0() -> None:
    # When the drill runs against a fresh embedded stack with a demo model registered
    result = CliRunner().invoke(cli, ["fire-drill", "--model", "car-loan", "--local"])

    # Then it exits 0, and every hop printed says ok, down to the clean-up
    assert result.exit_code == 0, result.output
    hops = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert hops and all(line.lstrip().startswith("ok") for line in hops), result.output
    assert "cleaned up" in result.output
    assert result.output.strip().endswith("every hop worked")


def test_fire_drill_of_an_unknown_model_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # When the drill (through the installed entry point) names a model the local stack does not know
    with pytest.raises(SystemExit) as exit_info:
        main(["fire-drill", "--model", "no-such-model", "--local"])

    # Then it exits 1 with one line naming the model, without a trace
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no-such-model") and "\n" not in err
