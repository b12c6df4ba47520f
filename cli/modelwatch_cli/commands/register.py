"""`modelwatch register` and `modelwatch unregister`: add a model (config, reference, alarms) or remove it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from modelwatch.config.model import load_model_config
from modelwatch.errors import ConfigError
from modelwatch.workflow.lifecycle import read_reference, register_model, unregister_model
from modelwatch_cli.context import StackContext, stack_options


@click.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference data (.parquet or .csv); overrides the config's `reference`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@stack_options
def register(config_file: Path, reference: Path | None, as_json: bool, context: StackContext) -> None:
    """Validate CONFIG_FILE and its reference data, upload both, and create the model's alarms.

    The stored config's `reference` is rewritten to the uploaded copy in the lake.

    \b
    Example:
      modelwatch register model.yaml --stack modelwatch-local
    """
    config = load_model_config(config_file)
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
