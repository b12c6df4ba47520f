"""Static checks of the state machines as written: transitions, substitutions, Retry and Catch on every Task.

Usable from tests (`check_template(path)` returns the problems) and from `make check`
(`python -m checks.asl template.yaml`, exit 1 with one line per problem).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelwatch.errors import ConfigError

LAMBDA_RETRY_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
)
# Service integrations are written `arn:${Partition}:states:::<service>:<action>` (the partition substituted from
# `AWS::Partition`), so the definitions deploy in aws-cn and aws-us-gov too.
_INTEGRATION = re.compile(r"^arn:(?:\$\{Partition\}|aws[a-z-]*):states:::(?P<action>[a-zA-Z0-9:.-]+)$")
LAMBDA_INVOKE = "lambda:invoke"
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_TRANSITIONS = ("Next", "Default")
_NEEDS_TRANSITION = ("Task", "Pass", "Wait", "Map", "Parallel")
_STATE_TYPES = ("Task", "Pass", "Wait", "Map", "Parallel", "Choice", "Succeed", "Fail")


@dataclass(frozen=True)
class StateMachineFile:
    """One AWS::Serverless::StateMachine of the template with its definition file and substitutions."""

    logical_id: str
    path: Path
    substitutions: frozenset[str]


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: intrinsic tags (!Ref, !GetAtt, !Sub, ...) become plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"unexpected YAML node for !{suffix}: {node.id}")
    return {suffix: loader.construct_mapping(node, deep=True)}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: str | Path) -> dict[str, Any]:
    # A SafeLoader subclass: only plain YAML plus the intrinsic tags above.
    data = yaml.load(Path(path).read_text(), Loader=_TemplateLoader)  # noqa: S506  # nosec B506
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a template must be a mapping")
    return data


def state_machines(template_path: str | Path) -> list[StateMachineFile]:
    """The template's state machines whose definitions are files (DefinitionUri) with their substitutions."""
    template_path = Path(template_path)
    resources = load_template(template_path).get("Resources", {})
    found = []
    for logical_id, resource in resources.items():
        if resource.get("Type") not in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            continue
        props = resource.get("Properties", {})
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            subs = frozenset((props.get("DefinitionSubstitutions") or {}).keys())
            found.append(StateMachineFile(logical_id, template_path.parent / uri, subs))
    return found


def _scopes(states: dict[str, Any], start: str, where: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """The top-level scope and every nested one (Map ItemProcessor/Iterator, Parallel branches)."""
    yield where, states, start
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        nested = [state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])]
        for index, inner in enumerate(n for n in nested if isinstance(n, dict)):
            yield from _scopes(inner.get("States", {}), inner.get("StartAt", ""), f"{where}/{name}[{index}]")


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state[k] for k in _TRANSITIONS if k in state]
    targets += [c["Next"] for c in state.get("Choices", []) if "Next" in c]
    targets += [c["Next"] for c in state.get("Catch", []) if "Next" in c]
    return targets


