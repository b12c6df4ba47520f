"""`modelwatch models`: the registered models."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from modelwatch_cli.context import StackContext, stack_options


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON lines.")
@stack_options
def models(as_json: bool, context: StackContext) -> None:
    """List the registered models with their endpoint, problem type, chunking and metrics.

    \b
    Examples:
      modelwatch models --stack modelwatch-local
      modelwatch models --local run-out/ --json
    """
    configs = context.registry().list()
    if as_json:
        for config in configs:
            click.echo(json.dumps(config.model_dump(mode="json")))
        return
    if not configs:
        click.echo(f"no models registered in {context.stack_name}")
        return
    table = Table(title=f"models in {context.stack_name}")
    for column in ("model", "endpoint/variant", "problem type", "chunking", "metrics"):
        table.add_column(column)
    for config in configs:
        chunking = config.chunking.period or f"{config.chunking.size} rows"
        table.add_row(
            config.name,
            f"{config.endpoint}/{config.variant}",
            config.problem_type.value,
            chunking,
            ", ".join(config.metrics),
        )
    Console().print(table)
