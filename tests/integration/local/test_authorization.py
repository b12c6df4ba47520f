"""IAM on moto as the local stack enforces it (moto==5.2.5): each gap `authorization` fills is checked here."""

from __future__ import annotations

import contextlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from modelwatch_cli.local import adapter, authorization
from modelwatch_cli.local.adapter import InvocationResult
from modelwatch_cli.local.iam import Credentials, RoleSpec, StackRoles, assume, create_operator, create_roles

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/allowed"


@dataclass
class Aws:
    """An enforced moto with one role (its statements given per test) and the operator."""

    operator: Credentials
    role: Credentials
    role_arn: str
    calls: list[str]

    def client(self, service: str, as_role: bool = True) -> Any:
        keys = (self.role if as_role else self.operator).client_arguments()
        return boto3.client(service, region_name=REGION, **keys)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    return buffer.getvalue()


@pytest.fixture
def enforce() -> Iterator[Any]:
    """enforce(statements) -> Aws: resources created as the operator, then IAM enforced for every request."""
    calls: list[str] = []

    def router(name: str, event: Any) -> InvocationResult:
        calls.append(name)
        return InvocationResult(payload={"ok": True})

    with adapter.embedded_aws(), adapter.route_lambda_invocations(router), contextlib.ExitStack() as stack:

        def start(statements: list[dict[str, Any]]) -> Aws:
            iam, sts = boto3.client("iam", region_name=REGION), boto3.client("sts", region_name=REGION)
            operator = create_operator(iam)
            trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
            spec = RoleSpec("R", "r", f"arn:aws:iam::{ACCOUNT}:role/r", trust, {"p": {"Statement": statements}})
            create_roles(iam, StackRoles({spec.logical_id: spec}, {}), authorization.aws_managed_policy)
            role = assume(sts, spec, "session")
            aws = Aws(operator, role, spec.arn, calls)
            _create_resources(aws)
            stack.enter_context(authorization.enforced(lambda arn: role))
            return aws

        yield start


def _create_resources(aws: Aws) -> None:
    dynamodb = aws.client("dynamodb", as_role=False)
    for table in ("allowed", "other"):
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    sns = aws.client("sns", as_role=False)
    for topic in ("allowed", "other"):
        sns.create_topic(Name=topic)
    for name in ("allowed", "other"):
        aws.client("lambda", as_role=False).create_function(
            FunctionName=name, Runtime="python3.12", Role=aws.role_arn, Handler="app.h", Code={"ZipFile": _zip()}
        )


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_dynamodb_is_authorised_on_the_table_the_request_names(enforce: Any) -> None:
    # Given a role that may put items into one table only (as DynamoDBCrudPolicy scopes it)
    aws = enforce([{"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": TABLE_ARN}])
    dynamodb = aws.client("dynamodb")
    # When it writes to that table, then to another
    dynamodb.put_item(TableName="allowed", Item={"pk": {"S": "a"}})
    with pytest.raises(ClientError) as denied:
        dynamodb.put_item(TableName="other", Item={"pk": {"S": "a"}})
    # Then only the other table is denied, with a code botocore can read and the resource named
    assert _code(denied.value) == "AccessDeniedException"
    assert "dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/other" in str(denied.value)


def test_transactions_need_the_permission_of_each_item(enforce: Any) -> None:
    # Given a role with PutItem but without ConditionCheckItem (DynamoDB authorises transactions per item)
    aws = enforce([{"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": TABLE_ARN}])
    dynamodb = aws.client("dynamodb")
    put = {"Put": {"TableName": "allowed", "Item": {"pk": {"S": "a"}}}}
    condition = {"TableName": "allowed", "Key": {"pk": {"S": "b"}}, "ConditionExpression": "attribute_not_exists(pk)"}
    check = {"ConditionCheck": condition}
    # When a transaction holds only puts, then also a condition check
    dynamodb.transact_write_items(TransactItems=[put])
    with pytest.raises(ClientError) as denied:
        dynamodb.transact_write_items(TransactItems=[put, check])
    # Then the second is denied for the missing item permission
    assert "dynamodb:ConditionCheckItem" in str(denied.value)


