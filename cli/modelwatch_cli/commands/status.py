"""`modelwatch status`: per model, the last analysed chunk, how far behind it is, the last error and its open
incidents."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from rich.console import Console
from rich.table import Table

from modelwatch.clock import SystemClock
from modelwatch.workflow.lifecycle import model_status
from modelwatch_cli.context import StackContext, stack_options


def _lag(seconds: float | None) -> str:
    return "never analysed" if seconds is None else str(timedelta(seconds=int(seconds)))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model.")
@stack_options
def status(as_json: bool, context: StackContext) -> None:
    """Show each model's last analysed chunk, lag, last run, last error and open incidents."""
    rows = model_status(context.registry(), context.state(), SystemClock().now())
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo(f"no models registered in {context.stack_name}")
        return
    table = Table(title=f"status of {context.stack_name}")
    for column in ("model", "last analysed chunk", "lag", "last run", "last error"):
        table.add_column(column)
    for row in rows:
        error = row.get("last_error") or {}
        error_text = row.get("error") or (f"{error.get('Error')}: {error.get('Cause', '')[:80]}" if error else "")
        table.add_row(
            row["model"],
            row.get("last_analysed_chunk") or "-",
            _lag(row.get("lag_seconds")),
            row.get("last_run") or "-",
            error_text,
        )
    console = Console()
    console.print(table)
    incidents = Table(title="open incidents")
    for column in ("model", "kind", "since", "metrics in alert", "pages"):
        incidents.add_column(column)
    for row in rows:
        for incident in row.get("open_incidents", []):
            incidents.add_row(
                row["model"],
                str(incident.get("kind")),
                str(incident.get("since")),
                ", ".join(incident.get("metrics") or []) or "-",
                "yes" if incident.get("paging") else "no (notice)",
            )
    if incidents.row_count:
        console.print(incidents)
    else:
        console.print("no open incidents")
