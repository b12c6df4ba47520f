"""The publish and record_failure handlers on moto with their canonical events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.errors import PublishError
from modelwatch.lake.layout import model_config_key
from modelwatch.publishing.clients import AwsClients
from modelwatch.state import State
from tests.helpers import load_event, load_handler

from .conftest import LAKE_BUCKET, MODEL, STATE_TABLE, Aws, RunFixture, stage_run


@dataclass
class _Context:
    function_name: str = "modelwatch-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def lambda_env(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    env = {
        "LAKE_BUCKET": LAKE_BUCKET,
        "STATE_TABLE": STATE_TABLE,
        "METRIC_NAMESPACE": "ModelWatch",
        "NOTIFICATIONS_TOPIC_ARN": aws.notifications_topic_arn,
        "MODELWATCH_CLOCK": "2026-03-03T00:01:40Z",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(
        "modelwatch.publishing.clients.aws_clients",
        lambda: AwsClients(s3=aws.s3, cloudwatch=aws.cloudwatch, sns=aws.sns, dynamodb=aws.dynamodb),
    )
    return aws


def test_publish_handler_publishes_the_state_machine_payload(lambda_env: Aws, car_loan_run: RunFixture) -> None:
    # Given the registered model and the estimate step's output staged where the event points
    aws = lambda_env
    aws.store.put(model_config_key(MODEL), car_loan_run.config.to_yaml().encode())
    event = load_event("publish/outcome")
    stage_run(aws, car_loan_run, event["outcome"]["run_id"])
    handler = load_handler("publish")

    # When the state machine invokes the handler
    result = handler.lambda_handler(event, _Context())

    # Then it returns a small JSON summary and the datapoints, duration and notification went out
    assert json.loads(json.dumps(result)) == result
    # 288 (144 before #14, plus drift's multivariate and output series and data quality's: see test_publish) + the
    # workflow duration
    assert result["model"] == MODEL and result["published"] == 289
    assert len(json.dumps(result)) < 64_000
    durations = [p for p in aws.datapoints() if p["name"] == "WorkflowDurationSeconds"]
    assert [p["value"] for p in durations] == [100.0]
    assert len(aws.notifications()) == 1


def test_publish_handler_records_what_the_run_left_out_in_the_run_state(
    lambda_env: Aws, car_loan_run: RunFixture
) -> None:
    # Given a run that left out duplicate rows, skipped a chunk and deferred another to the next run
    aws = lambda_env
    aws.store.put(model_config_key(MODEL), car_loan_run.config.to_yaml().encode())
    outcome = load_event("publish/outcome")["outcome"]
    stage_run(aws, car_loan_run, outcome["run_id"])
    deferred = "deferred to the next run: the drift step's time ran out after 1 of 2 batches"
    skipped = [
        {"start": "2026-03-02T05:00:00Z", "end": "2026-03-02T06:00:00Z", "rows": 9, "reason": "ValueError: …"},
        {"start": "2026-03-02T06:00:00Z", "end": "2026-03-02T07:00:00Z", "rows": 9, "reason": deferred},
    ]
    left_out = {**outcome, "rows_duplicate": 12, "rows_superseded": 3, "chunks_skipped": skipped}
    # When it is published
    load_handler("publish").lambda_handler(left_out, _Context())
    # Then the model's run state holds the counts (what `modelwatch status` shows), no values
    data = State(aws.dynamodb, STATE_TABLE).runs.load(MODEL).last_run_data
    assert data == {
        "run_id": outcome["run_id"],
        "rows_superseded": 3,
        "rows_duplicate": 12,
        "chunks_skipped": 2,
        "chunks_deferred": 1,
        "realized_skipped": 0,
        "failed_monitors": 0,
    }


def test_publish_handler_accepts_the_bare_outcome(lambda_env: Aws, car_loan_run: RunFixture) -> None:
    # Given the bare RunOutcome as input
    aws = lambda_env
    aws.store.put(model_config_key(MODEL), car_loan_run.config.to_yaml().encode())
    outcome = load_event("publish/outcome")["outcome"]
    stage_run(aws, car_loan_run, outcome["run_id"])

    # When invoked twice
    handler = load_handler("publish")
    first = handler.lambda_handler(outcome, _Context())
    second = handler.lambda_handler(outcome, _Context())

    # Then the second invocation publishes nothing again (changed by #19: but the model's state and heartbeat, 4
    # datapoints every run, which the alarms read; #14 adds 144: drift's multivariate and output series and data
    # quality's, see test_publish)
    assert first["published"] == 288 and second["published"] == 4
    assert second["already_published"] == 284 and second["notifications"] == []


def test_publish_handler_runs_a_fire_drill_without_touching_the_model(
    lambda_env: Aws, car_loan_run: RunFixture
) -> None:
    # Given the registered model and the drill event `modelwatch fire-drill` sends
    aws = lambda_env
    aws.store.put(model_config_key(MODEL), car_loan_run.config.to_yaml().encode())
    handler = load_handler("publish")

    # When the handler gets it
    result = handler.lambda_handler(load_event("publish/drill"), _Context())

    # Then only the drill's own datapoint and one message marked as a drill went out
    assert result["drill"] is True and result["phase"] == "start"
    points = aws.datapoints()
    assert [(p["name"], p["dimensions"], p["value"]) for p in points] == [
        ("AlertDrill", {"Model": MODEL, "Drill": "d2026010508"}, 1.0)
    ]
    (message,) = aws.notifications()
    assert message["Subject"] == "modelwatch: DRILL car-loan: alert path test d2026010508, no action needed"
    # and the model's incidents, ledger and results are untouched
    state = State(aws.dynamodb, STATE_TABLE)
    assert state.incidents.load(MODEL) == {} and state.ledger.versions(MODEL, ["x"]) == {}
    assert list(aws.store.list(f"results/model={MODEL}/")) == []


def test_record_failure_handler_records_counts_and_notifies(lambda_env: Aws) -> None:
    # Given the Catch output of a failed estimate step
    aws = lambda_env
    event = load_event("record_failure/config_mismatch")
    handler = load_handler("record_failure")

    # When the failure path runs
    result = handler.lambda_handler(event, _Context())

    # Then the run state names the error, WorkflowFailures counted one for the model, and one message says why
    state = State(aws.dynamodb, STATE_TABLE).runs.load(MODEL)
    assert state.last_error is not None
    assert state.last_error["Error"] == "ConfigMismatchError"
    assert state.last_error["run_id"] == event["run_id"]
    assert state.last_error["at"] == "2026-03-03T00:01:40Z"
    failures = [p for p in aws.datapoints() if p["name"] == "WorkflowFailures"]
    expected_at = datetime(2026, 3, 3, 0, 1, 40, tzinfo=UTC)
    assert [(p["dimensions"], p["value"], p["timestamp"]) for p in failures] == [({"Model": MODEL}, 1.0, expected_at)]
    messages = aws.notifications()
    assert len(messages) == 1
    assert messages[0]["Subject"] == "modelwatch: run failed for car-loan: ConfigMismatchError"
    assert "captures lack feature 'driver_tenure'" in messages[0]["Message"]
    assert "stackTrace" not in messages[0]["Message"] and "app.py" not in messages[0]["Message"]
    data: dict[str, Any] = json.loads(messages[0]["MessageAttributes"]["modelwatch"]["Value"])
    assert data["type"] == "failure" and data["error"] == "ConfigMismatchError"
    assert result["notified"] is True and result["message_id"] == messages[0]["MessageId"]


def test_record_failure_still_notifies_when_the_state_table_is_unavailable(lambda_env: Aws) -> None:
    # Given the state table is gone
    aws = lambda_env
    aws.dynamodb.delete_table(TableName=STATE_TABLE)
    event = load_event("record_failure/config_mismatch")

    # When the failure path runs, Then it fails naming what was not recorded, after counting and notifying
    with pytest.raises(PublishError, match="run state not written"):
        load_handler("record_failure").lambda_handler(event, _Context())
    assert [p["name"] for p in aws.datapoints()] == ["WorkflowFailures"]
    assert len(aws.notifications()) == 1


def test_a_run_failing_the_same_way_again_is_notified_once(lambda_env: Aws) -> None:
    # Given a failed run, and its retry (another execution name) failing with the same error and message
    aws = lambda_env
    event = load_event("record_failure/config_mismatch")
    handler = load_handler("record_failure")
    first = handler.lambda_handler(event, _Context())
    again = handler.lambda_handler({**event, "run_id": f"{event['run_id']}-r1"}, _Context())
    # Then both are counted and remembered, one message was sent
    assert first["notified"] is True and again["notified"] is False
    assert [p["name"] for p in aws.datapoints()] == ["WorkflowFailures", "WorkflowFailures"]
    assert len(aws.notifications()) == 1
    state = State(aws.dynamodb, STATE_TABLE).runs.load(MODEL)
    assert state.last_error is not None and state.last_error["repeats"] == 1
    # And after a success another failure is news again
    State(aws.dynamodb, STATE_TABLE).runs.record_success(
        MODEL,
        run_id="ok",
        input_version="v",
        last_chunk_end="2026-03-03T00:00:00Z",
        now=datetime(2026, 3, 3, tzinfo=UTC),
    )
    assert handler.lambda_handler(event, _Context())["notified"] is True
    assert len(aws.notifications()) == 1  # the one sent since


def test_a_failure_cause_from_another_library_loses_its_values(lambda_env: Aws) -> None:
    # Given a step that failed with a library's message quoting the data
    aws = lambda_env
    cause = json.dumps({"errorType": "ValueError", "errorMessage": "could not convert string to float: 'alice@x.org'"})
    event = {"model": MODEL, "run_id": "r-value", "error": {"Error": "ValueError", "Cause": cause}}
    load_handler("record_failure").lambda_handler(event, _Context())
    # Then neither the message nor the stored error carries the value
    (message,) = aws.notifications()
    assert "alice" not in message["Message"] and "could not convert string to float" in message["Message"]
    state = State(aws.dynamodb, STATE_TABLE).runs.load(MODEL)
    assert state.last_error is not None and "alice" not in state.last_error["Cause"]
