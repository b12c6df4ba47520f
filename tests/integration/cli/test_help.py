"""`--help` of the backfill, replay and report verbs through the `modelwatch` group (lazy registration)."""

from __future__ import annotations

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
