"""`modelwatch status`: per model, the last analysed chunk, how far behind it is, the last error, its open incidents
and the open data-quality violations."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from modelwatch.clock import SystemClock
from modelwatch.workflow.lifecycle import model_status
from modelwatch_cli.context import StackContext, stack_options


def _lag(seconds: float | None) -> str:
    return "never analysed" if seconds is None else str(timedelta(seconds=int(seconds)))


def _left_out(row: dict[str, Any]) -> str:
    """What the model's data left out: the last published run's duplicate rows, skipped chunks and realized values
    and failed monitors; labels that matched no captured request (since the first label)."""
    data = row.get("last_run_data") or {}
    duplicates = int(data.get("rows_superseded", 0)) + int(data.get("rows_duplicate", 0))
    parts = [
        f"{count} {what}"
        for count, what in (
            (duplicates, "duplicate rows"),
            (int(row.get("labels_unmatched") or 0), "unmatched labels"),
            (int(data.get("chunks_skipped", 0)), "chunks skipped"),
            (int(data.get("realized_skipped", 0)), "realized skipped"),
            (int(data.get("failed_monitors", 0)), "monitors failed"),
        )
        if count
    ]
    return ", ".join(parts) or "nothing"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model.")
@stack_options
def status(as_json: bool, context: StackContext) -> None:
    """Show each model's last analysed chunk, lag, last run, what its data left out, last error, open incidents and
    open data-quality violations.

    \b
    Examples:
      modelwatch status --stack modelwatch-local
      modelwatch status --local run-out/ --json
    """
    rows = model_status(context.registry(), context.state(), SystemClock().now())
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo(f"no models registered in {context.stack_name}")
        return
    table = Table(title=f"status of {context.stack_name}")
    # "left out" only when a run left anything out: a clean fleet's table keeps its width.
    left_out = any(_left_out(row) != "nothing" for row in rows)
    columns = ("model", "last analysed chunk", "lag", "last run", *(("left out",) if left_out else ()), "last error")
    for column in columns:
        table.add_column(column, overflow="fold")  # a narrow terminal wraps a cell, never cuts it short
    for row in rows:
        error = row.get("last_error") or {}
        error_text = row.get("error") or (f"{error.get('Error')}: {error.get('Cause', '')[:80]}" if error else "")
        cells = [
            row["model"],
            row.get("last_analysed_chunk") or "-",
            _lag(row.get("lag_seconds")),
            row.get("last_run") or "-",
        ]
        if left_out:
            cells.append(_left_out(row))
        table.add_row(*cells, error_text)
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
    # Violations get their own table (one line each): a column of them would squeeze the status table.
    found = [(row["model"], v) for row in rows for v in row.get("open_violations") or []]
    if found:
        violations = Table(title="open data-quality violations (latest chunk of the last run)")
        for column in ("model", "chunk", "feature", "check"):
            violations.add_column(column)
        for model, violation in found:
            violations.add_row(
                model, violation["chunk_start"], violation["feature_name"], violation["constraint_check_type"]
            )
        console.print(violations)
