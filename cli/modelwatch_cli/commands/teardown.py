"""`modelwatch teardown`: remove what CloudFormation does not own (the per-model alarms) before or after `sam delete`.

Per-model alarms are created by `modelwatch register` at runtime, so `sam delete` leaves them behind; this deletes
every alarm tagged with the stack (never another stack's alarms, even when names share a prefix).
"""

from __future__ import annotations

import json

import click

from modelwatch.publishing.alarms import delete_all_model_alarms
from modelwatch_cli.context import StackContext, stack_only_options


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the deleted alarm names as JSON.")
@stack_only_options
def teardown(as_json: bool, context: StackContext) -> None:
    """Delete the stack's per-model alarms (they are not part of the CloudFormation stack).

    \b
    Example:
      modelwatch teardown --stack modelwatch && sam delete --stack-name modelwatch
    """
    deleted = delete_all_model_alarms(context.client("cloudwatch"), context.stack_name)
    if as_json:
        click.echo(json.dumps({"stack": context.stack_name, "deleted_alarms": deleted}))
        return
    for name in deleted:
        click.echo(f"deleted alarm {name}")
    click.echo(f"{len(deleted)} per-model alarm(s) of stack {context.stack_name} deleted")
