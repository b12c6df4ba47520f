"""`modelwatch local up` mode: the stack behind a loopback ThreadedMotoServer, handlers pointed at it."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from modelwatch.clock import SimulatedClock
from modelwatch_cli.local.adapter import configure_server, reset_server
from modelwatch_cli.local.stack import LocalStack

FIXTURE = Path(__file__).parent / "fixture" / "template.yaml"


@contextmanager
def _loopback_server() -> Iterator[str]:
    """A ThreadedMotoServer on a free loopback port, configured as `modelwatch local up` does; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        configure_server(url)
        yield url
    finally:
        server.stop()


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("MOTO_PORT", raising=False)  # configure_server sets it; restored after the test
    with _loopback_server() as url:
        yield url
        reset_server(url)


def test_the_stack_runs_behind_a_loopback_server(endpoint: str) -> None:
    clock = SimulatedClock(datetime(2026, 3, 2, tzinfo=UTC))
    with LocalStack(FIXTURE, clock=clock, log_stream=io.StringIO(), endpoint_url=endpoint) as stack:
        stack.put_capture("datacapture/ep/v/2026/03/02/00/file-4.jsonl", b"{}")
        stack.run_until_idle()
        # What the AWS CLI would see through --endpoint-url.
        sfn = boto3.client("stepfunctions", region_name="us-east-1", endpoint_url=endpoint)
        executions = sfn.list_executions(stateMachineArn=stack.outputs["FlowArn"])["executions"]
        assert [e["status"] for e in executions] == ["SUCCEEDED"]
        output = sfn.describe_execution(executionArn=executions[0]["executionArn"])["output"]
        assert '"score": 8.0' in output


def test_reset_server_restores_moto_process_wide_config() -> None:
    # Given a loopback server configured for real ASL execution (moto's config is process-wide)
    from moto.core.config import default_user_config

    with _loopback_server() as url:
        assert default_user_config["stepfunctions"]["execute_state_machine"] is True
        # When it is reset
        reset_server(url)
        # Then later in-process mocks see moto's default again
        assert default_user_config["stepfunctions"]["execute_state_machine"] is False
