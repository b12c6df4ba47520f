"""The estimate task's input: the state machine's JSON into a RunRequest; bad input is a named ConfigError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelwatch.config.settings import load_settings
from modelwatch.errors import ConfigError
from modelwatch.estimation.service import clock_for, parse_estimate_input
from tests.helpers import load_event


def test_canonical_event_parses_to_a_utc_request() -> None:
    request = parse_estimate_input(load_event("estimate"))
    assert request.model == "car-loan"
    assert request.window_start == datetime(2026, 3, 2, tzinfo=UTC)
    assert request.window_end == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert request.input_complete is False


def test_open_window_and_input_complete() -> None:
    request = parse_estimate_input({"model": "m", "run_id": "r-1", "input_complete": True})
    assert request.window_start is None and request.window_end is None and request.input_complete


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"run_id": "r"}, "model"),
        ({"model": "m", "run_id": "../x"}, "run_id"),
        ({"model": "m", "run_id": "r", "window_start": "yesterday"}, "window_start"),
    ],
)
def test_bad_input_names_the_field(event: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_estimate_input(event)


def test_clock_follows_the_local_stack_override() -> None:
    settings = load_settings({"LAKE_BUCKET": "b", "STATE_TABLE": "t", "MODELWATCH_CLOCK": "2026-03-02T05:00:00Z"})
    assert clock_for(settings).now() == datetime(2026, 3, 2, 5, tzinfo=UTC)
    wall = clock_for(load_settings({"LAKE_BUCKET": "b", "STATE_TABLE": "t"})).now()
    assert wall.tzinfo is not None
