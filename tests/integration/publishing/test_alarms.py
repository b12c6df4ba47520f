"""Per-model alarms on moto: created with the right metric, threshold and actions; deleted by model and stack."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
from click.testing import CliRunner

from modelwatch.config.model import Alerts, EndpointAlarms, GroundTruth
from modelwatch.publishing.alarms import (
    AlarmSettings,
    alarm_name,
    create_model_alarms,
    delete_all_model_alarms,
    delete_model_alarms,
    drill_alarm,
)

from .conftest import MODEL, STACK, Aws, car_loan_config

SILENCE = ("no-data", "quarantine", "stalled")  # with the defaults and no reference rate, no label deadline


def _alarms(aws: Aws) -> dict[str, dict[str, Any]]:
    pages = aws.cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
    return {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"]}


def _other_model(name: str) -> Any:
    return car_loan_config().model_copy(update={"name": name})


def _settings(aws: Aws, stack: str = STACK, **overrides: Any) -> AlarmSettings:
    return AlarmSettings(stack=stack, alarms_topic_arn=aws.alarms_topic_arn, **overrides)


def _names(stack: str, model: str, *whats: str) -> list[str]:
    return sorted(alarm_name(stack, model, w) for w in whats)


def test_the_model_alarm_follows_its_state_and_keeps_it_between_runs(aws: Aws) -> None:
    # Given a registered model with three metrics
    config = car_loan_config()

    # When its alarms are created
    names = create_model_alarms(aws.cloudwatch, _settings(aws), config)

    # Then one state alarm for the model (changed by #19: not one per metric) on AlertState (Model), Maximum >= 1
    # over one-minute periods, keeping its state while no run publishes, and the silence alarms
    assert sorted(names) == sorted(_alarms(aws)) == _names(STACK, MODEL, "alert", *SILENCE)
    alarm = _alarms(aws)[alarm_name(STACK, MODEL)]
    assert alarm["AlarmName"] == f"modelwatch-{STACK}-{MODEL}-alert"
    assert (alarm["Namespace"], alarm["MetricName"]) == ("ModelWatch", "AlertState")
    assert alarm["Dimensions"] == [{"Name": "Model", "Value": MODEL}]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
        "Maximum",
        60,
        1,
        1,
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1.0, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "ignore"
    assert alarm["AlarmActions"] == [aws.alarms_topic_arn] and alarm["OKActions"] == [aws.alarms_topic_arn]
    tags = aws.cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"modelwatch:model": MODEL, "modelwatch:stack": STACK}


def test_silence_alarms_follow_the_schedule_the_reference_and_the_label_deadline(aws: Aws) -> None:
    # Given a 15-minute schedule, a reference of 3000 rows an hour, labels due 6 h after a chunk, endpoint alarms
    config = car_loan_config().model_copy(
        update={
            "ground_truth": GroundTruth(expected_delay="6h"),
            "alerts": Alerts(no_data_after="3h", endpoint=EndpointAlarms(enabled=True, max_latency_ms=200)),
        }
    )
    settings = _settings(aws, schedule_interval=timedelta(minutes=15), reference_rows_per_hour=3000.0)

    # When the alarms are created
    create_model_alarms(aws.cloudwatch, settings, config)
    alarms = _alarms(aws)

    # Then each silence is watched: no heartbeat for two 15-minute periods (missing filled with 0) ...
    stalled = alarms[alarm_name(STACK, MODEL, "stalled")]
    stat = stalled["Metrics"][0]["MetricStat"]
    assert (stat["Metric"]["MetricName"], stat["Period"], stat["Stat"]) == ("RunHeartbeat", 900, "Sum")
    assert stalled["Metrics"][1]["Expression"] == "FILL(m, 0)"
    assert (stalled["EvaluationPeriods"], stalled["DatapointsToAlarm"], stalled["Threshold"]) == (2, 2, 1.0)
    # ... no captured rows for 3 h (ingestion's counts carry the service dimension) ...
    no_data = alarms[alarm_name(STACK, MODEL, "no-data")]
    stat = no_data["Metrics"][0]["MetricStat"]
    assert stat["Metric"]["Dimensions"] == [
        {"Name": "Model", "Value": MODEL},
        {"Name": "service", "Value": "modelwatch"},
    ]
    assert (stat["Metric"]["MetricName"], stat["Period"], no_data["EvaluationPeriods"]) == ("CapturedRows", 10800, 1)
    # ... fewer than 10 % of the reference's rows an hour for 3 hours ...
    low = alarms[alarm_name(STACK, MODEL, "low-traffic")]
    assert (low["Threshold"], low["EvaluationPeriods"], low["ComparisonOperator"]) == (300.0, 3, "LessThanThreshold")
    # ... label coverage of the due chunks below min_label_coverage ...
    lag = alarms[alarm_name(STACK, MODEL, "label-lag")]
    assert (lag["MetricName"], lag["Threshold"], lag["TreatMissingData"]) == ("LabelCoverage", 0.5, "ignore")
    # ... the share of quarantined records ...
    share = alarms[alarm_name(STACK, MODEL, "quarantine")]
    assert share["Metrics"][-1]["Expression"] == "FILL(q, 0) / (FILL(q, 0) + FILL(d, 0))"
    assert (share["Threshold"], share["TreatMissingData"]) == (0.05, "notBreaching")
    # ... and the endpoint's own latency and 5XX errors (AWS/SageMaker, in microseconds)
    latency = alarms[alarm_name(STACK, MODEL, "endpoint-latency")]
    assert (latency["Namespace"], latency["MetricName"], latency["Threshold"]) == (
        "AWS/SageMaker",
        "ModelLatency",
        200_000.0,
    )
    assert latency["Dimensions"] == [
        {"Name": "EndpointName", "Value": "car-loan-endpoint"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    assert alarm_name(STACK, MODEL, "endpoint-5xx") in alarms
    assert alarm_name(STACK, MODEL, "endpoint-4xx") not in alarms  # max_4xx not set


def test_re_registering_without_what_an_alarm_needs_removes_it(aws: Aws) -> None:
    # Given a model registered with a label deadline, and a fire drill's alarm in flight
    config = car_loan_config().model_copy(update={"ground_truth": GroundTruth(expected_delay="6h")})
    create_model_alarms(aws.cloudwatch, _settings(aws), config)
    aws.cloudwatch.put_metric_alarm(**drill_alarm(_settings(aws), MODEL, "d1"))

    # When the model is registered again without one
    create_model_alarms(aws.cloudwatch, _settings(aws), car_loan_config())

    # Then the label-lag alarm is gone and the drill's alarm is left to the drill
    assert sorted(_alarms(aws)) == sorted(
        [*_names(STACK, MODEL, "alert", *SILENCE), alarm_name(STACK, MODEL, "drill-d1")]
    )


def test_delete_model_alarms_leaves_other_models_and_stacks_alone(aws: Aws) -> None:
    # Given alarms of the model, of a model whose name extends it, and of the same model in another stack
    create_model_alarms(aws.cloudwatch, _settings(aws), car_loan_config())
    create_model_alarms(aws.cloudwatch, _settings(aws), _other_model(f"{MODEL}-v2"))
    create_model_alarms(aws.cloudwatch, _settings(aws, f"{STACK}-{MODEL}"), _other_model("v2"))
    create_model_alarms(aws.cloudwatch, _settings(aws, "other"), car_loan_config())
    before = set(_alarms(aws))

    # When the model is unregistered
    deleted = delete_model_alarms(aws.cloudwatch, STACK, MODEL)

    # Then exactly its alarms are gone
    assert sorted(deleted) == _names(STACK, MODEL, "alert", *SILENCE)
    assert set(_alarms(aws)) == before - set(deleted)


def test_delete_all_model_alarms_is_the_stack_teardown(aws: Aws) -> None:
    # Given alarms of two models in the stack and one in another stack
    create_model_alarms(aws.cloudwatch, _settings(aws), car_loan_config())
    create_model_alarms(aws.cloudwatch, _settings(aws), _other_model("card"))
    create_model_alarms(aws.cloudwatch, _settings(aws, "other"), car_loan_config())

    # When the stack's model alarms are torn down
    deleted = delete_all_model_alarms(aws.cloudwatch, STACK)

    # Then only the other stack's alarms remain
    assert len(deleted) == 2 * 4
    assert sorted(_alarms(aws)) == _names("other", MODEL, "alert", *SILENCE)


def test_teardown_command_deletes_the_stacks_alarms(aws: Aws) -> None:
    # Given per-model alarms of the stack
    create_model_alarms(aws.cloudwatch, _settings(aws), car_loan_config())

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
    assert f"4 per-model alarm(s) of stack {STACK} deleted" in result.output
