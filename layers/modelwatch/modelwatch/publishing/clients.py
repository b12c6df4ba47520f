"""The AWS clients publishing needs, from `modelwatch.aws` (created once per warm container there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelwatch import aws


@dataclass(frozen=True)
class AwsClients:
    s3: Any
    cloudwatch: Any
    sns: Any
    dynamodb: Any


def aws_clients() -> AwsClients:
    """boto3 clients with standard retries (throttling is also retried by publishing's own backoff)."""
    return AwsClients(
        s3=aws.client("s3"),
        cloudwatch=aws.client("cloudwatch"),
        sns=aws.client("sns"),
        dynamodb=aws.client("dynamodb"),
    )
