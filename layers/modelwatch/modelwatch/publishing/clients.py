"""The AWS clients and clock publishing needs; clients are created once per warm Lambda container."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from modelwatch.clock import Clock, SimulatedClock, SystemClock, parse_iso
from modelwatch.config.settings import Settings


@dataclass(frozen=True)
class AwsClients:
    s3: Any
    cloudwatch: Any
    sns: Any
    dynamodb: Any


@cache
def aws_clients() -> AwsClients:
    """boto3 clients with standard retries (throttling is also retried by publishing's own backoff)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3})
    return AwsClients(
        # SigV4 for pre-signed report links (up to 7 days).
        s3=boto3.client("s3", config=config.merge(Config(signature_version="s3v4"))),
        cloudwatch=boto3.client("cloudwatch", config=config),
        sns=boto3.client("sns", config=config),
        dynamodb=boto3.client("dynamodb", config=config),
    )


def clock_for(settings: Settings) -> Clock:
    """The local stack's simulated time when MODELWATCH_CLOCK is set, wall time otherwise."""
    return SimulatedClock(parse_iso(settings.clock_override)) if settings.clock_override else SystemClock()
