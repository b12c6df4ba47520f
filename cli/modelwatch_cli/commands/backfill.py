"""`modelwatch backfill`: ingest an existing capture (or ground-truth) prefix of the stack's capture bucket through
the ingest functions' own domain calls; objects already recorded in the state table are skipped.

Exit codes (like `decode`): 0 all ingested or skipped, 3 some records were quarantined, 1 some objects failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial

import click

from modelwatch.clock import SystemClock
from modelwatch.ingest.backfill import BackfillSummary, backfill_objects, list_objects
from modelwatch.ingest.events import ObjectRef
from modelwatch.ingest.service import ingest_capture_object, ingest_ground_truth_object
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch_cli.context import OUTPUT_MONITOR_ARN, OUTPUT_STATE_TABLE, StackContext, stack_only_options
from modelwatch_cli.output import domain_output

OUTPUT_CAPTURE_BUCKET = "CaptureBucketName"
PARAMETER_CAPTURE_PREFIX = "CapturePrefix"
PARAMETER_GROUND_TRUTH_PREFIX = "GroundTruthPrefix"
EXIT_FAILED = 1
EXIT_QUARANTINED = 3


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[ObjectRef], None]]:
    if not enabled:
        yield lambda ref: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("ingesting", total=total)
        yield lambda ref: progress.advance(task)


def summary_line(summary: BackfillSummary, where: str) -> str:
    status = "failed" if summary.failed else ("quarantined" if summary.quarantined else "ok")
    return (
        f"{status}: {summary.objects} objects, {summary.rows} rows, {summary.quarantined} quarantined, "
        f"{summary.skipped} skipped, {summary.failed} failed ({where})"
    )


@click.command()
@click.option("--prefix", help="Key prefix to ingest (default: the stack's CapturePrefix or GroundTruthPrefix).")
@click.option("--ground-truth", is_flag=True, help="The objects are ground-truth (labels), not captures.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only objects whose hour folder (else LastModified) is on or after this day (YYYY-MM-DD).",
)
@click.option("--dry-run", is_flag=True, help="List what would be ingested; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@stack_only_options  # no --local: a lake folder has no capture bucket (`decode` reads local files)
def backfill(
    prefix: str | None,
    ground_truth: bool,
    since: datetime | None,
    dry_run: bool,
    as_json: bool,
    context: StackContext,
) -> None:
    """Ingest the objects already under a prefix of the stack's capture bucket, as the ingest function would.

    Re-running is safe: objects already ingested are skipped. A failing object is reported and counted; the
    backfill goes on. Exit 0 when done, 3 when records were quarantined, 1 when objects failed.

    \b
    Example:
      modelwatch backfill --stack modelwatch --since 2026-03-01 --dry-run
    """
    bucket = context.output(OUTPUT_CAPTURE_BUCKET)
    parameter = PARAMETER_GROUND_TRUTH_PREFIX if ground_truth else PARAMETER_CAPTURE_PREFIX
    prefix = context.parameters.get(parameter, "") if prefix is None else prefix
    s3 = context.client("s3")
    state = State(context.client("dynamodb"), context.output(OUTPUT_STATE_TABLE))
    refs = list(list_objects(s3, bucket, prefix, since.date() if since else None))
    where = f"s3://{bucket}/{prefix}"
    if dry_run:
        done = sum(1 for ref in refs if state.objects.is_processed(ref.bucket, ref.key, ref.version))
        click.echo(
            f"dry run: {len(refs)} objects under {where}, {done} already processed, {len(refs) - done} to ingest"
        )
        return
    store = context.lake()
    common = {
        "s3_client": s3,
        "store": store,
        "state": state,
        # Cached like a warm Lambda's: one registry read per minute, not per object.
        "registry": Registry(store),
        "clock": SystemClock(),
        "sfn_client": context.client("stepfunctions") if context.outputs.get(OUTPUT_MONITOR_ARN) else None,
        "state_machine_arn": context.outputs.get(OUTPUT_MONITOR_ARN, ""),
    }
    ingest = (
        partial(ingest_ground_truth_object, **common)
        if ground_truth
        else partial(
            ingest_capture_object, **common, capture_prefix=context.parameters.get(PARAMETER_CAPTURE_PREFIX, "")
        )
    )
    with _progress(len(refs), sys.stderr.isatty() and not as_json) as advance, domain_output():
        summary = backfill_objects(refs, ingest, advance)
    for failure in summary.failures:
        click.echo(f"error: {failure.key}: {failure.error}", err=True)
    click.echo(json.dumps(summary.to_dict()) if as_json else summary_line(summary, where))
    if summary.failed:
        sys.exit(EXIT_FAILED)
    if summary.quarantined:
        sys.exit(EXIT_QUARANTINED)
