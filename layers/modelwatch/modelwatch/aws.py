"""boto3 clients: the one way functions get them, created once per warm container (and per function identity)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any


def client(service: str) -> Any:
    """A boto3 client with standard retries (throttling, transient errors); S3 signs with SigV4 (pre-signed links).

    Cached per service and per the identity the process runs as: on Lambda that is one function per process; the
    embedded stack runs every handler in one process, each with its own function name and credentials.
    """
    identity = (os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), os.environ.get("AWS_ACCESS_KEY_ID", ""))
    return _client(service, *identity, os.environ.get("AWS_ENDPOINT_URL", ""))


@cache
def _client(service: str, function: str, access_key: str, endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3})
    if service == "s3":
        config = config.merge(Config(signature_version="s3v4"))
    return boto3.client(service, config=config)


def clear() -> None:
    """Forget every cached client (tests that start a new embedded AWS)."""
    _client.cache_clear()
