"""The estimate task's input: the state machine's JSON into a RunRequest; bad input is a named ConfigError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelwatch.config.settings import load_settings
from modelwatch.errors import ConfigError
from modelwatch.estimation.service import parse_estimate_input
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
    assert settings.clock().now() == datetime(2026, 3, 2, 5, tzinfo=UTC)
    wall = load_settings({"LAKE_BUCKET": "b", "STATE_TABLE": "t"}).clock().now()
    assert wall.tzinfo is not None


def test_outcome_payload_stays_under_the_limit_for_long_windows() -> None:
    import json

    from modelwatch.estimation.service import MAX_OUTCOME_BYTES, RunOutcome

    # Given a run over months of hourly chunks
    chunk = {
        "chunk_start": "2026-03-02T00:00:00Z",
        "chunk_end": "2026-03-02T01:00:00Z",
        "rows": 2500,
        "labelled_rows": 2500,
        "coverage": 1.0,
    }
    drift = {
        "chunk_start": "2026-03-02T00:00:00Z",
        "chunk_end": "2026-03-02T01:00:00Z",
        "features_in_drift_alert": 2,
        "missing_rate": {"a": 0.0, "b": 0.0, "c": 0.0},
    }
    outcome = RunOutcome(
        "m",
        "r",
        "binary_classification",
        "s3://b/r",
        "s3://b/p",
        5000,
        label_coverage=[{**chunk, "i": i} for i in range(5000)],
        drift=[{**drift, "i": i} for i in range(5000)],
    )
    # When it is serialised for the state machine
    data = outcome.to_dict()
    # Then it fits, keeps the latest chunks and says it was cut
    assert len(json.dumps(data).encode()) <= MAX_OUTCOME_BYTES
    assert data["truncated"] and data["label_coverage"][-1]["i"] == 4999 and data["chunks_analysed"] == 5000
    small = RunOutcome("m", "r", "binary_classification", None, None, 1, label_coverage=[chunk]).to_dict()
    assert small["truncated"] is False and small["label_coverage"] == [chunk]
