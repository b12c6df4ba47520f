"""`modelwatch report`: download a model's latest (or a given) run's HTML report from the lake, or list its runs."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path

import click

from modelwatch.errors import RegistryError
from modelwatch.lake.reports import console_link, find_report, list_report_runs, standalone_report
from modelwatch.lake.store import S3Store
from modelwatch_cli.context import StackContext, stack_options


@click.command()
@click.argument("model")
@click.option("--run", "run_id", help="The run id (default: the latest run with a report).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the report (default: ./<model>-<run>.html).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the downloaded report in a web browser.")
@click.option(
    "--list", "list_runs", is_flag=True, help="List the model's runs with reports and when they were written."
)
@click.option("--json", "as_json", is_flag=True, help="With --list: one JSON object per run.")
@stack_options
def report(
    model: str,
    run_id: str | None,
    output: Path | None,
    open_browser: bool,
    list_runs: bool,
    as_json: bool,
    context: StackContext,
) -> None:
    """Download MODEL's HTML performance report (the latest run's, or --run's) and print where it is.

    \b
    Examples:
      modelwatch report churn --stack modelwatch --open
      modelwatch report churn --local run-out/ --list
    """
    store = context.lake()
    if model not in context.registry().names():
        raise RegistryError(f"model {model!r} is not registered in {context.stack_name}")
    if list_runs:
        runs = list_report_runs(store, model)
        for run in runs:
            written = run.written.isoformat() if run.written else "-"
            if as_json:
                click.echo(json.dumps({"model": model, "run_id": run.run_id, "written": written, "key": run.key}))
            else:
                click.echo(f"{written}  {run.run_id}")
        if not runs and not as_json:
            click.echo(f"no reports for {model} yet")
        return
    found = find_report(store, model, run_id)
    target = output or Path(f"{model}-{found.run_id}.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(standalone_report(store, found.key))  # one file: the shared plotly.js inlined (#20)
    click.echo(str(target))
    if isinstance(store, S3Store):
        click.echo(f"{store.uri(found.key)}  {console_link(store.bucket, found.key, store.client.meta.region_name)}")
    if open_browser:
        webbrowser.open(target.resolve().as_uri())
