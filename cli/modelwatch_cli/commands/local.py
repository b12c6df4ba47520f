"""`modelwatch local up`: the embedded stack behind a loopback moto server, for the AWS CLI and boto3 to inspect."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from modelwatch_cli.registration import LocalRegistration, registered

if TYPE_CHECKING:
    from modelwatch_cli.local.stack import LocalStack


def registration_of(stack: LocalStack, endpoint_url: str) -> LocalRegistration:
    """What a running stack registers: its name, endpoint, region, operator keys, and this process."""
    keys = stack.identities.operator if stack.identities is not None else None
    return LocalRegistration(
        stack=stack.template.stack_name,
        endpoint_url=endpoint_url,
        region=stack.template.region,
        access_key_id=keys.access_key_id if keys else None,
        secret_access_key=keys.secret_access_key if keys else None,
        pid=os.getpid(),
    )


@click.group()
def local() -> None:
    """The embedded local stack (moto, template.yaml, in-process handlers).

    \b
    Example:
      modelwatch local up --port 5000
    """


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
    """Start the stack on http://127.0.0.1:PORT and keep it running until Ctrl-C.

    \b
    Example:
      modelwatch local up --port 5000   # then: modelwatch status --stack modelwatch-local
    """
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
            contextlib.ExitStack() as exits,
            open(os.devnull, "w", encoding="utf-8") as sink,
            LocalStack(endpoint_url=endpoint, log_stream=sink, iam=iam) as stack,
        ):
            click.echo(f"endpoint: {endpoint}   (aws --endpoint-url {endpoint} s3 ls)")
            keys = stack.identities.operator if stack.identities is not None else None
            if keys is not None:
                # IAM is enforced: only keys moto knows are accepted; the operator may do everything.
                click.echo(
                    f"operator keys: export AWS_ACCESS_KEY_ID={keys.access_key_id} "
                    f"AWS_SECRET_ACCESS_KEY={keys.secret_access_key}"
                )
            for name, value in stack.outputs.items():
                click.echo(f"  {name}: {value}")
            # Registered (endpoint, region, keys): every verb finds the stack by its name alone, as a deployed one.
            exits.enter_context(registered(registration_of(stack, endpoint)))
            click.echo(
                f"modelwatch verbs: modelwatch status --stack {stack.template.stack_name}   "
                "(models, report, compact, backfill, register, replay, ... the same way)"
            )
            click.echo("running; Ctrl-C to stop")
            while True:
                time.sleep(1.0)
                stack.advance(timedelta(seconds=speed))
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.stop()
