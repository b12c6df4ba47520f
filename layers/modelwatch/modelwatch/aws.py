"""boto3 clients for the functions: one per service per warm container, standard retry mode."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    """A boto3 client with standard retries (throttling, transient errors); S3 signs with SigV4 (pre-signed links)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3})
    if service == "s3":
        config = config.merge(Config(signature_version="s3v4"))
    return boto3.client(service, config=config)
