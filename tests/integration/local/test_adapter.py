"""The moto facts the local stack relies on (moto==5.2.5): an upgrade that breaks one fails here, loudly."""

from __future__ import annotations

import inspect
import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import moto
import pytest
from moto.awslambda.models import LambdaFunction

from modelwatch_cli.local import adapter
from modelwatch_cli.local.adapter import InvocationResult

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    calls: list[tuple[str, Any]] = []

    def router(name: str, event: Any) -> InvocationResult:
        calls.append((name, event))
        if isinstance(event, dict) and event.get("fail"):
            return InvocationResult(error_type="EstimationError", error_message="asked to fail")
        return InvocationResult(payload={"function": name, "seen": event})

    with adapter.embedded_aws(), adapter.route_lambda_invocations(router):
        clients = {
            n: boto3.client(n, region_name=REGION)
            for n in ("iam", "lambda", "stepfunctions", "s3", "sqs", "events", "cloudwatch")
        }
        role = clients["iam"].create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", "")
        zip_arn = clients["lambda"].create_function(
            FunctionName="zipfn", Runtime="python3.12", Role=role, Handler="app.h", Code={"ZipFile": buffer.getvalue()}
        )["FunctionArn"]
        image_arn = clients["lambda"].create_function(
            FunctionName="imagefn",
            Role=role,
            PackageType="Image",
            Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:latest"},
        )["FunctionArn"]
        yield {"clients": clients, "role": role, "zip": zip_arn, "image": image_arn, "calls": calls}


def _wait(sfn: Any, arn: str) -> dict[str, Any]:
    for _ in range(500):
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.01)
    raise AssertionError("execution did not finish")


def _machine(aws: dict[str, Any]) -> str:
    definition = {
        "StartAt": "Zip",
        "States": {
            "Zip": {
                "Type": "Task",
                "Resource": aws["zip"],
                "Next": "Image",
                "Catch": [{"ErrorEquals": ["EstimationError"], "ResultPath": "$.error", "Next": "Caught"}],
            },
            "Image": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": aws["image"], "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    return str(
        aws["clients"]["stepfunctions"].create_state_machine(
            name="m", definition=json.dumps(definition), roleArn=aws["role"]
        )["stateMachineArn"]
    )


def test_moto_is_the_pinned_version() -> None:
    assert moto.__version__ == "5.2.5"


def test_the_private_invoke_seam_has_the_signature_we_patch() -> None:
    params = list(inspect.signature(LambdaFunction.invoke).parameters)
    assert params == ["self", "body", "request_headers", "response_headers"]


def test_asl_executes_and_lambda_tasks_reach_the_router_zip_and_image(aws: dict[str, Any]) -> None:
    sfn = aws["clients"]["stepfunctions"]
    arn = adapter.start_named_execution(sfn, _machine(aws), "run-1", {"x": 1})
    result = _wait(sfn, arn)
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"function": "imagefn", "seen": {"function": "zipfn", "seen": {"x": 1}}}
    assert [name for name, _ in aws["calls"]] == ["zipfn", "imagefn"]


def test_a_routed_error_is_caught_by_its_error_type(aws: dict[str, Any]) -> None:
    sfn = aws["clients"]["stepfunctions"]
    result = _wait(sfn, adapter.start_named_execution(sfn, _machine(aws), "run-2", {"fail": True}))
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["error"]["Error"] == "EstimationError"


def test_an_unnamed_execution_is_named_none_so_we_always_name_them(aws: dict[str, Any]) -> None:
    sfn = aws["clients"]["stepfunctions"]
    machine = _machine(aws)
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert arn.endswith(":None")
    _wait(sfn, arn)
    with pytest.raises(ValueError, match="always named"):
        adapter.start_named_execution(sfn, machine, "", {})


def test_executions_run_in_background_threads(aws: dict[str, Any]) -> None:
    sfn = aws["clients"]["stepfunctions"]
    machine = _machine(aws)
    arn = adapter.start_named_execution(sfn, machine, "bg", {"x": 2})
    _wait(sfn, arn)
    assert adapter.running_executions(sfn, [machine]) == []


def test_an_execution_another_thread_is_starting_counts_as_running(aws: dict[str, Any]) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn = aws["clients"]["stepfunctions"]
    machine = _machine(aws)
    _wait(sfn, adapter.start_named_execution(sfn, machine, "half", {"x": 3}))
    # moto's start_execution appends the execution before setting its status: the instant another thread sees.
    backend = stepfunctions_parser_backends["123456789012"][REGION]  # the backend that executes ASL
    execution = backend.describe_state_machine(machine).executions[0]
    execution.exec_status = None
    with pytest.raises(AttributeError):
        sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")  # the moto fact
    assert adapter.running_executions(sfn, [machine]) == [f"{machine} <starting>"]


def test_s3_eventbridge_to_sqs_delivers_but_eventbridge_to_lambda_does_not(aws: dict[str, Any]) -> None:
    s3, sqs, events = aws["clients"]["s3"], aws["clients"]["sqs"], aws["clients"]["events"]
    s3.create_bucket(Bucket="capture")
    s3.put_bucket_notification_configuration(
        Bucket="capture", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["capture"]}, "object": {"key": [{"prefix": "datacapture/"}]}},
    }
    events.put_rule(Name="to-queue", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="to-queue", Targets=[{"Id": "q", "Arn": queue_arn}])
    events.put_rule(Name="to-lambda", EventPattern=json.dumps({"source": ["aws.s3"]}))
    events.put_targets(Rule="to-lambda", Targets=[{"Id": "l", "Arn": aws["zip"]}])

    s3.put_object(Bucket="capture", Key="datacapture/e/v/2026/01/01/00/a.jsonl", Body=b"{}")
    s3.put_object(Bucket="capture", Key="elsewhere/b.jsonl", Body=b"{}")

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b["detail"]["object"]["key"] for b in bodies] == ["datacapture/e/v/2026/01/01/00/a.jsonl"]
    assert bodies[0]["detail-type"] == "Object Created"
    assert aws["calls"] == []  # EventBridge -> Lambda: nothing invoked


