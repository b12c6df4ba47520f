"""The Monitor state machine's RecordSuccess state writes the run state item with the state package's key scheme."""

from __future__ import annotations

import json
import re
from typing import Any

from modelwatch.state import keys, runs
from tests.helpers import ROOT


def _record_success() -> dict[str, Any]:
    definition = json.loads((ROOT / "statemachines" / "monitor.asl.json").read_text())
    found = [s for s in _states(definition) if s.get("Resource", "").endswith(":dynamodb:updateItem")]
    assert len(found) == 1, "one DynamoDB updateItem task writes the run state"
    return found[0]["Parameters"]


def _states(scope: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in scope.get("States", {}).values():
        found.append(state)
        for nested in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if nested:
                found.extend(_states(nested))
    return found


def test_record_success_uses_the_run_state_key() -> None:
    # Given the RecordSuccess task's key
    key = _record_success()["Key"]

    # Then its pk is the model key and its sk the run state's sort key
    assert key["pk"]["S.$"] == f"States.Format('{keys.MODEL_PREFIX}{{}}', $.run.model)"
    assert key["sk"]["S"] == keys.RUN_STATE_SK


def test_record_success_sets_the_attributes_the_repository_reads() -> None:
    # Given the RecordSuccess task's update expression
    expression = _record_success()["UpdateExpression"]
    set_part, _, remove_part = expression.partition(" REMOVE ")

    # Then it sets exactly the success attributes and removes the last error, by the repository's names
    assigned = re.findall(r"(\w+) = :\w+", set_part.removeprefix("SET "))
    assert tuple(assigned) == runs.SUCCESS_ATTRIBUTES
    assert remove_part.strip() == runs.LAST_ERROR
