"""The analysis steps' input: the state machine's JSON into typed requests; bad input is a named ConfigError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelwatch.analysis.requests import AnalyseInput, AssembleInput, parse_analysis_request
from modelwatch.config.settings import load_settings
from modelwatch.errors import ConfigError
from tests.helpers import load_event


def test_canonical_events_parse_to_utc_requests_with_the_carried_config() -> None:
    # Given the Map's input to one monitor's step
    request = parse_analysis_request(load_event("analysis/analyse"))
    # Then it is that monitor's step, over a UTC window, with the config the run was planned with
    assert isinstance(request, AnalyseInput) and request.monitor == "performance"
    run = request.run.request()
    assert run.model == "car-loan"
    assert run.window_start == datetime(2026, 3, 2, tzinfo=UTC)
    assert run.window_end == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert run.input_complete is False
    assert request.run.model_config_or_error().metrics == ["roc_auc", "f1"]
    # And the assembly step gets the monitors' outcomes
    assembled = parse_analysis_request(load_event("analysis/assemble"))
    assert isinstance(assembled, AssembleInput) and [m["monitor"] for m in assembled.monitors] == ["performance"]


def test_open_window_and_input_complete() -> None:
    run = {"model": "m", "run_id": "r-1", "input_complete": True}
    request = parse_analysis_request({"action": "analyse", "monitor": "drift", "run": run}).run.request()
    assert request.window_start is None and request.window_end is None and request.input_complete


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"action": "analyse", "monitor": "drift", "run": {"run_id": "r"}}, "model"),
        ({"action": "analyse", "monitor": "drift", "run": {"model": "m", "run_id": "../x"}}, "run_id"),
        (
            {"action": "analyse", "monitor": "drift", "run": {"model": "m", "run_id": "r", "window_start": "x"}},
            "window",
        ),
        ({"action": "fly", "run": {"model": "m", "run_id": "r"}}, "action"),
    ],
)
def test_bad_input_names_the_field(event: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_analysis_request(event)


def test_a_run_without_its_config_or_with_another_models_is_refused() -> None:
    request = parse_analysis_request(load_event("analysis/analyse"))
    with pytest.raises(ConfigError, match="carries no model config"):
        request.run.model_copy(update={"config": None}).model_config_or_error()
    with pytest.raises(ConfigError, match="not 'other'"):
        request.run.model_copy(update={"model": "other"}).model_config_or_error()


def test_clock_follows_the_local_stack_override() -> None:
    settings = load_settings({"LAKE_BUCKET": "b", "STATE_TABLE": "t", "MODELWATCH_CLOCK": "2026-03-02T05:00:00Z"})
    assert settings.clock().now() == datetime(2026, 3, 2, 5, tzinfo=UTC)
    wall = load_settings({"LAKE_BUCKET": "b", "STATE_TABLE": "t"}).clock().now()
    assert wall.tzinfo is not None


def test_outcome_payload_stays_under_the_limit_for_long_windows() -> None:
    import json

    from modelwatch.analysis.assemble import MAX_OUTCOME_BYTES, RunOutcome

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
