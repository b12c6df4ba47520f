"""Publish one run: new datapoints to CloudWatch (once, via the ledger), 0/1 alerts, one notification per run."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ModelConfig, validation_summary
from modelwatch.config.settings import PublishSettings
from modelwatch.constants import (
    DIM_METRIC,
    DIM_MODEL,
    METRIC_ALERT,
    METRIC_WORKFLOW_DURATION,
)
from modelwatch.errors import ConfigError, LakeError, PublishError
from modelwatch.lake.layout import results_key
from modelwatch.lake.store import ObjectStore, S3Store, parse_s3_uri
from modelwatch.monitors.results import ResultRow, read_results
from modelwatch.observability import logger
from modelwatch.publishing.clients import AwsClients
from modelwatch.publishing.datapoints import alert_key, candidates
from modelwatch.publishing.metrics import Datapoint, Skipped, iso, put_datapoints, rejection_reason
from modelwatch.publishing.notify import Notification, build_degradation_notification, report_link, send_notification
from modelwatch.registry.store import Registry
from modelwatch.state import Ledger, LedgerEntry, State, ledger_key

MAX_LISTED = 50  # entries listed in the summary; Step Functions state data stops at 256 KB
SERIES_DURATION = "workflow_duration"


class RunOutcomeView(BaseModel):
    """The parts of the estimation step's RunOutcome that publishing reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    results_uri: str | None = None
    report_uri: str | None = None
    chunks_analysed: int = 0
    chunks_skipped: list[dict[str, Any]] = Field(default_factory=list)
    top_drifting_features: list[str] = Field(default_factory=list)
    top_features: list[str] = Field(default_factory=list)
    monitors: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per monitor: its window summary

    def summaries(self) -> dict[str, dict[str, Any]]:
        """Each monitor's summary of the window (outcomes from before monitors had summaries: the drift ranking)."""
        found = {name: dict(entry.get("summary", {})) for name, entry in self.monitors.items()}
        found.setdefault("drift", {"top_features": self.top_features})
        return found


class PublishInput(BaseModel):
    """The publish task's input: `{outcome: RunOutcome, config?, execution_start?}` or the RunOutcome itself; the
    config is the one the run was planned with (carried by the state machine)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    outcome: RunOutcomeView
    config: ModelConfig | None = None
    execution_start: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_outcome(cls, data: Any) -> Any:
        """A RunOutcome given as it is stands for `{outcome: ...}`."""
        return data if not isinstance(data, dict) or "outcome" in data else {"outcome": data}


def parse_publish_input(event: dict[str, Any]) -> PublishInput:
    """Validate the state machine's payload; errors name the field."""
    try:
        return PublishInput.model_validate(event)
    except ValidationError as exc:
        fields = validation_summary(exc)
        raise ConfigError(f"publish input is invalid: {fields}") from exc


@dataclass
class PublishSummary:
    """What a publish step did; small and JSON-able (returned to the state machine)."""

    model: str
    run_id: str
    namespace: str
    published: int = 0
    already_published: int = 0
    put_calls: int = 0
    published_by_series: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_total: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    chunks_skipped: int = 0
    newly_alerting: list[dict[str, Any]] = field(default_factory=list)
    alert_datapoints: dict[str, float] = field(default_factory=dict)
    notification: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "run_id": self.run_id,
            "namespace": self.namespace,
            "published": self.published,
            "already_published": self.already_published,
            "put_calls": self.put_calls,
            "published_by_series": self.published_by_series,
            "skipped": self.skipped,
            "skipped_total": self.skipped_total,
            "skipped_reasons": self.skipped_reasons,
            "chunks_skipped": self.chunks_skipped,
            "newly_alerting": self.newly_alerting,
            "alert_datapoints": self.alert_datapoints,
            "notification": self.notification,
        }


def _series(point: Datapoint) -> str:
    dims = dict(point.dimensions)
    kind = dims.get("Kind")
    return f"{point.metric_name}/{kind}" if kind else point.metric_name


def _results_key(run: RunOutcomeView, store: ObjectStore) -> str:
    assert run.results_uri is not None
    if run.results_uri.startswith("s3://"):
        bucket, key = parse_s3_uri(run.results_uri)
        if bucket != getattr(store, "bucket", bucket):
            raise PublishError(f"results {run.results_uri} are outside the lake bucket")
        return key
    return results_key(run.model, run.run_id)


def load_run_results(store: ObjectStore, run: RunOutcomeView) -> list[ResultRow]:
    """The run's results table from the lake; empty when the run analysed no chunk."""
    if not run.results_uri:
        return []
    key = _results_key(run, store)
    try:
        body = store.get(key)
    except LakeError as exc:
        raise PublishError(f"model {run.model}: results of run {run.run_id} are missing: {exc}") from exc
    return read_results(body)


