"""Deploy rehearsal without an account: the SAM-translated template's names fit AWS's limits; no hard-coded partition.

`python -m checks.rehearsal [template.yaml]` translates the template with the SAM translator (tools venv, as `sam
deploy` would), works out the longest physical name every named resource can get for a 60-character stack name,
compares it with the service's limit, and flags every `arn:aws:` literal in what is deployed or run against an
account (template, ASL, runtime package, handlers, CLI). Exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks._common import ROOT, TEMPLATE
from modelwatch.errors import ConfigError, ModelwatchError
from modelwatch_cli.local.translation import translate

LONGEST_STACK_NAME = 60  # README, first-deploy checklist

# Name property and length limit per resource type, from each service's API reference (CloudFormation passes the
# name through; a name CloudFormation generates itself is shortened to fit, so only names the template or SAM set
# can break a deploy):
# - IAM role 64, policy 128: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html,
#   https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html
# - Lambda function 64 (the name; 140 is the ARN), layer 140:
#   https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html,
#   https://docs.aws.amazon.com/lambda/latest/api/API_PublishLayerVersion.html
# - Step Functions state machine 80: https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html
# - CloudWatch Logs log group 512: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
# - CloudWatch alarm 255, dashboard 255: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html,
#   https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudwatch-dashboard.html
# - SQS queue 80: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
# - SNS topic 256: https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html
# - EventBridge rule 64: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html
# - EventBridge Scheduler schedule 64, group 64: https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html
# - DynamoDB table 255: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
# - S3 bucket 63: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
# - Glue database and table 255: https://docs.aws.amazon.com/glue/latest/webapi/API_DatabaseInput.html,
#   https://docs.aws.amazon.com/glue/latest/webapi/API_TableInput.html
NAME_LIMITS: dict[str, tuple[tuple[str, ...], int]] = {
    "AWS::IAM::Role": (("RoleName",), 64),
    "AWS::IAM::Policy": (("PolicyName",), 128),
    "AWS::IAM::ManagedPolicy": (("ManagedPolicyName",), 128),
    "AWS::Lambda::Function": (("FunctionName",), 64),
    "AWS::Lambda::LayerVersion": (("LayerName",), 140),
    "AWS::StepFunctions::StateMachine": (("StateMachineName",), 80),
    "AWS::Logs::LogGroup": (("LogGroupName",), 512),
    "AWS::CloudWatch::Alarm": (("AlarmName",), 255),
    "AWS::CloudWatch::Dashboard": (("DashboardName",), 255),
    "AWS::SQS::Queue": (("QueueName",), 80),
    "AWS::SNS::Topic": (("TopicName",), 256),
    "AWS::Events::Rule": (("Name",), 64),
    "AWS::Scheduler::Schedule": (("Name",), 64),
    "AWS::Scheduler::ScheduleGroup": (("Name",), 64),
    "AWS::DynamoDB::Table": (("TableName",), 255),
    "AWS::S3::Bucket": (("BucketName",), 63),
    "AWS::Glue::Database": (("DatabaseInput", "Name"), 255),
    "AWS::Glue::Table": (("TableInput", "Name"), 255),
}
# The longest values pseudo parameters take (partition aws-us-gov, 14-character region codes such as ap-southeast-2).
PSEUDO_PARAMETERS = {
    "AWS::AccountId": "1" * 12,
    "AWS::Region": "ap-southeast-2",
    "AWS::Partition": "aws-us-gov",
    "AWS::URLSuffix": "amazonaws.com.cn",
}
# What `Ref` returns for types whose Ref is an ARN or URL rather than the name (the rest return the name).
_REF_FORMATS = {
    "AWS::SNS::Topic": "arn:{partition}:sns:{region}:{account}:{name}",
    "AWS::StepFunctions::StateMachine": "arn:{partition}:states:{region}:{account}:stateMachine:{name}",
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{name}",
    "AWS::Lambda::LayerVersion": "arn:{partition}:lambda:{region}:{account}:layer:{name}:1",
}
_PARTITION_LITERAL = "arn:aws:"
# Shipped or run against an account: a literal `arn:aws:` breaks aws-cn and aws-us-gov deploys.
PARTITION_SCAN = (
    "template.yaml",
    "statemachines/**/*.json",
    "layers/modelwatch/modelwatch/**/*.py",
    "functions/**/*.py",
    "functions/**/Dockerfile",
    "cli/modelwatch_cli/**/*.py",
)


@dataclass(frozen=True)
class CheckedName:
    """One name the translated template sets, at its longest."""

    resource: str
    prop: str
    longest: str
    limit: int

    @property
    def fits(self) -> bool:
        return len(self.longest) <= self.limit


class _Names:
    """Longest physical names of a translated template's resources, for a stack name of the given length."""

    def __init__(self, translated: Mapping[str, Any], stack_name_length: int) -> None:
        self.resources: dict[str, Any] = dict(translated.get("Resources") or {})
        self.parameters: dict[str, Any] = dict(translated.get("Parameters") or {})
        self.pseudo = {**PSEUDO_PARAMETERS, "AWS::StackName": "s" * stack_name_length}
        self._names: dict[str, str] = {}

    def explicit(self, logical_id: str) -> tuple[str, str] | None:
        """(property path, longest value) of the name the template sets; None when CloudFormation generates it."""
        resource = self.resources[logical_id]
        path, _limit = NAME_LIMITS.get(resource["Type"], ((), 0))
        value: Any = resource.get("Properties") or {}
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not path or value is None:
            return None
        return ".".join(path), self.longest(value)

    def name(self, logical_id: str) -> str:
        """The resource's name at its longest: the template's, or a generated one of the type's full length."""
        if logical_id not in self._names:
            explicit = self.explicit(logical_id)
            if explicit is not None:
                self._names[logical_id] = explicit[1]
            else:
                _path, limit = NAME_LIMITS.get(self.resources[logical_id]["Type"], ((), 64))
                self._names[logical_id] = "g" * limit
        return self._names[logical_id]

    def ref(self, target: str) -> str:
        if target in self.pseudo:
            return self.pseudo[target]
        if target in self.parameters:
            spec = self.parameters[target]
            default = str(spec.get("Default", ""))
            return default.ljust(int(spec["MaxLength"]), "p") if "MaxLength" in spec else default
        if target not in self.resources:
            raise ConfigError(f"Ref to unknown {target}")
        name = self.name(target)
        form = _REF_FORMATS.get(self.resources[target]["Type"])
        if form is None:
            return name
        partition, region, account = (self.pseudo[k] for k in ("AWS::Partition", "AWS::Region", "AWS::AccountId"))
        return form.format(partition=partition, region=region, account=account, name=name)

    def get_att(self, target: str, attribute: str) -> str:
        if attribute in ("Arn", "Name", "TopicName", "QueueName"):
            return self.ref(target) if attribute == "Arn" else self.name(target)
        raise ConfigError(f"GetAtt {target}.{attribute}")

    def longest(self, value: Any) -> str:
        """A value's longest possible text (the longer branch of a condition)."""
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(parts[0]), str(parts[1]))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return str(separator).join(self.longest(item) for item in items)
            if key == "Fn::If":
                _condition, when_true, when_false = arg
                return max(self.longest(when_true), self.longest(when_false), key=len)
        raise ConfigError(f"cannot bound {value!r}")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.longest(variables[name])
            if "." in name and not name.startswith("AWS::"):
                target, attribute = name.split(".", 1)
                return self.get_att(target, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))


