"""No network call leaves the process during estimation (nannyml's usage telemetry stays off)."""

from __future__ import annotations

import os
import socket

import pytest

from modelwatch.analysis import RunRequest, run_monitor
from modelwatch.lake.store import LocalStore

from .cases import LATE, Case


def test_estimation_opens_no_connection_and_resolves_no_name(
    binary_case: Case, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every way out of the process records the attempt (DNS included)
    attempts: list[str] = []

    def record(name: str):
        def guard(*args: object, **kwargs: object) -> None:
            attempts.append(f"{name}{args!r}")
            raise OSError(f"network blocked: {name}")

        return guard

    monkeypatch.setattr(socket.socket, "connect", record("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", record("connect_ex"))
    monkeypatch.setattr(socket.socket, "sendto", record("sendto"))
    monkeypatch.setattr(socket, "create_connection", record("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", record("getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", record("gethostbyname"))
    assert os.environ.get("NML_DISABLE_USAGE_LOGGING")

    # When a full run fits, estimates, computes realized performance, drift and the report
    outcome = run_monitor(
        binary_case.config,
        binary_case.reference,
        binary_case.captures,
        binary_case.labels,
        RunRequest(binary_case.config.name, "r1"),
        LocalStore(tmp_path),
        LATE,
    )

    # Then it worked and nothing tried to reach the network
    assert outcome.chunks_analysed == 8 and outcome.estimator_cache == "fit"
    assert attempts == []
