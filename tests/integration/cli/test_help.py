"""`--help` of the backfill, replay and report verbs through the `modelwatch` group (lazy registration)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelwatch_cli.main import cli


@pytest.mark.parametrize(
    ("verb", "options"),
    [
        ("backfill", ["--prefix", "--ground-truth", "--since", "--dry-run", "--stack"]),
        ("replay", ["--quarantine", "--model", "--since", "--dlq", "--local"]),
        ("report", ["--run", "--output", "--open", "--list", "--local"]),
    ],
)
def test_each_verb_is_registered_with_its_help(verb: str, options: list[str]) -> None:
    assert verb in CliRunner().invoke(cli, ["--help"]).output
    result = CliRunner().invoke(cli, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert all(option in result.output for option in options)


def test_version_names_the_package_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"modelwatch, version {version('modelwatch')}"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--rows-per-hour", "0"], "--rows-per-hour"),
        (["--hours", "-1"], "--hours"),
        (["--hours", "2"], "--hours"),
    ],
)
def test_demo_arguments_it_cannot_run_with_are_usage_errors(arguments: list[str], named: str, tmp_path: Path) -> None:
    # When the demo is asked for no rows, negative hours or too few hours for its story
    result = CliRunner().invoke(cli, ["demo", "--output", str(tmp_path / "out"), *arguments])
    # Then it is a usage error (exit 2) naming the option, before anything runs
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert not (tmp_path / "out").exists()