def _reachable(states: dict[str, Any], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo.extend(_targets(states[name]))
    return seen


def _integration(state: dict[str, Any]) -> str | None:
    """The service integration a Task calls (`lambda:invoke`, `dynamodb:updateItem`), None for a direct ARN."""
    match = _INTEGRATION.match(str(state.get("Resource", "")))
    return match["action"] if match else None


def _is_lambda_task(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return _integration(state) == LAMBDA_INVOKE or ":lambda:" in resource or "FunctionArn}" in resource


def _check_task(name: str, state: dict[str, Any], states: dict[str, Any], top_level: bool) -> list[str]:
    problems = []
    if str(state.get("Resource", "")).startswith("arn:aws:"):
        problems.append(f"{name}: Resource hard-codes the aws partition (write arn:${{Partition}}:...)")
    retriers = state.get("Retry", [])
    if not retriers:
        problems.append(f"{name}: Task has no Retry")
    for retrier in retriers:
        if retrier.get("BackoffRate", 2.0) < 1:
            problems.append(f"{name}: Retry BackoffRate below 1")
        if retrier.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
            problems.append(f"{name}: Retry JitterStrategy must be FULL or NONE")
    if _is_lambda_task(state):
        covered = {e for r in retriers for e in r.get("ErrorEquals", [])}
        missing = [e for e in LAMBDA_RETRY_ERRORS if e not in covered]
        if missing:
            problems.append(f"{name}: Retry does not cover {', '.join(missing)}")
        if _integration(state) == LAMBDA_INVOKE:
            params = state.get("Parameters", {})
            if "FunctionName" not in params or not ({"Payload", "Payload.$"} & set(params)):
                problems.append(f"{name}: lambda:invoke needs Parameters.FunctionName and Payload")
    catch_all = [c for c in state.get("Catch", []) if "States.ALL" in c.get("ErrorEquals", [])]
    if not catch_all:
        problems.append(f"{name}: Task has no Catch on States.ALL")
    elif top_level:
        target = catch_all[0].get("Next", "")
        path = _reachable(states, target)
        if not any(states[s].get("Type") == "Fail" for s in path):
            problems.append(f"{name}: Catch target {target!r} does not lead to a Fail state")
    return problems


def check_definition(definition: dict[str, Any], substitutions: frozenset[str] | set[str] | None = None) -> list[str]:
    """Every problem found in one state machine definition (empty when it passes)."""
    problems: list[str] = []
    for where, states, start in _scopes(definition.get("States", {}), definition.get("StartAt", ""), ""):
        label = where or "(top)"
        if start not in states:
            problems.append(f"{label}: StartAt {start!r} is not a state")
        reachable = _reachable(states, start)
        for name, state in states.items():
            qualified = f"{where}/{name}".lstrip("/")
            kind = state.get("Type")
            if kind not in _STATE_TYPES:
                problems.append(f"{qualified}: unknown Type {kind!r}")
                continue
            for target in _targets(state):
                if target not in states:
                    problems.append(f"{qualified}: transition to missing state {target!r}")
            if name not in reachable:
                problems.append(f"{qualified}: not reachable from {start!r}")
            if kind in _NEEDS_TRANSITION and ("Next" in state) == bool(state.get("End")):
                problems.append(f"{qualified}: needs exactly one of Next or End")
            if kind == "Choice" and not state.get("Choices"):
                problems.append(f"{qualified}: Choice without Choices")
            if kind in ("Succeed", "Fail") and ("Next" in state or "End" in state):
                problems.append(f"{qualified}: terminal state with Next/End")
            if kind == "Task":
                problems.extend(_check_task(qualified, state, states, top_level=not where))
    if substitutions is not None:
        used = set(_SUBSTITUTION.findall(json.dumps(definition)))
        for name in sorted(used - set(substitutions)):
            problems.append(f"${{{name}}} is used but not in DefinitionSubstitutions")
        for name in sorted(set(substitutions) - used):
            problems.append(f"DefinitionSubstitutions.{name} is never used")
    return problems


def check_template(template_path: str | Path) -> list[str]:
    """Check every file-based state machine of the template; problems are prefixed with the file name."""
    problems = []
    machines = state_machines(template_path)
    if not machines:
        return [f"{template_path}: no state machine with a DefinitionUri"]
    for machine in machines:
        try:
            definition = json.loads(machine.path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{machine.path}: cannot read definition: {exc}")
            continue
        problems.extend(f"{machine.path.name}: {p}" for p in check_definition(definition, machine.substitutions))
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print one line per problem of the template's state machines; exit 1 when there is any."""
    args = sys.argv[1:] if argv is None else argv
    template = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "template.yaml"
    problems = check_template(template)
    for problem in problems:
        print(f"asl: {problem}", file=sys.stderr)
    if problems:
        return 1
    names = ", ".join(f"{m.logical_id} ({m.path.name})" for m in state_machines(template))
    print(f"asl: OK: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
