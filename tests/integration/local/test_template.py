"""The local stack reads template.yaml (the single source of wiring) like CloudFormation/SAM would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelwatch.errors import ConfigError
from modelwatch_cli.local.template import Template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
FIXTURE = Path(__file__).parent / "fixture" / "template.yaml"


def test_every_function_resolves_to_a_handler_file_and_environment() -> None:
    template = Template(TEMPLATE, stack_name="mw")
    functions = template.functions()
    assert {"IngestCaptureFunction", "AnalyseFunction", "PublishFunction"} <= set(functions)
    for spec in functions.values():
        assert spec.handler_file.parent.parent == ROOT / "functions"
        assert spec.handler_file.name == "app.py"
        # Globals merged in, refs resolved to local names.
        assert spec.environment["LAKE_BUCKET"] == "mw-lakebucket"
        assert spec.environment["STATE_TABLE"] == "mw-StateTable"
        assert spec.environment["STACK_NAME"] == "mw"
    analyse = functions["AnalyseFunction"]
    assert analyse.package_type == "Image"
    assert analyse.handler_attribute == "lambda_handler"  # from the Dockerfile's CMD
    ingest = functions["IngestCaptureFunction"]
    assert ingest.environment["MONITOR_STATE_MACHINE_ARN"].endswith(":stateMachine:mw-MonitorStateMachine")
    assert ingest.timeout == 300
    (event,) = ingest.queue_events
    assert (event.queue_logical_id, event.batch_size, event.report_batch_item_failures) == ("CaptureQueue", 10, True)


def test_schedules_come_from_parameters_and_events() -> None:
    template = Template(TEMPLATE, parameters={"ScheduleExpression": "rate(15 minutes)"})
    fleet = template.state_machines()["FleetStateMachine"]
    assert [(s.expression, s.input) for s in fleet.schedules] == [("rate(15 minutes)", {"trigger": "schedule"})]
    compact = template.functions()["CompactFunction"]
    assert compact.schedules[0].expression.startswith("cron(")


def test_conditions_switch_resources_and_outputs() -> None:
    own = Template(TEMPLATE)
    assert "CaptureBucket" in own.active_resources()
    existing = Template(TEMPLATE, parameters={"CaptureBucketName": "their-capture-bucket"})
    assert "CaptureBucket" not in existing.active_resources()
    assert existing.outputs()["CaptureBucketName"] == "their-capture-bucket"
    rule = existing.properties("CaptureCreatedRule")
    assert rule["EventPattern"]["detail"]["bucket"]["name"] == ["their-capture-bucket"]
    kms = Template(TEMPLATE, parameters={"DataKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"})
    assert kms.properties("CaptureQueue")["KmsMasterKeyId"].endswith(":key/k")
    assert "SqsManagedSseEnabled" not in kms.properties("CaptureQueue")
    # Without a customer key: SSE-SQS, and `!Ref AWS::NoValue` drops the key property.
    assert own.properties("CaptureQueue")["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in own.properties("CaptureQueue")


def test_sub_getatt_and_pseudo_parameters() -> None:
    template = Template(FIXTURE, stack_name="s1")
    outputs = template.outputs()
    assert outputs["LogicalName"] == "s1-arn:aws:s3:::s1-lakebucket"
    assert outputs["FlowArn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:s1-FlowStateMachine"
    assert template.properties("CaptureQueue")["RedrivePolicy"]["deadLetterTargetArn"] == (
        "arn:aws:sqs:us-east-1:123456789012:s1-CaptureDeadLetterQueue"
    )
    work = template.functions()["WorkFunction"]
    assert work.timeout == 60  # the function's own value wins over Globals
    assert work.environment["METRIC_NAMESPACE"] == "ModelWatchTest"


def test_definition_substitutions_are_applied_and_checked(tmp_path: Path) -> None:
    template = Template(FIXTURE)
    flow = template.state_machines()["FlowStateMachine"]
    definition = json.loads(flow.definition())
    assert definition["States"]["Work"]["Resource"].endswith(":function:modelwatch-local-WorkFunction")
    flow.substitutions.pop("WorkFunctionArn")
    with pytest.raises(ConfigError, match="WorkFunctionArn"):
        flow.definition()


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ConfigError, match="Nope"):
        Template(TEMPLATE, parameters={"Nope": "1"})
    with pytest.raises(ConfigError, match="ReportLinks"):
        Template(TEMPLATE, parameters={"ReportLinks": "public"})