def test_cloudwatch_is_checked_as_cloudwatch_with_the_namespace_condition(enforce: Any) -> None:
    # Given the template's PutMetricData statement: Resource "*", limited to one namespace by a condition
    aws = enforce(
        [
            {
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": "ModelWatch"}},
            }
        ]
    )
    cloudwatch = aws.client("cloudwatch")
    # When it puts a datapoint in its namespace (also a batch large enough for botocore to gzip), then elsewhere
    cloudwatch.put_metric_data(Namespace="ModelWatch", MetricData=[{"MetricName": "m", "Value": 1.0}])
    many = [{"MetricName": f"metric-{i:04d}", "Value": float(i)} for i in range(400)]
    cloudwatch.put_metric_data(Namespace="ModelWatch", MetricData=many)
    with pytest.raises(ClientError) as denied:
        cloudwatch.put_metric_data(Namespace="Elsewhere", MetricData=[{"MetricName": "m", "Value": 1.0}])
    # Then only the other namespace is denied
    assert "cloudwatch:PutMetricData" in str(denied.value)


def test_cloudwatch_alarms_are_authorised_on_the_alarm_they_name(enforce: Any) -> None:
    # Given EndpointUpdateFunction's statement: put (tagged) alarms under one name prefix
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:modelwatch-stack-*"
    aws = enforce(
        [{"Effect": "Allow", "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:TagResource"], "Resource": alarm}]
    )
    cloudwatch = aws.client("cloudwatch")
    common = {"MetricName": "m", "Namespace": "ModelWatch", "Statistic": "Maximum", "Period": 60}
    common |= {"EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}
    # When it puts an alarm under the prefix, then one outside it
    cloudwatch.put_metric_alarm(AlarmName="modelwatch-stack-m.v-alert", Tags=[{"Key": "k", "Value": "v"}], **common)
    with pytest.raises(ClientError) as denied:
        cloudwatch.put_metric_alarm(AlarmName="someone-elses-alarm", **common)
    # Then only the other one is denied, on its own ARN
    assert "cloudwatch:PutMetricAlarm" in str(denied.value) and "alarm:someone-elses-alarm" in str(denied.value)


def test_lambda_invoke_is_authorised_as_invoke_function_on_the_function(enforce: Any) -> None:
    # Given LambdaInvokePolicy's shape: lambda:InvokeFunction on `function:<name>*`
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:allowed*"
    aws = enforce([{"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": arn}])
    lam = aws.client("lambda")
    # When it invokes that function, then another
    lam.invoke(FunctionName="allowed", Payload=b"{}")
    with pytest.raises(ClientError) as denied:
        lam.invoke(FunctionName="other", Payload=b"{}")
    # Then the other is denied before it runs
    assert aws.calls == ["allowed"]
    assert _code(denied.value) == "AccessDeniedException"


def test_sns_publish_is_authorised_on_the_topic(enforce: Any) -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:allowed"
    aws = enforce([{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": topic}])
    sns = aws.client("sns")
    sns.publish(TopicArn=topic, Message="m")
    with pytest.raises(ClientError) as denied:
        sns.publish(TopicArn=topic.replace("allowed", "other"), Message="m")
    assert _code(denied.value) == "AccessDenied"
    assert f"sns:Publish on resource: {topic.replace('allowed', 'other')}" in str(denied.value)


def test_step_functions_are_authorised_on_the_state_machine_and_its_executions(enforce: Any) -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:allowed"
    aws = enforce([{"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": machine}])
    sfn_operator = aws.client("stepfunctions", as_role=False)
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    sfn_operator.create_state_machine(name="allowed", definition=definition, roleArn=aws.role_arn)
    sfn = aws.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=machine, name="e1", input="{}")
    # DescribeExecution is another action on another resource (the execution): not granted
    with pytest.raises(ClientError) as denied:
        sfn.describe_execution(executionArn=started["executionArn"])
    assert f"states:DescribeExecution on resource: {started['executionArn']}" in str(denied.value)


def test_kms_is_authorised_on_the_key_the_request_names(enforce: Any) -> None:
    # Given a role that may make and check MACs with one HMAC key only (as the analysis role's statement)
    aws = enforce([{"Effect": "Allow", "Action": ["kms:GenerateMac"], "Resource": f"arn:aws:kms:{REGION}:*:key/*"}])
    kms_operator = aws.client("kms", as_role=False)
    key = kms_operator.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    kms = aws.client("kms")
    # When it signs with the key (by id and by ARN), then asks to verify (not granted)
    for key_id in (key["KeyId"], key["Arn"]):
        kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    with pytest.raises(ClientError) as denied:
        kms.verify_mac(KeyId=key["Arn"], Message=b"m", Mac=b"x" * 32, MacAlgorithm="HMAC_SHA_256")
    # Then the verification is denied on that key
    assert f"kms:VerifyMac on resource: {key['Arn']}" in str(denied.value)


def test_s3_delete_objects_is_authorised_on_each_key(enforce: Any) -> None:
    # Given a role that may delete under one prefix of a bucket only (as the compaction role)
    aws = enforce([{"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": "arn:aws:s3:::lake/captures/*"}])
    s3_operator = aws.client("s3", as_role=False)
    s3_operator.create_bucket(Bucket="lake")
    for key in ("captures/a", "captures/b", "models/m/baseline.pkl"):
        s3_operator.put_object(Bucket="lake", Key=key, Body=b"x")
    s3 = aws.client("s3")
    # When it deletes two keys under its prefix, then a batch that also holds a key outside it
    deleted = s3.delete_objects(Bucket="lake", Delete={"Objects": [{"Key": "captures/a"}, {"Key": "captures/b"}]})
    batch = {"Objects": [{"Key": "captures/a"}, {"Key": "models/m/baseline.pkl"}]}
    refused = s3.delete_objects(Bucket="lake", Delete=batch)
    # Then the first succeeds and the second deletes nothing (the models/ key stays)
    assert not deleted.get("Errors")
    assert {e["Code"] for e in refused["Errors"]} == {"AccessDenied"}
    assert s3_operator.get_object(Bucket="lake", Key="models/m/baseline.pkl")["Body"].read() == b"x"


def test_the_operator_may_do_everything_even_a_get_with_a_query(enforce: Any) -> None:
    # moto signs a GET's query parameters again as a body: the operator's ListFunctions would never match
    aws = enforce([{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"}])
    names = {f["FunctionName"] for f in aws.client("lambda", as_role=False).list_functions(MaxItems=5)["Functions"]}
    assert names == {"allowed", "other"}
    with pytest.raises(ClientError):
        aws.client("lambda").list_functions()


def test_clients_without_keys_sign_with_the_keys_in_the_environment_of_the_moment(
    enforce: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a client created while the operator's keys are in the environment (handlers cache theirs)
    aws = enforce([{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"}])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", aws.operator.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws.operator.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    cached = boto3.client("dynamodb", region_name=REGION)
    assert cached.list_tables()["TableNames"] == ["allowed", "other"]
    # When a function's role keys are put in the environment (as an invocation does)
    for name, value in aws.role.environment().items():
        monkeypatch.setenv(name, value)
    # Then the same client signs as the role, which may not list tables
    with pytest.raises(ClientError) as denied:
        cached.list_tables()
    assert "assumed-role/r/session" in str(denied.value)


def _finished(sfn: Any, arn: str) -> dict[str, Any]:
    """Wait for moto's execution thread (the same bounded poll as test_adapter)."""
    for _ in range(500):
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.01)
    raise AssertionError("execution did not finish")


@pytest.mark.parametrize(("table", "status"), [("allowed", "SUCCEEDED"), ("other", "FAILED")])
def test_a_state_machines_service_integration_signs_as_its_role(enforce: Any, table: str, status: str) -> None:
    # Given a state machine whose role may update items of one table (the Monitor's RecordSuccess task)
    aws = enforce([{"Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": TABLE_ARN}])
    update = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": table,
            "Key": {"pk": {"S": "run"}},
            "UpdateExpression": "SET done = :t",
            "ExpressionAttributeValues": {":t": {"BOOL": True}},
        },
        "End": True,
    }
    definition = json.dumps({"StartAt": "Update", "States": {"Update": update}})
    sfn = aws.client("stepfunctions", as_role=False)
    machine = sfn.create_state_machine(name="m", definition=definition, roleArn=aws.role_arn)["stateMachineArn"]
    # When it runs against the allowed table, or another one
    arn = sfn.start_execution(stateMachineArn=machine, name="e", input="{}")["executionArn"]
    # Then the task succeeds only where the role allows it
    assert _finished(sfn, arn)["status"] == status
