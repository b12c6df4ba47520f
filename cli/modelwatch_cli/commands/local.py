"""`modelwatch local up`: the embedded stack behind a loopback moto server, for the AWS CLI and boto3 to inspect."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import click


@click.group()
def local() -> None:
    """The embedded local stack (moto, template.yaml, in-process handlers)."""


@local.command()
@click.option("--port", default=5000, show_default=True, help="Loopback port of the moto server.")
@click.option("--speed", default=60.0, show_default=True, help="Simulated seconds per wall second (schedules).")
@click.option(
    "--iam/--no-iam",
    default=True,
    show_default=True,
    help="Enforce IAM: each function and workflow acts as its SAM role; clients sign with the operator's keys.",
)
def up(port: int, speed: float, iam: bool) -> None:
    """Start the stack on http://127.0.0.1:PORT and keep it running until Ctrl-C."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import logging

    from moto.server import ThreadedMotoServer

    from modelwatch_cli.local.adapter import configure_server
    from modelwatch_cli.local.stack import LocalStack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request access log on the console
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        configure_server(endpoint)
        with (
            open(os.devnull, "w", encoding="utf-8") as sink,
            LocalStack(endpoint_url=endpoint, log_stream=sink, iam=iam) as stack,
        ):
            click.echo(f"endpoint: {endpoint}   (aws --endpoint-url {endpoint} s3 ls)")
            if stack.identities is not None:
                # IAM is enforced: only keys moto knows are accepted; the operator may do everything.
                keys = stack.identities.operator
                click.echo(
                    f"operator keys: export AWS_ACCESS_KEY_ID={keys.access_key_id} "
                    f"AWS_SECRET_ACCESS_KEY={keys.secret_access_key}"
                )
            for name, value in stack.outputs.items():
                click.echo(f"  {name}: {value}")
            # The stack is described as CloudFormation would describe it: every verb finds it by name.
            click.echo(
                f"modelwatch verbs: modelwatch status --stack {stack.template.stack_name} --endpoint-url {endpoint} "
                f"--region {stack.template.region}   (register, models, report, backfill, replay, compact, ...)"
            )
            click.echo("running; Ctrl-C to stop")
            while True:
                time.sleep(1.0)
                stack.advance(timedelta(seconds=speed))
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.stop()
