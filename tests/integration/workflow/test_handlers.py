"""The workflow's handlers called the way Lambda calls them, with the canonical events from events/workflow/."""

from __future__ import annotations

import json
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from modelwatch.errors import ConfigError, EmptyWindowError
from modelwatch.state import State
from modelwatch_cli.local.functions import LambdaContext
from tests.helpers import load_event, load_handler
from tests.integration.workflow.conftest import STATE_TABLE, Aws
from tests.unit.workflow.helpers import T0, model_config


def _call(module: ModuleType, event: dict[str, Any]) -> Any:
    for attribute in ("_stores", "_registry", "_clients"):
        if hasattr(module, attribute):
            getattr(module, attribute).cache_clear()  # one moto instance per test
    return module.lambda_handler(event, LambdaContext("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn"))


@pytest.fixture
def aws(handler_aws: Aws) -> Aws:
    return handler_aws


def test_prepare_run_keeps_the_triggered_window_and_version(aws: Aws) -> None:
    # Given three hours of captures, the middle one labelled
    for hour in range(3):
        aws.ingest("loans", T0 + timedelta(hours=hour), rows=400, labels=100 if hour == 1 else 0)
    # When PrepareRun gets the trigger's execution input (the trigger planned the window)
    prepared = _call(load_handler("prepare_run"), load_event("workflow/prepare_run"))
    # Then it keeps that plan, names the monitors to run and carries the registered config
    config = prepared.pop("config")
    assert prepared == {
        "model": "loans",
        "run_id": "loans-20240301T0000-20240301T0300-3da07257a830",
        "problem_type": "binary_classification",
        "monitors": ["performance", "drift", "data_quality"],  # data quality on by default since #14
        "window_start": "2024-03-01T00:00:00Z",
        "window_end": "2024-03-01T03:00:00Z",
        "last_chunk_end": "2024-03-01T03:00:00Z",
        "input_complete": False,
        "input_version": "3da07257a830",
        "has_labels": True,
        "rows": 1200,
        "labels": 100,
        "chunks": 3,
        "trigger": "new_chunk",
    }
    assert config == aws.registry.get("loans").model_dump(mode="json")


def test_prepare_run_uses_the_config_the_run_carries(aws: Aws) -> None:
    # Given a trigger's input that carries the model config it planned with (another metric set than registered)
    event = load_event("workflow/prepare_run")
    base = model_config("loans")
    carried = base.model_copy(update={"estimation": base.estimation.model_copy(update={"metrics": ["f1"]})})
    event["input"]["config"] = carried.model_dump(mode="json")
    # When PrepareRun gets it, then the run keeps that config (the registry is not read again)
    assert _call(load_handler("prepare_run"), event)["config"]["estimation"]["metrics"] == ["f1"]
    # And a config for another model is refused by name
    event["input"]["config"] = model_config("other").model_dump(mode="json")
    with pytest.raises(ConfigError, match="carries the config of 'other'"):
        _call(load_handler("prepare_run"), event)


def test_prepare_run_plans_the_window_when_none_is_given(aws: Aws) -> None:
    for hour in range(5):
        aws.ingest("loans", T0 + timedelta(hours=hour), rows=400)
    prepared = _call(load_handler("prepare_run"), {"input": {"model": "loans"}, "run_id": "loans-manual"})
    # The clock is 03:30: chunks up to 03:00 are complete (lateness 15m), the 03:00 one is not
    assert (prepared["window_start"], prepared["window_end"]) == ("2024-03-01T00:00:00Z", "2024-03-01T03:00:00Z")
    assert prepared["has_labels"] is False and prepared["trigger"] == "manual"
    # `modelwatch run` marks the input complete: every chunk, no upper bound
    complete = _call(
        load_handler("prepare_run"), {"input": {"model": "loans", "input_complete": True}, "run_id": "loans-all"}
    )
    assert (complete["window_end"], complete["last_chunk_end"], complete["chunks"]) == (None, "2024-03-01T05:00:00Z", 5)


def test_prepare_run_names_an_empty_window_and_a_bad_input(aws: Aws) -> None:
    aws.ingest("loans", T0 + timedelta(hours=3), rows=400)  # only the still-open hour has rows
    with pytest.raises(EmptyWindowError, match="model loans: no complete chunk with captured rows"):
        _call(load_handler("prepare_run"), {"input": {"model": "loans"}, "run_id": "loans-x"})
    with pytest.raises(ConfigError, match="run_id"):
        _call(load_handler("prepare_run"), {"input": {"model": "loans"}, "run_id": "has:colon"})


def test_list_models_and_start_monitor(aws: Aws) -> None:
    aws.ingest("loans", T0, rows=400)
    listed = _call(load_handler("list_models"), load_event("workflow/list_models"))
    assert listed == {"batches": [{"models": ["loans"], "trigger": "schedule"}], "count": 1}
    started = _call(load_handler("start_monitor"), load_event("workflow/start_monitor"))
    assert started == {"models": 1, "statuses": {"started": 1}, "started": ["loans"], "failed": []}
    [execution] = aws.executions()
    described = aws.sfn.describe_execution(executionArn=execution["executionArn"])
    window = json.loads(described["input"])
    # After that run succeeded with the same inputs, the next schedule finds the model up to date
    State(aws.dynamodb, STATE_TABLE).runs.record_success(
        "loans",
        run_id=execution["name"],
        input_version=window["input_version"],
        last_chunk_end="2024-03-01T01:00:00Z",
        now=T0,
    )
    again = _call(load_handler("start_monitor"), load_event("workflow/start_monitor"))
    assert again["statuses"] == {"up_to_date": 1} and again["started"] == []
    with pytest.raises(ConfigError, match="FleetItem is invalid: models: Field required"):
        _call(load_handler("start_monitor"), {"trigger": "schedule"})
    with pytest.raises(ConfigError, match="FleetInput is invalid: batch_size"):
        _call(load_handler("list_models"), {"trigger": "schedule", "batch_size": 0})
