"""Per-model alarms on moto: created with the right metric, threshold and actions; deleted by model and stack."""

from __future__ import annotations

import json
from typing import Any

import boto3
from click.testing import CliRunner

from modelwatch.publishing.alarms import (
    alarm_name,
    create_model_alarms,
    delete_all_model_alarms,
    delete_model_alarms,
)

from .conftest import MODEL, STACK, Aws, car_loan_config


def _alarms(aws: Aws) -> dict[str, dict[str, Any]]:
    pages = aws.cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
    return {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"]}


def _other_model(name: str) -> Any:
    return car_loan_config().model_copy(update={"name": name})


def test_create_model_alarms_one_per_metric_on_the_alert_metric(aws: Aws) -> None:
    # Given a registered model with three metrics
    config = car_loan_config()

    # When its alarms are created
    names = create_model_alarms(aws.cloudwatch, STACK, config, aws.alarms_topic_arn)

    # Then there is one alarm per metric on Alert (Model, Metric), Maximum >= 1 over one 5-minute period
    assert names == [f"modelwatch-{STACK}-{MODEL}-{m}-alert" for m in ("roc_auc", "f1", "accuracy")]
    alarms = _alarms(aws)
    assert sorted(alarms) == sorted(names)
    alarm = alarms[alarm_name(STACK, MODEL, "f1")]
    assert alarm["Namespace"] == "ModelWatch"
    assert alarm["MetricName"] == "Alert"
    assert sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]) == [("Metric", "f1"), ("Model", MODEL)]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Maximum", 300, 1)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1.0, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [aws.alarms_topic_arn] and alarm["OKActions"] == [aws.alarms_topic_arn]
    tags = aws.cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"modelwatch:model": MODEL, "modelwatch:stack": STACK}


def test_re_registering_with_fewer_metrics_removes_the_stale_alarm(aws: Aws) -> None:
    # Given alarms for three metrics
    create_model_alarms(aws.cloudwatch, STACK, car_loan_config(), aws.alarms_topic_arn)

    # When the model is registered again with two metrics
    create_model_alarms(aws.cloudwatch, STACK, car_loan_config(metrics=["roc_auc", "f1"]), aws.alarms_topic_arn)

    # Then the accuracy alarm is gone
    assert sorted(_alarms(aws)) == sorted(alarm_name(STACK, MODEL, m) for m in ("roc_auc", "f1"))


def test_delete_model_alarms_leaves_other_models_and_stacks_alone(aws: Aws) -> None:
    # Given alarms of the model, of a model whose name extends it, and of the same model in another stack
    create_model_alarms(aws.cloudwatch, STACK, car_loan_config(), aws.alarms_topic_arn)
    create_model_alarms(aws.cloudwatch, STACK, _other_model(f"{MODEL}-v2"), aws.alarms_topic_arn)
    create_model_alarms(aws.cloudwatch, f"{STACK}-{MODEL}", _other_model("v2"), aws.alarms_topic_arn)
    create_model_alarms(aws.cloudwatch, "other", car_loan_config(), aws.alarms_topic_arn)
    before = set(_alarms(aws))

    # When the model is unregistered
    deleted = delete_model_alarms(aws.cloudwatch, STACK, MODEL)

    # Then exactly its three alarms are gone
    assert sorted(deleted) == sorted(alarm_name(STACK, MODEL, m) for m in ("roc_auc", "f1", "accuracy"))
    assert set(_alarms(aws)) == before - set(deleted)


def test_delete_all_model_alarms_is_the_stack_teardown(aws: Aws) -> None:
    # Given alarms of two models in the stack and one in another stack
    create_model_alarms(aws.cloudwatch, STACK, car_loan_config(), aws.alarms_topic_arn)
    create_model_alarms(aws.cloudwatch, STACK, _other_model("card"), aws.alarms_topic_arn)
    create_model_alarms(aws.cloudwatch, "other", car_loan_config(), aws.alarms_topic_arn)

    # When the stack's model alarms are torn down
    deleted = delete_all_model_alarms(aws.cloudwatch, STACK)

    # Then only the other stack's alarms remain
    assert len(deleted) == 6
    assert sorted(_alarms(aws)) == sorted(alarm_name("other", MODEL, m) for m in ("roc_auc", "f1", "accuracy"))


def test_teardown_command_deletes_the_stacks_alarms(aws: Aws) -> None:
    # Given per-model alarms of the stack
    create_model_alarms(aws.cloudwatch, STACK, car_loan_config(), aws.alarms_topic_arn)

    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=STACK,
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
    )

    # When the documented teardown verb runs against the stack
    from modelwatch_cli.commands.teardown import teardown

    result = CliRunner().invoke(teardown, ["--stack", STACK, "--region", "us-east-1"])

    # Then they are gone and the command says so
    assert result.exit_code == 0, result.output
    assert _alarms(aws) == {}
    assert f"3 per-model alarm(s) of stack {STACK} deleted" in result.output
