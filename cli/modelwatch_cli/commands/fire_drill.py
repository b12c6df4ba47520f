"""`modelwatch fire-drill`: prove the alert path end to end (metric, alarm, both topics) and clean up."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from modelwatch.errors import PublishError
from modelwatch_cli.context import OUTPUT_NOTIFICATIONS_TOPIC, OUTPUT_PUBLISH_FUNCTION, StackContext, resolve_context
from modelwatch_cli.local.drill import POLL_SECONDS, DrillReport, DrillTarget, local_target, run_fire_drill


def aws_target(context: StackContext, timeout_seconds: float) -> DrillTarget:
    """A deployed stack as a drill target: the PublishFunction invoked with Lambda, alarms polled in wall time."""
    lambda_client = context.client("lambda")
    function = context.output(OUTPUT_PUBLISH_FUNCTION)

    def invoke(payload: dict[str, Any]) -> Any:
        response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            error = body if isinstance(body, dict) else {}
            raise PublishError(f"{function} failed: {error.get('errorType')}: {error.get('errorMessage')}")
        return body

    def next_minute() -> None:
        now = datetime.now(UTC)
        time.sleep(60 - now.second - now.microsecond / 1e6 + 1)

    return DrillTarget(
        cloudwatch=context.client("cloudwatch"),
        sns=context.client("sns"),
        sqs=context.client("sqs"),
        alarms=context.alarm_settings(),
        notifications_topic_arn=context.output(OUTPUT_NOTIFICATIONS_TOPIC),
        invoke_publish=invoke,
        settle=lambda: time.sleep(POLL_SECONDS),
        next_minute=next_minute,
        timeout_seconds=timeout_seconds,
    )


def _local_drill(model: str, timeout_seconds: float) -> DrillReport:
    """A fresh embedded stack with the demo model registered, drilled."""
    import io

    from modelwatch_cli.local.demo import register_demo_models
    from modelwatch_cli.local.stack import LocalStack

    with LocalStack(log_stream=io.StringIO()) as stack:
        register_demo_models(stack, [model])
        stack.run_until_idle()
        with stack.quiet():
            return run_fire_drill(local_target(stack, timeout_seconds), model)


@click.command("fire-drill")
@click.option("--model", required=True, help="The registered model whose alert path is drilled.")
@click.option("--stack", help="Deployed stack name (default: stack_name in samconfig.toml).")
@click.option("--region", help="AWS region of the stack.")
@click.option("--endpoint-url", help="AWS endpoint (e.g. the local stack's moto server).")
@click.option("--profile", help="AWS profile.")
@click.option(
    "--local",
    "local",
    is_flag=True,
    help="Drill a fresh embedded stack instead (MODEL: a demo model: car-loan, credit-card, car-price).",
)
@click.option("--timeout", default=300.0, show_default=True, help="Seconds each hop may take.")
def fire_drill(
    model: str,
    stack: str | None,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    local: bool,
    timeout: float,
) -> None:
    """Inject a synthetic degradation marked as a drill, wait for the alarm and both messages to reach SNS (through
    a temporary subscription), print each hop with its latency, clean up; exit 0 only if every hop worked.

    The model's real metrics, incidents and reports are untouched: the drill publishes to its own metric, which
    only the drill's temporary alarm watches (same settings and actions as the model's alarm).

    \b
    Example:
      modelwatch fire-drill --stack modelwatch --model churn
    """
    if local:
        report = _local_drill(model, min(timeout, 60.0))
    else:
        context = resolve_context(stack=stack, region=region, endpoint_url=endpoint_url, profile=profile)
        report = run_fire_drill(aws_target(context, timeout), model)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)
