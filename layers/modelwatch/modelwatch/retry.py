"""AWS calls (CloudWatch, SNS, DynamoDB batches) retried with jittered exponential backoff on throttling and 5xx."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from modelwatch.errors import ModelwatchError, PublishError
from modelwatch.observability import logger

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServiceError",
        "InternalServerError",
    }
)
DEFAULT_ATTEMPTS = 5
DEFAULT_BASE_DELAY = 0.5
MAX_DELAY = 10.0


def is_retryable(exc: Exception) -> bool:
    """Throttling, 5xx and connection errors are worth another try; validation errors are not."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error.get("Code", "") in RETRYABLE_CODES or status >= 500
    return isinstance(exc, ConnectionError | ReadTimeoutError)


def call_with_retries(
    call: Callable[[], T],
    what: str,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    sleep: Callable[[float], None] = time.sleep,
    error: type[ModelwatchError] = PublishError,
) -> T:
    """Run `call`; retry retryable failures with jittered exponential backoff, then raise `error` (PublishError)."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (ClientError, ConnectionError, ReadTimeoutError) as exc:
            if not is_retryable(exc):
                raise error(f"{what} failed: {exc}") from exc
            if attempt == attempts:
                raise error(f"{what} failed after {attempts} attempts: {exc}") from exc
            delay = min(MAX_DELAY, base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311
            logger.warning("retrying after a throttled or failed call", call=what, attempt=attempt, delay=delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
