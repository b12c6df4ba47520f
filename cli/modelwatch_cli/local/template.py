"""Read template.yaml the way CloudFormation/SAM would, for the local stack: intrinsics, conditions, Globals, names."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelwatch.errors import ConfigError

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
PARTITION = "aws"  # moto emulates the standard partition
NO_VALUE = object()  # AWS::NoValue: the key holding it is dropped

_SHORT_TAGS = {
    "!Ref": "Ref",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!FindInMap": "Fn::FindInMap",
    "!Condition": "Condition",
    "!Base64": "Fn::Base64",
}


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long-form dicts."""


def _construct(tag: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag == "!GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {_SHORT_TAGS[tag]: value}

    return construct


for _tag in _SHORT_TAGS:
    _CfnLoader.add_constructor(_tag, _construct(_tag))


def load_template_document(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML file into plain dicts (short-form tags expanded)."""
    try:
        document = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass  # nosec B506
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the template: {exc}") from exc
    if not isinstance(document, dict) or "Resources" not in document:
        raise ConfigError(f"{path}: not a CloudFormation template (no Resources)")
    return document


@dataclass(frozen=True)
class QueueEvent:
    """An SQS event source of a function (SAM `Type: SQS`)."""

    name: str
    queue_logical_id: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class ScheduleEvent:
    """A schedule (SAM `ScheduleV2`/`Schedule`) targeting a function or a state machine."""

    name: str
    target_logical_id: str
    expression: str
    input: dict[str, Any]


@dataclass
class FunctionSpec:
    """One Lambda function as the local stack runs it: which file and attribute, with which environment."""

    logical_id: str
    name: str
    arn: str
    handler_file: Path
    handler_attribute: str
    package_type: str
    environment: dict[str, str]
    timeout: int
    queue_events: list[QueueEvent] = field(default_factory=list)
    schedules: list[ScheduleEvent] = field(default_factory=list)


@dataclass
class StateMachineSpec:
    """One state machine: its ASL file with `DefinitionSubstitutions` applied."""

    logical_id: str
    name: str
    arn: str
    definition_path: Path
    substitutions: dict[str, str]
    schedules: list[ScheduleEvent] = field(default_factory=list)

    def definition(self) -> str:
        """The ASL text with `${Name}` substitutions applied (as SAM does); unknown names are an error."""
        text = self.definition_path.read_text()

        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in self.substitutions:
                raise ConfigError(f"{self.definition_path}: no DefinitionSubstitutions entry for ${{{key}}}")
            return self.substitutions[key]

        resolved = re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, text)
        json.loads(resolved)  # fail here, with the file named, rather than inside moto
        return resolved


class Template:
    """A parsed template with parameters, conditions and physical names resolved for one local stack."""

    def __init__(
        self,
        path: Path,
        stack_name: str = "modelwatch-local",
        parameters: Mapping[str, str] | None = None,
        account_id: str = ACCOUNT_ID,
        region: str = REGION,
    ) -> None:
        self.path = path.resolve()
        self.root = self.path.parent
        self.document = load_template_document(self.path)
        self.stack_name = stack_name
        self.account_id = account_id
        self.region = region
        self.partition = PARTITION
        self.parameters = self._parameters(dict(parameters or {}))
        self.resources: dict[str, dict[str, Any]] = self.document["Resources"]
        self.globals: dict[str, Any] = self.document.get("Globals", {}) or {}
        self.conditions: dict[str, bool] = {}
        for name in self.document.get("Conditions", {}) or {}:
            self.condition(name)
        # Physical values (Ref and GetAtt); the resource creator may overwrite them with what it actually created.
        self.refs: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}
        for logical_id, resource in self.active_resources().items():
            self._name_resource(logical_id, resource["Type"])

    # ------------------------------------------------------------------ parameters and conditions
    def _parameters(self, overrides: dict[str, str]) -> dict[str, str]:
        declared: dict[str, Any] = self.document.get("Parameters", {}) or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise ConfigError(f"{self.path}: unknown parameter(s): {', '.join(unknown)}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in overrides:
                value = str(overrides[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise ConfigError(f"{self.path}: parameter {name} has no default and no value")
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise ConfigError(f"{self.path}: parameter {name}={value!r} is not one of {allowed}")
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            definitions = self.document.get("Conditions", {}) or {}
            if name not in definitions:
                raise ConfigError(f"{self.path}: unknown condition {name}")
            self.conditions[name] = bool(self.resolve(definitions[name]))
        return self.conditions[name]

    def condition_or_true(self, name: str) -> bool:
        """A condition's value, True when the template does not define it."""
        return self.condition(name) if name in (self.document.get("Conditions", {}) or {}) else True

    def active_resources(self) -> dict[str, dict[str, Any]]:
        """Resources whose Condition holds (or that have none)."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    # ------------------------------------------------------------------ names
    def _arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        where = f"{self.region if region else ''}:{self.account_id if account else ''}"
        return f"arn:{self.partition}:{service}:{where}:{resource}"

    def _name_resource(self, logical_id: str, kind: str) -> None:
        base = f"{self.stack_name}-{logical_id}"
        attrs: dict[str, str] = {}
        if kind == "AWS::S3::Bucket":
            name = base.lower()[:63]
            ref = name
            attrs = {
                "Arn": self._arn("s3", name, region=False, account=False),
                "DomainName": f"{name}.s3.amazonaws.com",
            }
        elif kind == "AWS::SQS::Queue":
            ref = f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{base}"
            attrs = {"Arn": self._arn("sqs", base), "QueueName": base, "QueueUrl": ref}
        elif kind == "AWS::DynamoDB::Table":
            ref = base
            attrs = {"Arn": self._arn("dynamodb", f"table/{base}")}
        elif kind == "AWS::SNS::Topic":
            ref = self._arn("sns", base)
            attrs = {"TopicArn": ref, "TopicName": base}
        elif kind == "AWS::Events::Rule":
            ref = base
            attrs = {"Arn": self._arn("events", f"rule/{base}")}
        elif kind == "AWS::Serverless::Function":
            name = base[:64]
            ref = name
            attrs = {"Arn": self._arn("lambda", f"function:{name}")}
        elif kind == "AWS::Serverless::StateMachine":
            # An explicit Name is what AWS uses (policies name the machine by it); CloudFormation generates the rest.
            explicit = (self.resources[logical_id].get("Properties") or {}).get("Name")
            name = str(self.resolve(explicit)) if explicit is not None else base
            ref = self._arn("states", f"stateMachine:{name}")
            attrs = {"Name": name, "Arn": ref}
        elif kind == "AWS::Logs::LogGroup":
            ref = str(self.resolve(self.resources[logical_id].get("Properties", {}).get("LogGroupName", base)))
            attrs = {"Arn": self._arn("logs", f"log-group:{ref}:*")}
        elif kind == "AWS::Serverless::LayerVersion":
            ref = self._arn("lambda", f"layer:{base}:1")
        elif kind == "AWS::KMS::Key":
            # KMS makes key ids up; the local stack picks one per stack and key, so policies and environments can
            # name the key before it exists (`adapter.create_key_with_id` creates it under this id).
            ref = str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelwatch-local/{self.stack_name}/{logical_id}"))
            attrs = {"Arn": self._arn("kms", f"key/{ref}"), "KeyId": ref}
        else:  # alarms, policies, subscriptions: the name is enough
            ref = base
        self.refs[logical_id] = ref
        for attr, value in attrs.items():
            self.attributes[(logical_id, attr)] = value

    def _pseudo(self, name: str) -> Any:
        pseudo: dict[str, Any] = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": self._arn("cloudformation", f"stack/{self.stack_name}/local"),
            "AWS::NoValue": NO_VALUE,
        }
        return pseudo[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise ConfigError(f"{self.path}: !Ref to unknown or inactive resource {name}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise ConfigError(f"{self.path}: !GetAtt {logical_id}.{attribute} is not known locally") from None

    # ------------------------------------------------------------------ intrinsics
    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in a value; `AWS::NoValue` entries are dropped from dicts and lists."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(parts[0]), str(self.resolve(parts[1])))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                separator, items = arg
                return str(separator).join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::FindInMap":
                map_name, top, second = (self.resolve(a) for a in arg)
                return self.document["Mappings"][map_name][top][second]
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    # ------------------------------------------------------------------ typed views
    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties, resolved (function properties merged with Globals first)."""
        resource = self.resources[logical_id]
        props = dict(resource.get("Properties", {}) or {})
        if resource["Type"] == "AWS::Serverless::Function":
            props = _merge_globals(self.globals.get("Function", {}) or {}, props)
        resolved = self.resolve(props)
        assert isinstance(resolved, dict)
        return resolved

    def of_type(self, kind: str) -> list[str]:
        return [lid for lid, res in self.active_resources().items() if res["Type"] == kind]

    def functions(self) -> dict[str, FunctionSpec]:
        """Every function: handler file and attribute, resolved environment, SQS and schedule events."""
        specs: dict[str, FunctionSpec] = {}
        for logical_id in self.of_type("AWS::Serverless::Function"):
            props = self.properties(logical_id)
            package_type = props.get("PackageType", "Zip")
            if package_type == "Image":
                metadata = self.resources[logical_id].get("Metadata", {}) or {}
                dockerfile = self.root / str(metadata.get("Dockerfile", ""))
                handler_file = dockerfile.parent / "app.py"
                handler = _dockerfile_cmd(dockerfile)
            else:
                handler = str(props.get("Handler", "app.lambda_handler"))
                handler_file = self.root / str(props["CodeUri"]) / (handler.rsplit(".", 1)[0] + ".py")
            environment = {k: _env_str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
            spec = FunctionSpec(
                logical_id=logical_id,
                name=self.refs[logical_id],
                arn=self.attributes[(logical_id, "Arn")],
                handler_file=handler_file,
                handler_attribute=handler.rsplit(".", 1)[-1],
                package_type=package_type,
                environment=environment,
                timeout=int(props.get("Timeout", 3)),
            )
            for event_name, event in (props.get("Events") or {}).items():
                self._add_event(spec.queue_events, spec.schedules, logical_id, event_name, event)
            specs[logical_id] = spec
        return specs

    def state_machines(self) -> dict[str, StateMachineSpec]:
        specs: dict[str, StateMachineSpec] = {}
        for logical_id in self.of_type("AWS::Serverless::StateMachine"):
            props = self.properties(logical_id)
            spec = StateMachineSpec(
                logical_id=logical_id,
                name=self.attributes[(logical_id, "Name")],
                arn=self.refs[logical_id],
                definition_path=self.root / str(props["DefinitionUri"]),
                substitutions={k: str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()},
            )
            queue_events: list[QueueEvent] = []
            for event_name, event in (props.get("Events") or {}).items():
                self._add_event(queue_events, spec.schedules, logical_id, event_name, event)
            specs[logical_id] = spec
        return specs

    def _add_event(
        self,
        queues: list[QueueEvent],
        schedules: list[ScheduleEvent],
        target: str,
        name: str,
        event: dict[str, Any],
    ) -> None:
        kind = event.get("Type")
        props = event.get("Properties", {}) or {}
        if kind == "SQS":
            queue_arn = str(props["Queue"])
            queue_id = next((lid for (lid, attr), v in self.attributes.items() if attr == "Arn" and v == queue_arn), "")
            if not queue_id:
                raise ConfigError(f"{self.path}: {target}.{name}: queue {queue_arn} is not a stack queue")
            queues.append(
                QueueEvent(
                    name=name,
                    queue_logical_id=queue_id,
                    batch_size=int(props.get("BatchSize", 10)),
                    batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                )
            )
        elif kind in ("ScheduleV2", "Schedule"):
            if str(props.get("State", "ENABLED")).upper() == "DISABLED" or props.get("Enabled") is False:
                return
            raw_input = props.get("Input")
            schedules.append(
                ScheduleEvent(
                    name=name,
                    target_logical_id=target,
                    expression=str(props.get("ScheduleExpression") or props.get("Schedule")),
                    input=json.loads(raw_input) if raw_input else {},
                )
            )
        else:
            raise ConfigError(f"{self.path}: {target}.{name}: event type {kind} is not supported locally")

    def outputs(self) -> dict[str, str]:
        """The stack's Outputs, resolved (what `aws cloudformation describe-stacks` would show)."""
        result: dict[str, str] = {}
        for name, output in (self.document.get("Outputs", {}) or {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            result[name] = str(self.resolve(output["Value"]))
        return result


def _merge_globals(defaults: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge: maps merge recursively, scalars and lists in the resource win."""
    merged = dict(defaults)
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not _is_intrinsic(value):
            merged[key] = _merge_globals(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in set(_SHORT_TAGS.values())


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dockerfile_cmd(dockerfile: Path) -> str:
    """The handler an image function's Dockerfile names in its CMD (`["app.lambda_handler"]`)."""
    try:
        lines = dockerfile.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"{dockerfile}: cannot read the image function's Dockerfile") from exc
    for line in reversed(lines):
        if line.strip().upper().startswith("CMD"):
            command = json.loads(line.strip()[3:].strip())
            return str(command[0] if isinstance(command, list) else command)
    raise ConfigError(f"{dockerfile}: no CMD naming the handler")
