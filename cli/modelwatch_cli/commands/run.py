"""`modelwatch run`: the embedded pipeline on your own capture and ground-truth folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from modelwatch.errors import ModelwatchError
from modelwatch_cli.inputs import echo_skipped
from modelwatch_cli.output import captured_warnings


@click.command()
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Model config YAML (reference data path relative to it).",
)
@click.option(
    "--captures",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of SageMaker capture files in <endpoint>/<variant>/yyyy/mm/dd/hh/ folders (searched recursively).",
)
@click.option(
    "--flat",
    is_flag=True,
    help="The capture files need not be in hour folders: each is filed by its first record's inference time.",
)
@click.option(
    "--ground-truth",
    "ground_truth",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of ground-truth merge files (searched recursively).",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where metrics.jsonl, constraint_violations.jsonl, notifications.jsonl, results, reports and summary.json go.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary (summary.json) as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no final table (for scripts): errors only.")
def run(
    model_path: Path, captures: Path, ground_truth: Path | None, output: Path, flat: bool, as_json: bool, quiet: bool
) -> None:
    """Run the monitor on complete input: every chunk with enough rows is analysed, the last one too.

    Ends with where each model stands: per metric its latest estimate, the realized value where labels are known
    and the verdict (the headline of the run's report); the reports' index is reports/index.html in --output.

    \b
    Examples:
      modelwatch run --model model.yaml --captures captures/ --ground-truth labels/ --output out/
      modelwatch run --model model.yaml --captures flat-folder/ --flat --output out/ --json
    """
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from modelwatch.config.model import load_model_config
    from modelwatch_cli.local.run import claim_output, run_pipeline
    from modelwatch_cli.local.story import folder_reader, model_story, render_stories

    console = Console(stderr=True)
    with (
        claim_output(output),  # a second run into the same folder would interleave its files with this one's
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,  # progress is for people at a terminal, on stderr
        ) as bars,
    ):
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done)

        # Library warnings (nannyml's per chunk, Powertools') go to the run's log with a count, not to the console.
        with captured_warnings(output / "functions.log") as tally:
            summary = run_pipeline(
                model_path, captures, ground_truth, output, progress=progress, flat=flat, on_skipped=echo_skipped
            )
    failed = bool(summary.error or summary.execution_status != "SUCCEEDED")
    if tally and not quiet:
        click.echo(
            f"{sum(tally.values())} library warnings (nannyml, Powertools): see {output / 'functions.log'}", err=True
        )
    if as_json:
        click.echo(json.dumps(summary.to_dict(), default=str))
    if not quiet:
        skipped = len(summary.chunks_skipped)
        duplicates = summary.rows_superseded + summary.rows_duplicate
        click.echo(
            err=as_json,  # with --json, stdout holds only the JSON
            message=f"model {summary.model}: {summary.capture_files} capture files, {summary.rows_decoded} rows "
            f"decoded, {summary.records_quarantined} records quarantined, {duplicates} duplicate rows counted once, "
            f"{summary.chunks_analysed} chunks analysed, {skipped} skipped, {summary.datapoints} performance "
            f"datapoints, {summary.monitor_datapoints} drift and data-quality datapoints, {summary.violations} "
            f"constraint violations, {summary.notifications} notifications -> {output}",
        )
        if not failed and not as_json:  # the final table is for people; --json keeps stdout to the summary
            config = load_model_config(model_path)
            render_stories(Console(), [model_story(folder_reader(output), config.name, config.metrics)])
            index = output / "reports" / "index.html"
            if index.is_file():
                click.echo(f"reports: {index}")
    if failed:
        not_read = f" ({len(summary.files_skipped)} input files not read: see above)" if summary.files_skipped else ""
        raise ModelwatchError(f"monitor run failed: {summary.error or summary.execution_status}{not_read}")
