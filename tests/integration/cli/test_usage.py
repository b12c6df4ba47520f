"""The CLI's promises to scripts and newcomers: usage errors are one line (exit 2), every verb's --help has an
example whose options the verb has, and verbs a lake folder cannot serve do not offer --local."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from modelwatch_cli.main import COMMANDS, cli, main


def _commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name in sorted(COMMANDS):
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        found.append((name, command))
        if isinstance(command, click.Group):
            found.extend((f"{name} {sub}", command.commands[sub]) for sub in sorted(command.commands))
    return found


@pytest.mark.parametrize(("path", "command"), _commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_verbs_help_has_an_example_using_its_own_options(path: str, command: click.Command) -> None:
    # When a verb's help is shown
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    # Then it has an example of this verb, and every option the example uses is one of the verb's
    examples = re.findall(r"^\s+(modelwatch .*)$", result.output.split("Example", 1)[-1], flags=re.MULTILINE)
    assert examples, result.output
    assert all(example.startswith(f"modelwatch {path}") for example in examples)
    if isinstance(command, click.Group):
        return  # a group's example runs one of its subcommands, checked on its own
    options = {o for param in command.params for o in [*param.opts, *param.secondary_opts]}
    own = [re.split(r"#|&&|\|", example)[0] for example in examples]  # not what a shell runs after it
    used = {o for example in own for o in re.findall(r"(?<=\s)--[a-z-]+", example)}
    assert used <= options, used - options


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["status", "--bogus"], "--bogus"),
        (["backfill", "--local", "lake"], "--local"),
        (["teardown", "--local", "lake"], "--local"),
        (["run", "--model", "missing.yaml"], "--model"),
        (["nosuch"], "nosuch"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    # When the CLI is called wrongly (unknown option, --local where no lake folder can serve, a missing file)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    # Then it exits 2 with one line naming what is wrong and where the help is
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and named in err and "--help" in err


def test_no_stack_at_all_is_a_usage_error(tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    # Given no samconfig.toml and no stack named
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as exited:
        main(["models"])
    # Then the verb says how to name one (exit 2)
    assert exited.value.code == 2
    assert "pass --stack NAME" in capsys.readouterr().err