def publish_run(
    outcome: dict[str, Any] | PublishInput,
    config: ModelConfig,
    *,
    store: ObjectStore,
    cloudwatch: Any,
    sns: Any,
    ledger: Ledger,
    clock: Clock,
    settings: PublishSettings,
    execution_start: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishSummary:
    """Publish a run's new datapoints and alerts, notify newly degraded chunks once, and say what was skipped.

    Order matters for "never twice, never lost": datapoints go to CloudWatch first and each accepted batch is
    recorded in the ledger; the notification goes out before its alerts are recorded, so a failure before the
    record re-sends (at least once) instead of losing the message.
    """
    request = outcome if isinstance(outcome, PublishInput) else parse_publish_input(outcome)
    run = request.outcome
    if run.model != config.name:
        raise ConfigError(f"publish: outcome is for model {run.model!r} but the config is {config.name!r}")
    now = to_utc(clock.now())
    namespace = settings.metric_namespace
    summary = PublishSummary(model=run.model, run_id=run.run_id, namespace=namespace)
    summary.chunks_skipped = len(run.chunks_skipped)

    rows = load_run_results(store, run)
    found = candidates(config, rows, run.summaries())
    points, skipped = found.points, found.skipped
    if execution_start is not None:
        duration = (now - to_utc(execution_start)).total_seconds()
        points.append(
            Datapoint(
                metric_name=METRIC_WORKFLOW_DURATION,
                dimensions=((DIM_MODEL, run.model),),
                timestamp=now,
                value=max(duration, 0.0),
                unit="Seconds",
                ledger_key=ledger_key(SERIES_DURATION, METRIC_WORKFLOW_DURATION, run.run_id),
                version="1",
            )
        )
    sendable: list[Datapoint] = []
    for point in points:
        reason = rejection_reason(point, now)
        if reason is None:
            sendable.append(point)
        else:
            skipped.append(Skipped(point, reason))

    alerting = found.alerts
    published = ledger.versions(
        run.model, [p.ledger_key for p in sendable if p.ledger_key] + [alert_key(a) for a in alerting]
    )
    new_points = [p for p in sendable if p.ledger_key is None or published.get(p.ledger_key) != p.version]
    summary.already_published = len(sendable) - len(new_points)
    new_alerts = [a for a in alerting if alert_key(a) not in published]

    alert_points: list[Datapoint] = []
    if new_points or new_alerts:
        # A 0/1 per model and metric stamped now: alarms evaluate recent periods only, and late realized values
        # must still fire them. Only runs that brought something new publish it, so re-runs add nothing.
        flags = dict.fromkeys(config.alert_metrics, 0.0)
        for alert in new_alerts:
            flags[alert.metric] = 1.0
        alert_points = [
            Datapoint(METRIC_ALERT, ((DIM_MODEL, run.model), (DIM_METRIC, metric)), now, flag, unit="Count")
            for metric, flag in sorted(flags.items())
        ]
        # The fleet datapoint has no dimensions so the template's fleet alarm sees every model.
        alert_points.append(Datapoint(METRIC_ALERT, (), now, max(flags.values(), default=0.0), unit="Count"))
        summary.alert_datapoints = dict(sorted(flags.items()))

    def record(batch: list[Datapoint]) -> None:
        entries = [LedgerEntry(p.ledger_key, p.version, p.value) for p in batch if p.ledger_key]
        if entries:
            ledger.record(run.model, entries, run_id=run.run_id, now=now)

    result = put_datapoints(cloudwatch, namespace, [*new_points, *alert_points], on_sent=record, sleep=sleep)
    summary.published = result.sent
    summary.put_calls = result.calls
    summary.published_by_series = dict(sorted(Counter(_series(p) for p in result.sent_datapoints).items()))

    if new_alerts:
        notification = _notify(run, rows, new_alerts, store=store, sns=sns, settings=settings, now=now, sleep=sleep)
        summary.notification = notification.to_dict()
        ledger.record(
            run.model, [LedgerEntry(alert_key(a), "1", a.value) for a in new_alerts], run_id=run.run_id, now=now
        )
    summary.newly_alerting = [
        {"metric": a.metric, "kind": a.kind, "chunk_start": iso(a.chunk_start), "value": a.value}
        for a in new_alerts[:MAX_LISTED]
    ]
    summary.skipped_total = len(skipped)
    summary.skipped = [s.to_dict() for s in skipped[:MAX_LISTED]]
    summary.skipped_reasons = dict(sorted(Counter(s.reason for s in skipped).items()))
    logger.info(
        "run published",
        model=run.model,
        run_id=run.run_id,
        published=summary.published,
        already_published=summary.already_published,
        skipped=summary.skipped_total,
        newly_alerting=len(new_alerts),
        notified=summary.notification is not None,
    )
    return summary


def _notify(
    run: RunOutcomeView,
    rows: list[ResultRow],
    new_alerts: list[ResultRow],
    *,
    store: ObjectStore,
    sns: Any,
    settings: PublishSettings,
    now: datetime,
    sleep: Callable[[float], None],
) -> Notification:
    s3_client = store.client if isinstance(store, S3Store) else None
    notification = build_degradation_notification(
        model=run.model,
        run_id=run.run_id,
        new_alerts=new_alerts,
        rows=rows,
        top_drifting_features=run.top_drifting_features,
        report_url=report_link(run.report_uri, settings.report_links, s3_client),
        published_at=now,
    )
    if settings.notifications_topic_arn:
        send_notification(sns, settings.notifications_topic_arn, notification, sleep=sleep)
    else:
        logger.warning("no notifications topic configured; degradation not sent", model=run.model)
    return notification


def publish_requested_run(
    request: PublishInput, settings: PublishSettings, clients: AwsClients, clock: Clock
) -> PublishSummary:
    """The PublishFunction's entry point: publish the run with the config it carries (older inputs without one:
    the model's registered config)."""
    store = S3Store(clients.s3, settings.lake_bucket)
    config = request.config or Registry(store).get(request.outcome.model)
    return publish_run(
        request,
        config,
        store=store,
        cloudwatch=clients.cloudwatch,
        sns=clients.sns,
        ledger=State(clients.dynamodb, settings.state_table).ledger,
        clock=clock,
        settings=settings,
        execution_start=request.execution_start,
    )
