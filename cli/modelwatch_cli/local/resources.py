"""Create the template's resources on moto: buckets, queues with redrive, rules, table, topics, alarms, functions."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelwatch.errors import ConfigError, LocalStackError
from modelwatch_cli.local import adapter
from modelwatch_cli.local.template import Template

LOCAL_ROLE = "modelwatch-local-role"
SUBSCRIBER_QUEUE = "modelwatch-local-subscriber"


@dataclass
class CreatedResources:
    """What was created, by logical id (physical names also live in `template.refs`)."""

    buckets: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    topics: dict[str, str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    alarms: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    subscriber_queue_url: str = ""
    capture_bucket: str = ""


def _dummy_zip() -> bytes:
    # moto needs a code package; invocations never run it (they are routed in-process).
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    raise RuntimeError('routed locally')\n")
    return buffer.getvalue()


def create_resources(
    template: Template, clients: dict[str, Any], roles: Mapping[str, str] | None = None
) -> CreatedResources:
    """Create every active resource of the template (order: storage, keys, queues, topics, functions, workflows,
    alarms).

    `roles` maps a function's or state machine's logical id to its role ARN; without one it gets a shared local role.
    """
    created = CreatedResources()
    s3, sqs, sns, events = clients["s3"], clients["sqs"], clients["sns"], clients["events"]
    for logical_id in template.of_type("AWS::S3::Bucket"):
        name = template.refs[logical_id]
        s3.create_bucket(Bucket=name)
        props = template.properties(logical_id)
        if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        # Every local bucket sends EventBridge notifications (the capture bucket must; the rest is harmless).
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        created.buckets[logical_id] = name
    if not template.condition_or_true("CreateCaptureBucket"):
        # An "existing" capture bucket: create it locally and turn on its EventBridge notifications.
        name = template.parameters["CaptureBucketName"]
        s3.create_bucket(Bucket=name)
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    created.capture_bucket = str(template.outputs().get("CaptureBucketName", ""))

    for logical_id in template.of_type("AWS::DynamoDB::Table"):
        props = template.properties(logical_id)
        clients["dynamodb"].create_table(
            TableName=template.refs[logical_id],
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
        )

    for logical_id in template.of_type("AWS::KMS::Key"):
        adapter.create_key_with_id(clients["kms"], template.refs[logical_id], _key_arguments(template, logical_id))

    # Queues: dead-letter queues first, since redrive policies name them.
    queue_ids = template.of_type("AWS::SQS::Queue")
    queue_ids.sort(key=lambda lid: "RedrivePolicy" in (template.resources[lid].get("Properties") or {}))
    for logical_id in queue_ids:
        props = template.properties(logical_id)
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in props:
                attributes[key] = str(props[key])
        if "RedrivePolicy" in props:
            redrive = props["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                    "maxReceiveCount": int(redrive["maxReceiveCount"]),
                }
            )
        url = sqs.create_queue(QueueName=template.attributes[(logical_id, "QueueName")], Attributes=attributes)[
            "QueueUrl"
        ]
        template.refs[logical_id] = url
        template.attributes[(logical_id, "QueueUrl")] = url
        created.queues[logical_id] = url

    for logical_id in template.of_type("AWS::SNS::Topic"):
        arn = sns.create_topic(Name=template.attributes[(logical_id, "TopicName")])["TopicArn"]
        created.topics[logical_id] = arn

    # The local subscriber: one queue subscribed to every topic, drained by the stack to show what was sent.
    created.subscriber_queue_url = sqs.create_queue(QueueName=SUBSCRIBER_QUEUE)["QueueUrl"]
    subscriber_arn = sqs.get_queue_attributes(QueueUrl=created.subscriber_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for topic_arn in created.topics.values():
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=subscriber_arn)
    for logical_id in template.of_type("AWS::SNS::Subscription"):
        props = template.properties(logical_id)
        sns.subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])

    for logical_id in template.of_type("AWS::Events::Rule"):
        props = template.properties(logical_id)
        if "EventPattern" not in props:
            continue  # schedule rules are fired by the local clock (EventBridge -> Lambda does not deliver)
        name = template.refs[logical_id]
        events.put_rule(Name=name, EventPattern=json.dumps(props["EventPattern"]), State=props.get("State", "ENABLED"))
        targets = [{k: t[k] for k in ("Id", "Arn", "DeadLetterConfig") if k in t} for t in props.get("Targets", [])]
        events.put_targets(Rule=name, Targets=targets)

    role_of = _role_lookup(clients["iam"], roles)
    code = _dummy_zip()
    for spec in template.functions().values():
        if spec.package_type == "Image":
            code_spec: dict[str, Any] = {
                "ImageUri": f"{template.account_id}.dkr.ecr.{template.region}.amazonaws.com/{spec.name.lower()}:local"
            }
            extra: dict[str, Any] = {"PackageType": "Image"}
        else:
            code_spec = {"ZipFile": code}
            extra = {"Runtime": "python3.12", "Handler": f"app.{spec.handler_attribute}"}
        response = clients["lambda"].create_function(
            FunctionName=spec.name,
            Role=role_of(spec.logical_id),
            Code=code_spec,
            Timeout=min(spec.timeout, 900),
            Environment={"Variables": spec.environment},
            **extra,
        )
        created.functions[spec.logical_id] = response["FunctionArn"]

    for machine in template.state_machines().values():
        arn = clients["stepfunctions"].create_state_machine(
            name=machine.name,
            definition=machine.definition(),
            roleArn=role_of(machine.logical_id),
            type="STANDARD",
        )["stateMachineArn"]
        created.state_machines[machine.logical_id] = arn

    for logical_id in template.of_type("AWS::CloudWatch::Alarm"):
        props = template.properties(logical_id)
        name = template.refs[logical_id]
        arguments: dict[str, Any] = {"AlarmName": name}
        for key in (
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "ExtendedStatistic",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "AlarmActions",
            "OKActions",
            "InsufficientDataActions",
            "Unit",
            "Metrics",
        ):
            if key in props:
                arguments[key] = props[key]
        for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if key in arguments:
                arguments[key] = int(arguments[key])
        for query in arguments.get("Metrics", []):  # a metric math alarm: each MetricStat has its own period
            if "MetricStat" in query:
                query["MetricStat"]["Period"] = int(query["MetricStat"]["Period"])
        if "Threshold" in arguments:
            arguments["Threshold"] = float(arguments["Threshold"])
        clients["cloudwatch"].put_metric_alarm(**arguments)
        created.alarms[logical_id] = name
    return created


def _key_arguments(template: Template, logical_id: str) -> dict[str, Any]:
    """CreateKey's arguments; the key policy only when it resolves (without IAM the stack's roles have no ARNs, and
    moto does not evaluate key policies anyway)."""
    raw = dict(template.resources[logical_id].get("Properties") or {})
    policy = raw.pop("KeyPolicy", None)
    props = template.resolve(raw)
    arguments: dict[str, Any] = {k: props[k] for k in ("KeySpec", "KeyUsage", "Description") if k in props}
    if policy is not None:
        with contextlib.suppress(ConfigError):
            arguments["Policy"] = json.dumps(template.resolve(policy))
    return arguments


def _role_lookup(iam: Any, roles: Mapping[str, str] | None) -> Callable[[str], str]:
    """Each function's and state machine's own role, or one shared local role when IAM is not enforced."""
    if roles is None:
        shared = _role(iam)
        return lambda _logical_id: shared

    def role_of(logical_id: str) -> str:
        if logical_id not in roles:
            raise LocalStackError(f"{logical_id} has no role of its own in the translated template")
        return roles[logical_id]

    return role_of


def _role(iam: Any) -> str:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(iam.create_role(RoleName=LOCAL_ROLE, AssumeRolePolicyDocument=json.dumps(document))["Role"]["Arn"])
