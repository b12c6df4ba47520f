"""Static checks of the state machines as written: both files pass, and each rule catches its mistake."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from checks.asl import LAMBDA_RETRY_ERRORS, check_definition, check_template, main, state_machines
from tests.helpers import ROOT

TEMPLATE = ROOT / "template.yaml"
LAMBDA_INTEGRATION = "arn:${Partition}:states:::lambda:invoke"


def _machine(logical_id: str) -> tuple[dict[str, Any], frozenset[str]]:
    machine = next(m for m in state_machines(TEMPLATE) if m.logical_id == logical_id)
    return json.loads(machine.path.read_text()), machine.substitutions


def test_template_state_machines_pass() -> None:
    assert {m.logical_id for m in state_machines(TEMPLATE)} == {"MonitorStateMachine", "FleetStateMachine"}
    assert check_template(TEMPLATE) == []
    assert main([str(TEMPLATE)]) == 0


def test_every_monitor_task_retries_lambda_errors_with_backoff_and_jitter() -> None:
    definition, _ = _machine("MonitorStateMachine")
    states = list(definition["States"].values())
    nested = [s for m in states if m["Type"] == "Map" for s in m["ItemProcessor"]["States"].values()]
    lambda_tasks = [s for s in [*states, *nested] if s.get("Resource") == LAMBDA_INTEGRATION]
    assert len(lambda_tasks) == 5  # PrepareRun, each monitor's Analyse, Assemble, Publish, RecordFailure
    for task in lambda_tasks:
        general, throttled = task["Retry"][0], task["Retry"][1]
        assert set(LAMBDA_RETRY_ERRORS) - {THROTTLED} <= set(general["ErrorEquals"])
        assert (general["IntervalSeconds"], general["BackoffRate"], general["JitterStrategy"]) == (2, 2, "FULL")
        assert 4 <= general["MaxAttempts"] <= 6
        _assert_waits_out_throttling(throttled)


THROTTLED = "Lambda.TooManyRequestsException"


def _assert_waits_out_throttling(retrier: dict[str, Any]) -> None:
    """Throttling (the account's concurrency taken by a fleet's hourly burst) has its own retrier, the only one
    naming it, whose capped, jittered backoff waits out minutes, not the general retrier's half minute."""
    assert retrier["ErrorEquals"] == [THROTTLED]
    assert retrier["JitterStrategy"] == "FULL" and retrier["BackoffRate"] == 2
    waits = [
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** k, retrier["MaxDelaySeconds"])
        for k in range(retrier["MaxAttempts"])
    ]
    assert sum(waits) >= 600 and max(waits) <= 120


def test_every_fleet_task_waits_out_lambda_throttling() -> None:
    definition, _ = _machine("FleetStateMachine")
    map_states = definition["States"]["RunModels"]["ItemProcessor"]["States"]
    for task in (definition["States"]["ListModels"], map_states["StartMonitor"]):
        assert [r for r in task["Retry"] if THROTTLED in r["ErrorEquals"]] == [task["Retry"][1]]
        _assert_waits_out_throttling(task["Retry"][1])


def test_fleet_uses_a_distributed_map_tolerating_failures() -> None:
    definition, _ = _machine("FleetStateMachine")
    run_models = definition["States"]["RunModels"]
    assert run_models["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert run_models["ToleratedFailurePercentage"] == 100
    # Items are batches of models; 10 at once keep StartExecution below the smallest Regions' refill (150/s)
    assert run_models["ItemsPath"] == "$.fleet.batches"
    assert 0 < run_models["MaxConcurrency"] <= 10


def _broken(mutate: Any) -> list[str]:
    definition, substitutions = _machine("MonitorStateMachine")
    definition = copy.deepcopy(definition)
    mutate(definition)
    return check_definition(definition, substitutions)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["States"]["Publish"].update(Next="Nowhere"), "transition to missing state 'Nowhere'"),
        (lambda d: d.update(StartAt="Missing"), "StartAt 'Missing' is not a state"),
        (lambda d: d["States"]["AnalyseMonitors"].update(Next="Gone"), "missing state 'Gone'"),
        (lambda d: d["States"]["Assemble"]["Catch"][0].update(Next="Lost"), "missing state 'Lost'"),
        (lambda d: d["States"]["Assemble"].pop("Retry"), "Assemble: Task has no Retry"),
        (
            lambda d: d["States"]["Assemble"]["Retry"].pop(1),  # the throttling retrier
            "Retry does not cover Lambda.TooManyRequestsException",
        ),
        (
            lambda d: d["States"]["AnalyseMonitors"]["ItemProcessor"]["States"]["Analyse"].pop("Catch"),
            "AnalyseMonitors[0]/Analyse: Task has no Catch on States.ALL",
        ),
        (lambda d: d["States"]["Publish"].pop("Catch"), "Publish: Task has no Catch on States.ALL"),
        (
            lambda d: d["States"]["Publish"]["Catch"][0].update(Next="Done"),
            "Catch target 'Done' does not lead to a Fail state",
        ),
        (lambda d: d["States"].update(Orphan={"Type": "Pass", "End": True}), "Orphan: not reachable"),
        (lambda d: d["States"]["Summarise"].pop("Next"), "Summarise: needs exactly one of Next or End"),
        (
            lambda d: d["States"]["PrepareRun"]["Parameters"].update(FunctionName="${Unknown}"),
            "${Unknown} is used but not in DefinitionSubstitutions",
        ),
        (
            lambda d: d["States"]["Publish"].update(Resource="arn:aws:states:::lambda:invoke"),
            "Publish: Resource hard-codes the aws partition",
        ),
        (
            lambda d: d["States"]["RecordSuccess"]["Parameters"].update(TableName="fixed"),
            "DefinitionSubstitutions.StateTableName is never used",
        ),
    ],
)
def test_each_rule_catches_its_mistake(mutate: Any, expected: str) -> None:
    problems = _broken(mutate)
    assert any(expected in p for p in problems), problems


def test_nested_map_states_are_checked() -> None:
    definition, substitutions = _machine("FleetStateMachine")
    definition = copy.deepcopy(definition)
    definition["States"]["RunModels"]["ItemProcessor"]["States"]["StartMonitor"].pop("Catch")
    problems = check_definition(definition, substitutions)
    assert "RunModels[0]/StartMonitor: Task has no Catch on States.ALL" in problems
