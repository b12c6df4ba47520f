"""`modelwatch replay`: re-decode a model's quarantined records with its current config (`--quarantine`), or move
dead-letter queue messages back to their source queue to be ingested again (`--dlq`).

Exit codes for --quarantine: 0 everything replayed decoded, 3 some records are still quarantined.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click

from modelwatch.clock import SystemClock
from modelwatch.errors import ConfigError
from modelwatch.ingest.redrive import METHOD_MOVE_TASK, queue_arn, redrive, route_by_target
from modelwatch.ingest.replay import LakeLedger, ReplayLedger, StateLedger, replay_quarantine
from modelwatch.state import State
from modelwatch_cli.context import OUTPUT_LAKE_BUCKET, OUTPUT_MONITOR_ARN, StackContext, stack_options
from modelwatch_cli.output import domain_output

OUTPUT_CAPTURE_QUEUE = "CaptureQueueUrl"
OUTPUT_GROUND_TRUTH_QUEUE = "GroundTruthQueueUrl"
EVENTS_DLQ = "events"
DLQ_OUTPUTS = {
    "capture": "CaptureDeadLetterQueueUrl",
    "ground-truth": "GroundTruthDeadLetterQueueUrl",
    EVENTS_DLQ: "EventsDeadLetterQueueUrl",
}
EXIT_QUARANTINED = 3


def _replay_quarantine(context: StackContext, model: str, since: datetime | None, as_json: bool) -> None:
    store = context.lake()
    state: State | None = None
    ledger: ReplayLedger
    if context.is_local_folder:
        ledger = LakeLedger(store)
    else:
        state = State(context.client("dynamodb"), context.state_table or "")
        ledger = StateLedger(state, context.output(OUTPUT_LAKE_BUCKET))
    arn = context.outputs.get(OUTPUT_MONITOR_ARN, "")
    with domain_output():
        summary = replay_quarantine(
            model,
            store=store,
            registry=context.registry(),
            ledger=ledger,
            clock=SystemClock(),
            since=since.date() if since else None,
            state=state,
            sfn_client=context.client("stepfunctions") if arn else None,
            state_machine_arn=arn,
        )
    if as_json:
        click.echo(json.dumps(summary.to_dict()))
    else:
        status = "quarantined" if summary.still_quarantined else "ok"
        click.echo(
            f"{status}: {model}: {summary.replayed_files} quarantine file(s) replayed "
            f"({summary.skipped_files} already replayed), {summary.records} records, {summary.rows} rows written, "
            f"{summary.still_quarantined} still quarantined"
        )
    if summary.still_quarantined:
        sys.exit(EXIT_QUARANTINED)


def _replay_dlq(context: StackContext, which: str, as_json: bool) -> None:
    if context.is_local_folder:
        raise ConfigError("--dlq needs a stack's queues: pass --stack, not --local")
    sqs = context.client("sqs")
    dlq_url = context.output(DLQ_OUTPUTS[which])
    if which == EVENTS_DLQ:
        _replay_events_dlq(context, sqs, dlq_url, as_json)
        return
    # The capture queue is a stack output; any DLQ's source is also found through its redrive policy.
    source = context.outputs.get(OUTPUT_CAPTURE_QUEUE) if which == "capture" else None
    with domain_output():
        result = redrive(sqs, dlq_url, source)
    if as_json:
        click.echo(json.dumps(result.__dict__))
        return
    verb = "moving" if result.method == METHOD_MOVE_TASK and result.moved else "moved"
    click.echo(f"{verb} {result.moved} message(s) from {which} dead-letter queue to {result.source_url}")


def _replay_events_dlq(context: StackContext, sqs: Any, dlq_url: str, as_json: bool) -> None:
    """The events DLQ is shared: each capture or ground-truth event goes back to the ingest queue it missed."""
    queues = {
        "capture": context.output(OUTPUT_CAPTURE_QUEUE),
        "ground-truth": context.output(OUTPUT_GROUND_TRUTH_QUEUE),
    }
    with domain_output():
        result = route_by_target(sqs, dlq_url, {queue_arn(sqs, url): url for url in queues.values()})
    if as_json:
        click.echo(json.dumps(result.__dict__))
        return
    counts = ", ".join(f"{result.moved[url]} to the {name} queue" for name, url in queues.items())
    click.echo(f"moved {sum(result.moved.values())} message(s) from events dead-letter queue ({counts})")
    if result.left:
        click.echo(
            f"{result.left} message(s) left in {dlq_url}: missed schedule deliveries (the next scheduled run covers "
            "them; read, then purge the queue to clear its alarm)"
        )


@click.command()
@click.option("--quarantine", is_flag=True, help="Re-decode quarantined records with the model's current config.")
@click.option("--model", help="The model whose quarantined records to replay (with --quarantine).")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only records quarantined on or after this day (YYYY-MM-DD).",
)
@click.option(
    "--dlq",
    type=click.Choice(sorted(DLQ_OUTPUTS)),
    is_flag=False,
    flag_value="capture",
    help="Move this dead-letter queue's messages (default: capture) back to its source queue; events: EventBridge's "
    "undelivered ingest events back to the ingest queue each missed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@stack_options
def replay(
    quarantine: bool,
    model: str | None,
    since: datetime | None,
    dlq: str | None,
    as_json: bool,
    context: StackContext,
) -> None:
    """Replay after a fix: --quarantine --model NAME re-decodes the model's quarantined records with its current
    registered config (rows that now decode go to the lake, once however often it is run); --dlq capture|ground-truth
    moves dead-letter messages back to be ingested again, --dlq events sends the capture and ground-truth events
    EventBridge could not deliver to the ingest queue each missed.

    \b
    Example:
      modelwatch replay --quarantine --model churn --stack modelwatch
    """
    if quarantine == (dlq is not None):
        raise click.UsageError("pass exactly one of --quarantine or --dlq")
    if quarantine:
        if not model:
            raise click.UsageError("--quarantine needs --model NAME")
        _replay_quarantine(context, model, since, as_json)
    else:
        _replay_dlq(context, dlq or "capture", as_json)
