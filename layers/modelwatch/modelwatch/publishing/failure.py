"""A failed monitor run: remember the named error, count it as a metric, and say so in one notification.

A run that fails the same way again (its retries, the next runs while the cause is not fixed) is counted again but
not notified again: one message per failure until a run succeeds (which clears the run state's last error)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import validation_summary
from modelwatch.config.settings import PublishSettings
from modelwatch.constants import METRIC_WORKFLOW_FAILURES
from modelwatch.errors import ConfigError, ModelwatchError, PublishError
from modelwatch.observability import logger
from modelwatch.publishing.clients import AwsClients
from modelwatch.publishing.metrics import Datapoint, iso, put_datapoints
from modelwatch.publishing.notify import build_failure_notification, failure_cause, send_notification
from modelwatch.state import State
from modelwatch.units import model_dimensions


class FailureError(BaseModel):
    """Step Functions' Catch output: the error name and its cause (often a Lambda error JSON)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    error: str = Field(alias="Error", default="States.Unknown")
    cause: str = Field(alias="Cause", default="")


class FailureInput(BaseModel):
    """The RecordFailure task's input: {model, run_id, error: {Error, Cause}}."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    error: FailureError = Field(default_factory=FailureError)


def parse_failure_input(event: dict[str, Any]) -> FailureInput:
    try:
        return FailureInput.model_validate(event)
    except ValidationError as exc:
        fields = validation_summary(exc)
        raise ConfigError(f"record_failure input is invalid: {fields}") from exc


@dataclass
class FailureRecord:
    model: str
    run_id: str
    error: str
    cause: str
    recorded_at: str
    notified: bool
    message_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "run_id": self.run_id,
            "error": self.error,
            "cause": self.cause,
            "recorded_at": self.recorded_at,
            "notified": self.notified,
            "message_id": self.message_id,
        }


def record_failure(
    model: str,
    run_id: str,
    error: dict[str, Any] | FailureError,
    *,
    state: State,
    cloudwatch: Any,
    sns: Any,
    clock: Clock,
    settings: PublishSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> FailureRecord:
    """Write the run state's `last_error`, publish WorkflowFailures (Model) = 1, and send one notification unless the
    model's last error is this same failure (already notified; its repeats are counted in the run state).

    Each of the three is attempted even if another fails (the message matters most); any failure is raised
    afterwards as PublishError naming what did not happen. The cause is stored and sent as its message, without
    values another library's message may quote (`notify.failure_cause`).
    """
    failure = error if isinstance(error, FailureError) else FailureError.model_validate(error)
    # The message alone (no stack trace), without values another library's message may quote.
    failure = FailureError(Error=failure.error, Cause=failure_cause(failure.cause, failure.error))
    now = to_utc(clock.now())
    problems: list[str] = []
    repeats = _repeats(state, model, failure)
    try:
        state.runs.record_failure(
            model, run_id=run_id, error=failure.error, cause=failure.cause, now=now, repeats=repeats
        )
    except ModelwatchError as exc:
        problems.append(f"run state not written: {exc}")
    point = Datapoint(METRIC_WORKFLOW_FAILURES, model_dimensions(model), now, 1.0, unit="Count")
    try:
        put_datapoints(cloudwatch, settings.metric_namespace, [point], sleep=sleep)
    except ModelwatchError as exc:
        problems.append(f"{METRIC_WORKFLOW_FAILURES} not published: {exc}")
    notification = build_failure_notification(
        model=model, run_id=run_id, error=failure.error, cause=failure.cause, failed_at=now
    )
    if repeats:
        logger.info(
            "run failed again the same way; already notified", model=model, error=failure.error, repeats=repeats
        )
    elif settings.notifications_topic_arn:
        try:
            send_notification(sns, settings.notifications_topic_arn, notification, sleep=sleep)
        except ModelwatchError as exc:
            problems.append(f"notification not sent: {exc}")
    else:
        logger.warning("no notifications topic configured; failure not sent", model=model)
    if problems:
        logger.error("run failure only partly recorded", model=model, run_id=run_id, problems=problems)
        raise PublishError(f"model {model}: failure of run {run_id} ({failure.error}): " + "; ".join(problems))
    logger.info("run failure recorded", model=model, run_id=run_id, error=failure.error)
    return FailureRecord(
        model=model,
        run_id=run_id,
        error=failure.error,
        cause=failure_cause(failure.cause, failure.error),
        recorded_at=iso(now),
        notified=notification.sent,
        message_id=notification.message_id,
    )


def _repeats(state: State, model: str, failure: FailureError) -> int:
    """How often the model's runs failed this same way before (0: a new failure, to notify)."""
    try:
        previous = state.runs.load(model).last_error
    except ModelwatchError:
        return 0  # cannot tell: notify rather than stay silent
    if not previous or previous.get("Error") != failure.error:
        return 0
    if failure_cause(str(previous.get("Cause", "")), failure.error) != failure_cause(failure.cause, failure.error):
        return 0
    return int(previous.get("repeats", 0)) + 1


def record_failure_event(
    request: FailureInput, settings: PublishSettings, clients: AwsClients, clock: Clock
) -> FailureRecord:
    """The RecordFailureFunction's entry point."""
    return record_failure(
        request.model,
        request.run_id,
        request.error,
        state=State(clients.dynamodb, settings.state_table),
        cloudwatch=clients.cloudwatch,
        sns=clients.sns,
        clock=clock,
        settings=settings,
    )