def test_sqs_redrives_to_the_dead_letter_queue_after_max_receive_count(aws: dict[str, Any]) -> None:
    sqs = aws["clients"]["sqs"]
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = sqs.create_queue(QueueName="main", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    counts = []
    for _ in range(3):
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        counts.extend(m["Attributes"]["ApproximateReceiveCount"] for m in got)
        for m in got:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    assert counts == ["1", "2"]
    assert len(sqs.receive_message(QueueUrl=dlq).get("Messages", [])) == 1


def test_cloudwatch_never_evaluates_alarms_and_raw_datapoints_keep_exact_dimensions(aws: dict[str, Any]) -> None:
    cloudwatch = aws["clients"]["cloudwatch"]
    cloudwatch.put_metric_alarm(
        AlarmName="a",
        Namespace="N",
        MetricName="M",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    now = datetime.now(UTC)
    cloudwatch.put_metric_data(
        Namespace="N",
        MetricData=[
            {"MetricName": "M", "Value": 5.0, "Timestamp": now},
            {"MetricName": "M", "Value": 7.0, "Timestamp": now, "Dimensions": [{"Name": "Model", "Value": "x"}]},
        ],
    )
    assert cloudwatch.describe_alarms()["MetricAlarms"][0]["StateValue"] != "ALARM"
    # get_metric_statistics without dimensions mixes in the dimensioned series (CloudWatch would not).
    stats = cloudwatch.get_metric_statistics(
        Namespace="N",
        MetricName="M",
        StartTime=now.replace(year=now.year - 1),
        EndTime=now.replace(year=now.year + 1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert max(p["Maximum"] for p in stats) == 7.0
    raw = adapter.cloudwatch_datapoints("123456789012", REGION)
    assert sorted((p.dimensions, p.stat_max) for p in raw) == [((), 5.0), ((("Model", "x"),), 7.0)]


def test_api_calls_are_counted_for_clients_created_while_counting(aws: dict[str, Any]) -> None:
    # Given a client created before counting began (not counted: clients copy the session's handlers)
    before = boto3.client("cloudwatch", region_name=REGION)
    with adapter.counted_api_calls() as counted:
        # When clients created while counting call AWS
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        point = {"MetricName": "M", "Value": 1.0}
        cloudwatch.put_metric_data(Namespace="N", MetricData=[point, point, point])
        cloudwatch.put_metric_data(Namespace="Other", MetricData=[point])
        sqs.list_queues()
        before.put_metric_data(Namespace="N", MetricData=[point])
    after = boto3.client("cloudwatch", region_name=REGION)
    after.put_metric_data(Namespace="N", MetricData=[point])
    # Then each call of theirs counted once, with the datapoints PutMetricData carried per namespace
    assert counted.count("cloudwatch", "PutMetricData") == 2 and counted.count("sqs", "ListQueues") == 1
    assert counted.datapoints == {"N": 3, "Other": 1}
    assert counted.by_service("cloudwatch") == 2
