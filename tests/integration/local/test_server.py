"""`modelwatch local up` mode: the stack behind a loopback ThreadedMotoServer, handlers pointed at it, and every CLI
verb pointed at it by `--stack` and `--endpoint-url`."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import requests
import yaml
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from modelwatch.clock import SimulatedClock
from modelwatch_cli import registration
from modelwatch_cli.commands.local import registration_of
from modelwatch_cli.local.adapter import configure_server, reset_server
from modelwatch_cli.local.stack import LocalStack
from modelwatch_cli.main import cli
from tests.integration.workflow.test_cli import CONFIG, reference_frame

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
        # The server's backends are moto's process-wide ones: what a test created there (IAM users, the stack's
        # resources) would still be there for the next test's stack of the same name.
        requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()


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


def test_every_stack_verb_reaches_the_local_stack_by_name_and_endpoint(endpoint: str, tmp_path: Path) -> None:
    # Given the real template's stack behind a loopback server (as `modelwatch local up` runs it) and a model
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(CONFIG))
    reference_frame().to_parquet(tmp_path / "reference.parquet")
    clock = SimulatedClock(datetime(2026, 3, 2, tzinfo=UTC))
    with LocalStack(clock=clock, log_stream=io.StringIO(), endpoint_url=endpoint) as stack:
        where = ["--stack", stack.template.stack_name, "--endpoint-url", endpoint, "--region", stack.template.region]

        def verb(*args: str) -> str:
            result = CliRunner().invoke(cli, [*args, *where], catch_exceptions=False)
            assert result.exit_code == 0, (args, result.output)
            return result.stdout  # (#20) stderr may carry the reference chunking warning

        # When every verb that acts on a stack is pointed at it by name and endpoint, then each does its work there
        registered = json.loads(verb("register", str(tmp_path / "model.yaml"), "--json"))
        assert registered["reference"] == f"s3://{stack.lake_bucket}/models/loans/reference.parquet"
        assert [json.loads(line)["name"] for line in verb("models", "--json").splitlines()] == ["loans"]
        assert json.loads(verb("status", "--json"))["model"] == "loans"
        verb("report", "loans", "--list")
        verb("compact", "--days-ago", "0")
        verb("backfill", "--dry-run")
        verb("replay", "--quarantine", "--model", "loans")
        verb("replay", "--dlq", "capture")
        assert json.loads(verb("teardown", "--json"))["deleted_alarms"]
        verb("unregister", "loans", "--yes")
        assert verb("models").strip().startswith("no models registered")
        # And the one verb that acts on a bucket rather than a stack takes the endpoint alone
        bucket = ["--bucket", stack.capture_bucket, "--endpoint-url", endpoint, "--region", stack.template.region]
        result = CliRunner().invoke(cli, ["enable-bucket-events", *bucket, "--dry-run"], catch_exceptions=False)
        assert result.exit_code == 0, result.output


def test_state_reading_verbs_reach_a_running_local_stack_by_its_name_or_endpoint_alone(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the stack behind a loopback server, registered as `modelwatch local up` registers it, with a model
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(CONFIG))
    reference_frame().to_parquet(tmp_path / "reference.parquet")
    clock = SimulatedClock(datetime(2026, 3, 2, tzinfo=UTC))
    with (
        LocalStack(clock=clock, log_stream=io.StringIO(), endpoint_url=endpoint) as stack,
        registration.registered(registration_of(stack, endpoint)),
    ):
        name = stack.template.stack_name
        register = ["register", str(tmp_path / "model.yaml"), "--stack", name, "--json"]
        assert CliRunner().invoke(cli, register, catch_exceptions=False).exit_code == 0
        # And a shell that knows neither the region nor the local stack's keys (a new terminal)
        for variable in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(variable, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        for where in (["--stack", name], ["--endpoint-url", endpoint]):

            def verb(*args: str, where: list[str] = where) -> str:
                result = CliRunner().invoke(cli, [*args, *where], catch_exceptions=False)
                assert result.exit_code == 0, (args, where, result.output)
                return result.stdout

            # When each verb that reads state is given only the stack's name or only its endpoint
            # Then it reaches the stack (no NoRegionError, no missing credentials, no "stack does not exist")
            assert [json.loads(line)["name"] for line in verb("models", "--json").splitlines()] == ["loans"]
            assert [json.loads(line)["model"] for line in verb("status", "--json").splitlines()] == ["loans"]
            assert "no reports for loans yet" in verb("report", "loans", "--list")
            assert json.loads(verb("compact", "--days-ago", "0", "--json"))["models"] == ["loans"]
            assert "dry run: 0 objects" in verb("backfill", "--dry-run")


def test_a_stopped_local_stack_is_not_found_and_an_unknown_endpoint_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a registration left by a server that is gone (no such process), and no samconfig.toml naming a stack
    monkeypatch.chdir(tmp_path)
    gone = registration.LocalRegistration("modelwatch-local", "http://127.0.0.1:1", "us-east-1", pid=2**22 + 1)
    with registration.registered(gone):
        # When a verb names its endpoint, then it is one usage line saying no local stack serves it (exit 2)
        result = CliRunner().invoke(cli, ["status", "--endpoint-url", "http://127.0.0.1:1"])
    assert registration.find("modelwatch-local") is None
    assert result.exit_code == 2
    assert "modelwatch local up" in result.output
