"""`modelwatch demo`: three models and an A/B test, their captures and late labels, through the whole pipeline on
moto."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click


@click.command()
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the HTML reports, notifications and function logs go.",
)
@click.option(
    "--hours",
    type=click.IntRange(min=3),
    default=7,
    show_default=True,
    help="Hours of traffic per model: healthy, degraded, then recovered (at least one hour of each).",
)
@click.option(
    "--rows-per-hour",
    type=click.IntRange(min=100),
    default=3000,
    show_default=True,
    help="Captured rows per model and hour (at least 100: smaller hourly chunks are skipped as too small).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress and no tables (for scripts): errors only.")
def demo(output: Path, hours: int, rows_per_hour: int, quiet: bool) -> None:
    """Register three models (nannyml's car loan, credit card, car price), stream captures and late labels through a
    healthy, degraded and recovered period, then run a fire drill of the alert path. Beside them an A/B test: the
    car loan model served by a champion and a challenger variant, segmented by region, the challenger broken for
    one region only.

    Ends with where each model (each variant) stands (per metric: estimate, realized value, verdict), the A/B
    test's verdict and who is hurt, and the reports' index (reports/index.html in --output).

    \b
    Example:
      modelwatch demo --output demo-out --hours 48
    """
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from modelwatch_cli.local.demo import run_demo
    from modelwatch_cli.output import captured_warnings

    console = Console()
    status = Console(stderr=True)  # progress goes to stderr, and only to a terminal
    started = time.monotonic()
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=status, disable=quiet or not status.is_terminal) as bars:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done)

        # nannyml and Powertools warn about small chunks and empty metric sets: counted into the demo's log instead.
        with captured_warnings(output / "functions.log"):
            result = run_demo(output, hours=hours, rows_per_hour=rows_per_hour, progress=progress)
    if not quiet:
        render(console, result, time.monotonic() - started)


def render(console: object, result: object, seconds: float) -> None:
    """The final tables: estimated vs realized per chunk with alerts, alarms received, where each model stands,
    where the reports are. Columns fold to the console's width: nothing is cut."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from modelwatch_cli.local.demo import DemoResult
    from modelwatch_cli.local.story import render_stories

    assert isinstance(console, Console) and isinstance(result, DemoResult)
    metrics = ", ".join(sorted({f"{c.model}: {c.metric}" for c in result.chunks}))
    table = Table(title=f"Estimated vs realized performance per chunk (simulated time, UTC; {metrics})")
    table.add_column("model", overflow="fold")
    table.add_column("metric", overflow="fold")
    table.add_column("chunk", overflow="fold")
    table.add_column("estimated", justify="right", overflow="fold")
    table.add_column("realized", justify="right", overflow="fold")
    table.add_column("alert", overflow="fold")
    for chunk in result.chunks:
        flags = [name for name, on in (("estimate", chunk.estimated_alert), ("realized", chunk.realized_alert)) if on]
        table.add_row(
            chunk.model,
            chunk.metric,
            f"{chunk.chunk_start:%m-%d %H:%M}",
            "-" if chunk.estimated is None else f"{chunk.estimated:.3f}",
            "no labels yet" if chunk.realized is None else f"{chunk.realized:.3f}",
            f"[bold red]ALERT ({', '.join(flags)} outside the band)[/]" if flags else "",
        )
    console.print(table)
    alarms = Table(title="Alarm state changes (alarms topic -> local subscriber)")
    alarms.add_column("time", overflow="fold")
    alarms.add_column("alarm", overflow="fold")
    alarms.add_column("state", overflow="fold")
    for message in result.alarm_messages:
        if message.get("OldStateValue") == "INSUFFICIENT_DATA" and message.get("NewStateValue") == "OK":
            continue  # every alarm's first evaluation: not a story
        when = str(message.get("StateChangeTime", ""))[5:16].replace("T", " ")
        change = f"{message.get('OldStateValue')} -> {message.get('NewStateValue')}"
        alarms.add_row(when, str(message.get("AlarmName")), change)
    console.print(alarms)
    pipeline = [n for n in result.notifications if "Notifications" in n.topic_arn]
    console.print(f"pipeline notifications (incidents, failed runs, the drill): {len(pipeline)}")
    for note in pipeline:
        console.print(f"  - {note.received_at:%m-%d %H:%M}  {note.subject}")
    if result.drill is not None:
        console.print("\n".join(result.drill.lines()))
    executions = ", ".join(f"{count} {status.lower()}" for status, count in sorted(result.executions.items()))
    console.print(f"workflow executions: {executions}")
    render_stories(console, result.stories)
    for test in result.ab_tests:
        console.print(Text(f"A/B test: {test.model}", style="bold"))
        for line in test.lines(result.output):
            console.print(Text(line))
    console.print(f"HTML reports: {len(result.reports)} under {result.output / 'reports'}, "
                  f"index: {result.output / 'reports' / 'index.html'}")  # fmt: skip
    console.print(f"notifications: {result.output / 'notifications.jsonl'}   function logs: "
                  f"{result.output / 'functions.log'}")  # fmt: skip
    console.print(f"done in {seconds:.0f}s")
