"""The `modelwatch` command: one click group; each verb lives in its own module under modelwatch_cli.commands."""

from __future__ import annotations

import importlib
import os
import sys

import click

from modelwatch.constants import ALLOCATOR_ENVIRONMENT
from modelwatch.errors import ModelwatchError

# Before LightGBM loads (demo/run fit DLE in this process): spin-waiting OpenMP threads slow repeated fits badly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
for _name, _value in ALLOCATOR_ENVIRONMENT.items():  # before polars and pyarrow load: freed memory returned at once
    os.environ.setdefault(_name, _value)

# (module, command attribute): each module defines one click command; imported lazily so `--help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


def register_command(name: str, module: str, attribute: str) -> None:
    COMMANDS[name] = (module, attribute)


# Verbs: name -> module:attribute. Add yours here (one line each).
register_command("decode", "modelwatch_cli.commands.decode", "decode")
register_command("compact", "modelwatch_cli.commands.compact", "compact")
register_command("enable-bucket-events", "modelwatch_cli.commands.bucket_events", "enable_bucket_events")
register_command("demo", "modelwatch_cli.commands.demo", "demo")
register_command("run", "modelwatch_cli.commands.run", "run")
register_command("local", "modelwatch_cli.commands.local", "local")
register_command("register", "modelwatch_cli.commands.register", "register")
register_command("unregister", "modelwatch_cli.commands.register", "unregister")
register_command("models", "modelwatch_cli.commands.models", "models")
register_command("status", "modelwatch_cli.commands.status", "status")
register_command("backfill", "modelwatch_cli.commands.backfill", "backfill")
register_command("replay", "modelwatch_cli.commands.replay", "replay")
register_command("report", "modelwatch_cli.commands.report", "report")
register_command("compare", "modelwatch_cli.commands.compare", "compare")
register_command("teardown", "modelwatch_cli.commands.teardown", "teardown")
register_command("baseline", "modelwatch_cli.commands.baseline", "baseline")
register_command("fire-drill", "modelwatch_cli.commands.fire_drill", "fire_drill")
register_command("import-baseline", "modelwatch_cli.commands.import_baseline", "import_baseline")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelwatch", prog_name="modelwatch")
@click.option("--verbose", is_flag=True, help="Show full tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """modelwatch: watch SageMaker models' performance without waiting for labels.

    \b
    Examples:
      modelwatch run --model model.yaml --captures captures/ --output out/
      modelwatch status --stack modelwatch-local
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


def main(argv: list[str] | None = None) -> None:
    """Entry point: errors become one clear line (exit 1) unless --verbose; usage errors one line too, exit 2."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args
    try:
        code = cli.main(args=args, prog_name="modelwatch", standalone_mode=False)
        # Without standalone mode click returns a command's `ctx.exit(code)` instead of exiting with it.
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        # One line (click prints the usage and a hint over three): the error, and where the verb's help is.
        command = exc.ctx.command_path if exc.ctx is not None else "modelwatch"
        click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except ModelwatchError as exc:
        if verbose:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # the last line of defence: one clear line, trace with --verbose
        if verbose:
            raise
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
