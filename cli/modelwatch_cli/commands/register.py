"""`modelwatch register` and `modelwatch unregister`: add a model (config, reference, alarms) or remove it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from modelwatch.clock import to_utc
from modelwatch.config.model import load_model_config
from modelwatch.errors import ConfigError
from modelwatch.workflow.lifecycle import read_reference, register_model, unregister_model
from modelwatch.workflow.versions import add_version
from modelwatch_cli.context import StackContext, stack_options


@click.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference data (.parquet or .csv); overrides the config's `reference`.",
)
@click.option(
    "--version",
    "version",
    help="Add this version of the model (registered already) behind its endpoint, with --reference as its own "
    "reference; its chunks never mix with the last version's. The rest of CONFIG_FILE is not re-read.",
)
@click.option(
    "--from",
    "effective_from",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%S"]),
    help="With --version: when it went (or goes) live, UTC (2026-12-07T10:30:00Z). Without it the version is "
    "pending and goes live when the endpoint's next update completes (SageMaker's event on EventBridge).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@stack_options
def register(
    config_file: Path,
    reference: Path | None,
    version: str | None,
    effective_from: datetime | None,
    as_json: bool,
    context: StackContext,
) -> None:
    """Validate CONFIG_FILE and its reference data, upload both, and create the model's alarms; or, with
    --version, add a version of the registered model.

    The stored config's `reference` is rewritten to the uploaded copy in the lake.

    \b
    Examples:
      modelwatch register model.yaml --stack modelwatch-local
      modelwatch register model.yaml --version v2 --reference reference-v2.parquet --stack modelwatch
    """
    config = load_model_config(config_file)
    if version is not None:
        _register_version(config.name, version, reference, effective_from, as_json, context)
        return
    if effective_from is not None:
        raise click.UsageError("--from goes with --version")
    location = str(reference) if reference is not None else config.reference
    if not location:
        raise ConfigError(f"{config_file}: reference: no reference data (set `reference` or pass --reference)")
    data = read_reference(location, None if context.is_local_folder else context.client("s3"))
    if context.is_local_folder:
        result = register_model(context.registry(), config, data)
    else:
        result = register_model(
            context.registry(),
            config,
            data,
            cloudwatch=context.client("cloudwatch"),
            alarms=context.alarm_settings(),
            s3_client=context.client("s3"),
        )
    for warning in result.get("reference_warnings", []):
        click.echo(f"warning: {warning}", err=True)  # on stderr: --json's stdout stays one object
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"registered {result['model']}: reference {result['reference']} ({result['reference_rows']} rows), "
        f"{len(result['alarms'])} alarm(s)"
    )


def _register_version(
    model: str,
    version: str,
    reference: Path | None,
    effective_from: datetime | None,
    as_json: bool,
    context: StackContext,
) -> None:
    data = None
    if reference is not None:
        data = read_reference(str(reference), None if context.is_local_folder else context.client("s3"))
    when = to_utc(effective_from) if effective_from is not None else None
    result = add_version(context.registry(), model, version, data, when)
    for warning in result["reference_warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(result))
        return
    live = f"live from {result['from']}" if result["from"] else "pending: live when the endpoint's next update ends"
    source = f"reference {result['reference']} ({result['reference_rows']} rows)" if data else "no reference"
    click.echo(f"registered {model} version {version}: {live}; {source}")
    if data is None:
        click.echo(f"warning: version {version} has no reference: its chunks are reported, not estimated", err=True)


@click.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@stack_options
def unregister(name: str, yes: bool, context: StackContext) -> None:
    """Remove model NAME: config, reference, fitted estimators, state items and alarms (lake data stays).

    \b
    Example:
      modelwatch unregister churn --stack modelwatch --yes
    """
    if not yes:
        click.confirm(f"unregister {name} from {context.stack_name}?", abort=True)
    if context.is_local_folder:
        result = unregister_model(context.registry(), name)
    else:
        result = unregister_model(
            context.registry(),
            name,
            state=context.state(),
            cloudwatch=context.client("cloudwatch"),
            stack=context.stack_name,
        )
    click.echo(
        f"unregistered {name}: {len(result['objects'])} object(s), {result['state_items']} state item(s), "
        f"{len(result['alarms'])} alarm(s) removed"
    )
