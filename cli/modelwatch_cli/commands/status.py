"""`modelwatch status`: per model, the last analysed chunk, how far behind it is, and the last error."""

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


def _violations(found: list[dict[str, str]]) -> str:
    """The latest chunk's data-quality violations, `feature: check` each (at most five, then the count)."""
    if not found:
        return "-"
    shown = [f"{v['feature_name']}: {v['constraint_check_type']}" for v in found[:5]]
    more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
    return "\n".join(shown) + more


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model.")
@stack_options
def status(as_json: bool, context: StackContext) -> None:
    """Show each model's last analysed chunk, lag, last run, open data-quality violations and last error."""
    rows = model_status(context.registry(), context.state(), SystemClock().now())
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo(f"no models registered in {context.stack_name}")
        return
    table = Table(title=f"status of {context.stack_name}")
    for column in ("model", "last analysed chunk", "lag", "last run", "open violations", "last error"):
        table.add_column(column)
    for row in rows:
        error = row.get("last_error") or {}
        error_text = row.get("error") or (f"{error.get('Error')}: {error.get('Cause', '')[:80]}" if error else "")
        table.add_row(
            row["model"],
            row.get("last_analysed_chunk") or "-",
            _lag(row.get("lag_seconds")),
            row.get("last_run") or "-",
            _violations(row.get("open_violations") or []),
            error_text,
        )
    Console().print(table)
