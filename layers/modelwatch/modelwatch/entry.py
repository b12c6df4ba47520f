"""What every Lambda handler uses: its event parsed into a typed model (Powertools' parser), and the lake, state,
registry and artifact signer built from its settings over the cached clients (`modelwatch.aws`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.parser import event_parser
from pydantic import ValidationError

from modelwatch import aws
from modelwatch.config.model import validation_summary
from modelwatch.config.settings import AnalyseSettings, FunctionSettings
from modelwatch.errors import ConfigError, ModelwatchError, withheld
from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch.signing import KmsSigner
from modelwatch.state import State

R = TypeVar("R")
Handler = Callable[[Any, Any], R]


def parsed_event(model: Any) -> Callable[[Handler[R]], Handler[R]]:
    """Powertools' `event_parser` with `model`, whose failures are a ConfigError naming the invalid fields (never
    their values: events carry model names and windows, not payloads, but the rule holds for every message).

    Another library's error leaves the handler as `errors.withheld(exc)`: same type name (what Step Functions
    catches), the message reduced by `errors.describe`, and no chained cause, because Lambda logs and returns an
    unhandled error's message and traceback, and a parser's message may quote the data."""

    def decorate(handler: Handler[R]) -> Handler[R]:
        parsing = event_parser(model=model)(handler)

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> R:
            try:
                return parsing(event, context)
            except ValidationError as exc:
                name = getattr(model, "__name__", "event")
                raise ConfigError(f"{name} is invalid: {validation_summary(exc)}") from None
            except ModelwatchError:
                raise
            except Exception as exc:
                raise withheld(exc) from None

        return wrapper

    return decorate


def lake(settings: FunctionSettings) -> S3Store:
    """The lake bucket."""
    return S3Store(aws.client("s3"), settings.lake_bucket)


def state(settings: FunctionSettings) -> State:
    """The state table's repositories."""
    return State(aws.client("dynamodb"), settings.state_table)


def registry(settings: FunctionSettings, cache_seconds: float = 0.0) -> Registry:
    """The registered models (not cached by default: a model registered a moment ago counts)."""
    return Registry(lake(settings), cache_seconds=cache_seconds)


def signer(settings: AnalyseSettings) -> KmsSigner:
    """The KMS HMAC key that signs and verifies the analysis' stored artifacts."""
    return KmsSigner(aws.client("kms"), settings.artifact_key_id)
