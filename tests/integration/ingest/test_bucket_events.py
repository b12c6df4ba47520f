"""`modelwatch enable-bucket-events` on moto: EventBridge turned on, existing notifications kept."""

from __future__ import annotations

import json

import boto3
from click.testing import CliRunner
from moto import mock_aws

from modelwatch.ingest.bucket_events import enable_eventbridge_notifications
from modelwatch_cli.main import cli

REGION = "us-east-1"


def existing_bucket():
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="their-capture-bucket")
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="their-queue")["QueueUrl"]
    queue_arn = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="their-topic")["TopicArn"]
    configuration = {
        "QueueConfigurations": [
            {
                "Id": "their-queue-config",
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "exports/"}]}},
            }
        ],
        "TopicConfigurations": [{"Id": "their-topic-config", "TopicArn": topic_arn, "Events": ["s3:ObjectRemoved:*"]}],
    }
    s3.put_bucket_notification_configuration(Bucket="their-capture-bucket", NotificationConfiguration=configuration)
    return s3, configuration


def notifications(s3):
    current = s3.get_bucket_notification_configuration(Bucket="their-capture-bucket")
    current.pop("ResponseMetadata", None)
    return current


def eventbridge_delivers(s3) -> bool:
    """Put an object and see whether an S3 EventBridge event reaches a rule's queue (moto does not return
    EventBridgeConfiguration from GetBucketNotificationConfiguration, so this is checked by behaviour)."""
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="eventbridge-probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="probe", EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}))
    events.put_targets(Rule="probe", Targets=[{"Id": "probe", "Arn": arn}])
    s3.put_object(Bucket="their-capture-bucket", Key="datacapture/probe.jsonl", Body=b"{}")
    return bool(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"))


def test_eventbridge_is_merged_into_existing_configurations():
    with mock_aws():
        s3, _ = existing_bucket()
        before = notifications(s3)
        assert not eventbridge_delivers(s3)
        result = enable_eventbridge_notifications(s3, "their-capture-bucket")
        assert result["changed"] and result["kept"]["QueueConfigurations"] == 1
        assert result["kept"]["TopicConfigurations"] == 1
        # The existing configurations are exactly as they were, and EventBridge now receives object events
        after = notifications(s3)
        assert after["QueueConfigurations"] == before["QueueConfigurations"]
        assert after["TopicConfigurations"] == before["TopicConfigurations"]
        assert eventbridge_delivers(s3)
        # Running it again keeps everything
        enable_eventbridge_notifications(s3, "their-capture-bucket")
        assert notifications(s3) == after


def test_the_merge_keeps_every_configuration_kind():
    from modelwatch.ingest.bucket_events import merged_notification_configuration

    current = {
        "QueueConfigurations": [{"QueueArn": "q"}],
        "TopicConfigurations": [{"TopicArn": "t"}],
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": "l"}],
        "ResponseMetadata": {},
    }
    merged = merged_notification_configuration(current)
    assert merged == {
        "QueueConfigurations": [{"QueueArn": "q"}],
        "TopicConfigurations": [{"TopicArn": "t"}],
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": "l"}],
        "EventBridgeConfiguration": {},
    }


def test_the_cli_verb_and_its_dry_run():
    with mock_aws():
        s3, _ = existing_bucket()
        before = notifications(s3)
        runner = CliRunner()
        dry = runner.invoke(cli, ["enable-bucket-events", "--bucket", "their-capture-bucket", "--dry-run"])
        assert dry.exit_code == 0 and "would turn on" in dry.output
        real = runner.invoke(cli, ["enable-bucket-events", "--bucket", "their-capture-bucket", "--region", REGION])
        assert real.exit_code == 0, real.output
        assert "1 Queue" in real.output and "1 Topic" in real.output
        assert notifications(s3) == before
        assert eventbridge_delivers(s3)
