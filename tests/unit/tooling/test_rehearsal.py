"""The deploy rehearsal: names on the SAM-translated template against AWS's limits, and no hard-coded partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checks import rehearsal
from modelwatch_cli.local import translation
from tests.helpers import ROOT


def _translated(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Parameters": {"Suffix": {"Type": "String", "Default": "fleet"}}, "Resources": resources}


def test_a_name_built_from_the_stack_name_is_measured_for_the_longest_stack_name() -> None:
    # Given a state machine named after the stack (80 characters at most) and a 60-character stack name
    machine = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"StateMachineName": {"Fn::Sub": "${AWS::StackName}-${Suffix}"}},
    }
    # When its name is checked for 60 and for 75 characters
    (at_60,) = rehearsal.checked_names(_translated(Fleet=machine), 60)
    (at_75,) = rehearsal.checked_names(_translated(Fleet=machine), 75)
    # Then it fits the first and not the second (the README's checklist: stacks over 74 fail)
    assert (len(at_60.longest), at_60.fits) == (66, True)
    assert (len(at_75.longest), at_75.fits) == (81, False)


def test_a_name_that_refers_to_a_generated_name_counts_its_full_length() -> None:
    # Given a log group named after a function whose name CloudFormation generates (64 characters at most)
    function = {"Type": "AWS::Lambda::Function", "Properties": {}}
    group = {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${Fn}"}}}
    # When the names are checked
    checked = rehearsal.checked_names(_translated(Fn=function, Group=group))
    # Then only the log group's name is one the template sets, counted with the function name at its longest
    assert [(c.resource, len(c.longest), c.limit) for c in checked] == [("Group", 12 + 64, 512)]


def test_a_condition_counts_its_longer_branch_and_an_unknown_intrinsic_is_an_error() -> None:
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::If": ["C", "short", "x" * 81]}}}
    (checked,) = rehearsal.checked_names(_translated(Q=queue))
    assert not checked.fits
    odd = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Base64": "x"}}}
    with pytest.raises(rehearsal.ConfigError, match="cannot bound"):
        rehearsal.checked_names(_translated(Q=odd))


def test_hard_coded_partitions_are_flagged_with_their_line(tmp_path: Path) -> None:
    # Given a handler and an ASL file, one with a literal aws partition
    (tmp_path / "functions" / "f").mkdir(parents=True)
    (tmp_path / "functions" / "f" / "app.py").write_text('TOPIC = "arn:${Partition}:sns"\nARN = "arn:aws:sns:x"\n')
    (tmp_path / "statemachines").mkdir()
    (tmp_path / "statemachines" / "m.asl.json").write_text('{"Resource": "arn:${Partition}:states:::lambda:invoke"}')
    # When they are scanned
    found = rehearsal.hard_coded_partitions(tmp_path)
    # Then the literal is reported where it is
    assert found == ["functions/f/app.py:2"]


def test_nothing_shipped_or_run_against_an_account_hard_codes_the_aws_partition() -> None:
    assert rehearsal.hard_coded_partitions(ROOT) == []


@pytest.mark.skipif(
    not translation.translator_available(),
    reason="the SAM translator lives in the tools venv: run `make tools` (make check-rehearsal always runs it)",
)
def test_every_name_of_the_translated_template_fits_for_a_60_character_stack_name() -> None:
    # When template.yaml is translated as `sam deploy` would and its names measured
    checked = rehearsal.checked_names(translation.translate(ROOT / "template.yaml"))
    # Then every name fits, including those SAM sets itself (the layer's) and those built from the stack name
    assert [c for c in checked if not c.fits] == []
    names = {f"{c.resource}.{c.prop}" for c in checked}
    assert {"FleetStateMachine.StateMachineName", "ModelwatchDashboard.DashboardName"} <= names
    assert any(c.startswith("ModelwatchLayer") and c.endswith(".LayerName") for c in names)