def checked_names(translated: Mapping[str, Any], stack_name_length: int = LONGEST_STACK_NAME) -> list[CheckedName]:
    """Every name the translated template sets (SAM's additions included), at its longest."""
    names = _Names(translated, stack_name_length)
    checked = []
    for logical_id, resource in names.resources.items():
        explicit = names.explicit(logical_id) if resource.get("Type") in NAME_LIMITS else None
        if explicit is not None:
            prop, longest = explicit
            checked.append(CheckedName(logical_id, prop, longest, NAME_LIMITS[resource["Type"]][1]))
    return checked


def hard_coded_partitions(root: Path = ROOT) -> list[str]:
    """`path:line` of every `arn:aws:` literal in what is deployed or run against an account."""
    found = []
    for path in sorted(_scanned(root)):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if _PARTITION_LITERAL in line:
                found.append(f"{path.relative_to(root)}:{number}")
    return found


def _scanned(root: Path) -> Iterator[Path]:
    seen: set[Path] = set()
    for pattern in PARTITION_SCAN:
        for path in root.glob(pattern):
            if path.is_file() and path not in seen and "__pycache__" not in path.parts:
                seen.add(path)
                yield path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks.rehearsal", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("template", nargs="?", type=Path, default=TEMPLATE)
    parser.add_argument("--stack-name-length", type=int, default=LONGEST_STACK_NAME)
    args = parser.parse_args(argv)
    problems = []
    try:
        names = checked_names(translate(args.template), args.stack_name_length)
    except ModelwatchError as exc:
        print(f"rehearsal: {exc}", file=sys.stderr)
        return 1
    for name in names:
        if not name.fits:
            problems.append(
                f"{name.resource}.{name.prop}: {len(name.longest)} > {name.limit} characters for a "
                f"{args.stack_name_length}-character stack name ({name.longest})"
            )
    problems += [f"{where}: hard-coded partition (use ${{AWS::Partition}})" for where in hard_coded_partitions()]
    for problem in problems:
        print(f"rehearsal: {problem}", file=sys.stderr)
    if problems:
        return 1
    longest = max(names, key=lambda n: len(n.longest) / n.limit, default=None)
    closest = f"; closest to its limit: {longest.resource} {len(longest.longest)}/{longest.limit}" if longest else ""
    print(
        f"rehearsal: OK: {len(names)} names set by the translated template fit for a {args.stack_name_length}-"
        f"character stack name{closest}; no hard-coded partition"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
