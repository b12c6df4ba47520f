"""`modelwatch compact`: merge a day's small lake files per partition (what CompactFunction does daily)."""

from __future__ import annotations

import json
from datetime import date

import click

from modelwatch.clock import SystemClock
from modelwatch.lake.compaction import CompactRequest, run_compaction
from modelwatch.lake.reader import lake_models
from modelwatch_cli.context import StackContext, stack_options
from modelwatch_cli.output import domain_output


@click.command()
@click.option("--model", help="Only this model (default: every registered model).")
@click.option("--dt", type=click.DateTime(formats=["%Y-%m-%d"]), help="The day to compact (YYYY-MM-DD).")
@click.option("--days-ago", type=click.IntRange(min=0), help="The day to compact, counted back from today (UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@stack_options
def compact(model: str | None, dt: object, days_ago: int | None, as_json: bool, context: StackContext) -> None:
    """Compact one day of captures and ground truth into few large files per hour, with manifests readers honour.

    Defaults to yesterday. Works on a deployed stack's lake or, with --local DIR, on a lake folder.

    \b
    Examples:
      modelwatch compact --stack modelwatch --dt 2026-03-01
      modelwatch compact --local out/ --days-ago 0 --json
    """
    day: date | None = dt.date() if dt is not None else None  # type: ignore[attr-defined]
    request = CompactRequest(model=model, dt=day, days_ago=None if day else (1 if days_ago is None else days_ago))
    store = context.lake()
    models = context.registry().names()
    if not models and context.is_local_folder:
        models = lake_models(store)  # a folder written by `modelwatch decode` has no registry
    state = context.state()
    lease = state.leases if state is not None else None
    with domain_output():  # the compaction's own logs are for CloudWatch, not for the script reading stdout
        summary = run_compaction(request, store=store, models=models, lease=lease, clock=SystemClock())
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(
        f"{summary['day']}: {summary['compacted']} of {summary['partitions']} partitions compacted, "
        f"{summary['files_replaced']} files replaced, {summary['rows']} rows "
        f"({', '.join([model] if model else models) or 'no models'})"
    )
