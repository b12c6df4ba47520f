"""`modelwatch status`: every model's health at once (in alert now, since when, last run, lag, label coverage), the
last error, its open incidents and the open data-quality violations."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelwatch.clock import SystemClock
from modelwatch.workflow.lifecycle import model_status
from modelwatch_cli.context import StackContext, stack_options
from modelwatch_cli.local.snapshot import folder_status


def _lag(seconds: float | None) -> str:
    return "never analysed" if seconds is None else str(timedelta(seconds=int(seconds)))


def _left_out(row: dict[str, Any]) -> str:
    """What the model's data left out: the last published run's duplicate rows, skipped chunks (and how many of them
    a step short of time deferred), realized values and failed monitors; labels that matched no captured request
    (since the first label)."""
    data = row.get("last_run_data") or {}
    duplicates = int(data.get("rows_superseded", 0)) + int(data.get("rows_duplicate", 0))
    parts = [
        f"{count} {what}"
        for count, what in (
            (duplicates, "duplicate rows"),
            (int(row.get("labels_unmatched") or 0), "unmatched labels"),
            (int(data.get("chunks_skipped", 0)), "chunks skipped"),
            (int(data.get("chunks_deferred", 0)), "deferred to the next run"),
            (int(data.get("realized_skipped", 0)), "realized skipped"),
            (int(data.get("failed_monitors", 0)), "monitors failed"),
        )
        if count
    ]
    return ", ".join(parts) or "nothing"


def health(row: dict[str, Any]) -> str:
    """One word for the model: ALERT (something in alert at its latest chunk, or an open incident), ok, never
    analysed, or error (its config cannot be read)."""
    if row.get("error"):
        return "error"
    if row.get("in_alert") or row.get("open_incidents"):
        return "ALERT"
    return "ok" if row.get("last_run") else "never analysed"


def _alerting(row: dict[str, Any], shown: int = 3) -> str:
    names = list(row.get("in_alert") or [])
    names.extend(m for i in row.get("open_incidents") or [] for m in i.get("metrics") or [] if m not in names)
    return ", ".join(names[:shown]) + (f" +{len(names) - shown} more" if len(names) > shown else "") or "-"


def _since(row: dict[str, Any]) -> str:
    """When the alert began (the oldest open incident's start, else the first chunk of the unbroken alert), to the
    minute; the full ISO time is in --json."""
    opened = [str(i["since"]) for i in row.get("open_incidents") or [] if i.get("since")]
    since = min(opened) if opened else row.get("alert_since")
    return str(since).replace("T", " ")[:16] if since else "-"


def _coverage(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0%}"


def _rows(context: StackContext) -> tuple[list[dict[str, Any]], str]:
    """Every model's status row, and what the table is titled: a stack's from its state table (now); a folder's
    from what `run`/`demo` left there (as of the end of that run), else from its registry alone."""
    registry = context.registry()
    if not context.is_local_folder:
        return model_status(registry, context.state(), SystemClock().now()), f"status of {context.stack_name}"
    left = folder_status(context.lake())
    missing = [n for n in registry.names() if n not in left]
    rows = [*left.values(), *(r for r in model_status(registry, None, SystemClock().now()) if r["model"] in missing)]
    as_of = sorted({str(r["as_of"]) for r in left.values() if r.get("as_of")})
    title = f"status of {context.lake_dir}" + (f" as of {as_of[-1]}" if as_of else "")
    return sorted(rows, key=lambda r: str(r["model"])), title


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model (a line each).")
@stack_options
def status(as_json: bool, context: StackContext) -> None:
    """Show every model's health at once: in alert now (what, since when), last run, lag, label coverage, what its
    data left out, last error; then open incidents and open data-quality violations.

    With --local DIR, a folder written by `modelwatch run` or `demo`: the status as of the end of that run.

    \b
    Examples:
      modelwatch status --stack modelwatch-local
      modelwatch status --local run-out/ --json
    """
    rows, title = _rows(context)
    if as_json:
        for row in rows:
            click.echo(json.dumps({**row, "health": health(row)}, default=str))
        return
    if not rows:
        click.echo(f"no models registered in {context.stack_name if not context.is_local_folder else context.lake_dir}")
        return
    table = Table(title=title)
    # "left out" only when a run left anything out: a clean fleet's table keeps its width.
    left_out = any(_left_out(row) != "nothing" for row in rows)
    columns = (
        "model",
        "health",
        "in alert",
        "since",
        "last run",
        "lag",
        "label coverage",
        *(("left out",) if left_out else ()),
    )
    for column in columns:
        table.add_column(column, overflow="fold")  # a narrow terminal wraps a cell, never cuts it short
    errors: list[str] = []
    for row in rows:
        error = row.get("last_error") or {}
        error_text = row.get("error") or (f"{error.get('Error')}: {error.get('Cause', '')[:80]}" if error else "")
        if error_text:
            errors.append(f"{row['model']}: {error_text}")
        cells = [
            row["model"],
            health(row),
            _alerting(row),
            _since(row),
            row.get("last_run") or "-",
            _lag(row.get("lag_seconds")),
            _coverage(row.get("label_coverage")),
        ]
        if left_out:
            cells.append(_left_out(row))
        table.add_row(*(escape(str(cell)) for cell in cells))  # names like "drift x [income]" are not markup
    console = Console()
    console.print(table)
    # Errors below the table, a line each: a column of them would squeeze the health columns on a terminal.
    for line in errors:
        console.print(f"last error: {escape(line)}", overflow="fold", soft_wrap=True)
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
