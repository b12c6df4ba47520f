"""Publish one run: new datapoints to CloudWatch (once, via the ledger), the model's incidents and its state for the
alarms; or a fire drill's synthetic degradation. Monitors that failed while the others published are notified once per
distinct failure; rows the run left out as duplicates are a metric."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ModelConfig, validation_summary
from modelwatch.config.settings import PublishSettings
from modelwatch.constants import METRIC_DUPLICATE_ROWS, METRIC_WORKFLOW_DURATION, SKIP_DEFERRED
from modelwatch.errors import ConfigError, LakeError, PublishError
from modelwatch.lake.layout import model_index_key, results_key
from modelwatch.lake.store import ObjectStore, S3Store, parse_s3_uri
from modelwatch.monitors.drift import coinciding_drift
from modelwatch.monitors.results import ResultRow, read_results
from modelwatch.monitors.variants import compare_variants, latest_results
from modelwatch.observability import logger
from modelwatch.publishing.alerting import send_owed, state_points, update_incidents
from modelwatch.publishing.clients import AwsClients
from modelwatch.publishing.datapoints import candidates
from modelwatch.publishing.drill import DrillRequest, run_drill
from modelwatch.publishing.metrics import Datapoint, Skipped, iso, put_datapoints, rejection_reason
from modelwatch.publishing.notify import (
    Notification,
    RunContext,
    build_monitor_failure_notification,
    build_variant_notification,
    report_link,
    send_notification,
)
from modelwatch.publishing.pages import verdict_from_incidents, write_pages
from modelwatch.registry.store import Registry
from modelwatch.state import Ledger, LedgerEntry, State, ledger_key
from modelwatch.units import model_dimensions, unit_name

MAX_LISTED = 50  # entries listed in the summary; Step Functions state data stops at 256 KB
SERIES_DURATION = "workflow_duration"
SERIES_DUPLICATES = "duplicate_rows"
SERIES_MONITOR_FAILURE = "monitor_failure"
SERIES_VARIANT_COMPARISON = "variant_comparison"
MONITOR_OK = "ok"


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
    failed_monitors: list[dict[str, Any]] = Field(default_factory=list)  # monitor, error, cause
    realized_skipped: list[dict[str, Any]] = Field(default_factory=list)
    rows_superseded: int = 0
    rows_duplicate: int = 0

    def summaries(self) -> dict[str, dict[str, Any]]:
        """Each monitor's summary of the window (outcomes from before monitors had summaries: the drift ranking)."""
        found = {name: dict(entry.get("summary", {})) for name, entry in self.monitors.items()}
        found.setdefault("drift", {"top_features": self.top_features})
        return found


class PublishInput(BaseModel):
    """The publish task's input: `{outcome: RunOutcome, config?, execution_start?}` or the RunOutcome itself (the
    config is the one the run was planned with, carried by the state machine); or `{drill: {...}}`, a fire drill
    started by `modelwatch fire-drill`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    outcome: RunOutcomeView | None = None
    config: ModelConfig | None = None
    execution_start: datetime | None = None
    drill: DrillRequest | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_outcome(cls, data: Any) -> Any:
        """A RunOutcome given as it is stands for `{outcome: ...}`."""
        if not isinstance(data, dict) or "outcome" in data or "drill" in data:
            return data
        return {"outcome": data}

    @model_validator(mode="after")
    def _one_kind(self) -> PublishInput:
        if (self.outcome is None) == (self.drill is None):
            raise ValueError("give either outcome (a run to publish) or drill (a fire drill), not both or neither")
        return self

    @property
    def model(self) -> str:
        return self.outcome.model if self.outcome is not None else self.drill.model if self.drill else ""


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
    workflow_duration_unknown: str = ""  # why no WorkflowDurationSeconds was published (empty when it was)
    alerting: list[dict[str, Any]] = field(default_factory=list)  # crossings on the worse side (latest listed)
    improvements: int = 0  # crossings on the better side
    incidents: dict[str, Any] = field(default_factory=dict)  # events, open kinds, paging metrics, models in alert
    notifications: list[dict[str, Any]] = field(default_factory=list)
    failed_monitors: list[str] = field(default_factory=list)
    failure_notification: dict[str, Any] | None = None  # sent for monitor failures not notified before
    variant_notification: dict[str, Any] | None = None  # sent when a challenger variant became worse than the champion
    metrics_profile: str = "lean"
    detail_left_out: int = 0  # detail datapoints the lean metrics profile keeps out of CloudWatch (results keep them)
    verdict: dict[str, Any] | None = None  # the run's headline (status, text) and whether its pages were written

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "run_id": self.run_id,
            "namespace": self.namespace,
            "published": self.published,
            "already_published": self.already_published,
            "put_calls": self.put_calls,
            "published_by_series": self.published_by_series,
            "metrics_profile": self.metrics_profile,
            "detail_left_out": self.detail_left_out,
            "skipped": self.skipped,
            "skipped_total": self.skipped_total,
            "skipped_reasons": self.skipped_reasons,
            "chunks_skipped": self.chunks_skipped,
            "workflow_duration_unknown": self.workflow_duration_unknown,
            "alerting": self.alerting,
            "improvements": self.improvements,
            "incidents": self.incidents,
            "notifications": self.notifications,
            "failed_monitors": self.failed_monitors,
            "failure_notification": self.failure_notification,
            "verdict": self.verdict,
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
    state: State,
    clock: Clock,
    settings: PublishSettings,
    execution_start: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishSummary:
    """Publish a run's new datapoints, bring the model's incidents up to date (notifying what people should hear),
    publish the model's state for its alarms, and say what was skipped.

    Order matters for "never twice, never lost": datapoints go to CloudWatch first and each accepted batch is
    recorded in the ledger; incidents are written with the notifications they owe before the model's state is
    published and the notifications are sent (`publishing.alerting`).
    """
    request = outcome if isinstance(outcome, PublishInput) else parse_publish_input(outcome)
    run = request.outcome
    if run is None:
        raise ConfigError("publish: the input has no run outcome")
    if run.model != config.name:
        raise ConfigError(f"publish: outcome is for model {run.model!r} but the config is {config.name!r}")
    now = to_utc(clock.now())
    namespace = settings.metric_namespace
    summary = PublishSummary(model=run.model, run_id=run.run_id, namespace=namespace)
    summary.chunks_skipped = len(run.chunks_skipped)

    every_row = load_run_results(store, run)
    found = candidates(config, every_row, run.summaries())  # the segments' datapoints too (monitors.segments)
    rows = [r for r in every_row if r.segment is None]  # the whole model's: its incidents, state and comparison
    points, skipped = found.points, found.skipped
    summary.metrics_profile = config.cloudwatch.profile.value
    summary.detail_left_out = found.detail_left_out
    duration = None if execution_start is None else (now - to_utc(execution_start)).total_seconds()
    if duration is not None and duration < 0:
        # The start is on another clock than this step's (the embedded stack's Step Functions stamps wall time while
        # its functions run on the simulated clock): no duration rather than a made-up 0.
        summary.workflow_duration_unknown = "the execution started after this step's clock (another clock)"
    elif duration is not None:
        points.append(
            Datapoint(
                metric_name=METRIC_WORKFLOW_DURATION,
                dimensions=model_dimensions(run.model),
                timestamp=now,
                value=duration,
                unit="Seconds",
                ledger_key=ledger_key(SERIES_DURATION, METRIC_WORKFLOW_DURATION, run.run_id),
                version="1",
            )
        )
    left_out = run.rows_superseded + run.rows_duplicate
    if left_out:
        # Only when there were any: a series (and its cost) exists once duplicates show up.
        points.append(
            Datapoint(
                metric_name=METRIC_DUPLICATE_ROWS,
                dimensions=model_dimensions(run.model),
                timestamp=now,
                value=float(left_out),
                unit="Count",
                ledger_key=ledger_key(SERIES_DUPLICATES, METRIC_DUPLICATE_ROWS, run.run_id),
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

    ledger = state.ledger
    published = ledger.versions(run.model, [p.ledger_key for p in sendable if p.ledger_key])
    new_points = [p for p in sendable if p.ledger_key is None or published.get(p.ledger_key) != p.version]
    summary.already_published = len(sendable) - len(new_points)

    def record(batch: list[Datapoint]) -> None:
        entries = [LedgerEntry(p.ledger_key, p.version, p.value) for p in batch if p.ledger_key]
        if entries:
            ledger.record(run.model, entries, run_id=run.run_id, now=now)

    result = put_datapoints(cloudwatch, namespace, new_points, on_sent=record, sleep=sleep)

    s3_client = store.client if isinstance(store, S3Store) else None
    context = RunContext(
        run_id=run.run_id,
        published_at=now,
        report_url=report_link(run.report_uri, settings.report_links, s3_client),
        index_url=report_link(store.uri(model_index_key(run.model)), settings.report_links, s3_client)
        if run.report_uri
        else None,
        top_drifting_features=list(run.top_drifting_features),
        drift_by_chunk=coinciding_drift(rows, {r.chunk_start for r in rows}),
    )
    alerting, written, owed = update_incidents(config, rows, found, incidents=state.incidents, context=context, now=now)
    # The model's state for its alarms, every run: an alarm keeps its state between runs (TreatMissingData ignore)
    # and follows the latest value, so it is ALARM from the run that opens an incident to the run that closes it.
    state_result = put_datapoints(cloudwatch, namespace, state_points(config, alerting, rows, now), sleep=sleep)
    sent = send_owed(
        config,
        written,
        owed,
        incidents=state.incidents,
        sns=sns,
        topic_arn=settings.notifications_topic_arn,
        now=now,
        sleep=sleep,
    )
    all_sent = [*result.sent_datapoints, *state_result.sent_datapoints]
    summary.published = result.sent + state_result.sent
    summary.put_calls = result.calls + state_result.calls
    summary.published_by_series = dict(sorted(Counter(_series(p) for p in all_sent).items()))
    summary.alerting = [
        {"metric": a.metric, "kind": a.kind, "chunk_start": iso(a.chunk_start), "value": a.value}
        for a in found.alerts[-MAX_LISTED:]
    ]
    summary.improvements = len(found.improvements)
    summary.incidents = alerting.to_dict()
    summary.notifications = [n.to_dict() for n in sent[:MAX_LISTED]]
    summary.failed_monitors = [str(f.get("monitor")) for f in run.failed_monitors]
    notified = _notify_monitor_failures(
        run,
        ledger,
        sns=sns,
        report_url=context.report_url,
        settings=settings,
        now=now,
        sleep=sleep,
        index_url=context.index_url,
    )
    compared = _notify_variant_comparison(config, rows, store, ledger, sns=sns, settings=settings, now=now, sleep=sleep)
    summary.variant_notification = compared.to_dict() if compared is not None else None
    summary.verdict = _write_pages(store, run, alerting.documents, now)
    summary.failure_notification = notified.to_dict() if notified is not None else None
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
        alerting=len(found.alerts),
        improvements=len(found.improvements),
        incident_events=len(alerting.events),
        paging=bool(alerting.paging),
        notified=len(sent),
    )
    return summary


def _write_pages(
    store: ObjectStore, run: RunOutcomeView, documents: dict[str, dict[str, Any]], now: datetime
) -> dict[str, Any] | None:
    """The run's verdict (from its model's incidents) as its report's headline and on the index pages. A run
    without a report has no pages; a failure to write them is logged and does not fail the publish (the datapoints,
    incidents and notifications are out by then)."""
    if not run.report_uri:
        return None
    verdict = verdict_from_incidents(run.model, run.run_id, documents, run.chunks_analysed, now)
    try:
        write_pages(store, verdict, lambda: Registry(store, cache_seconds=0).names())
    except (LakeError, ConfigError, OSError, ClientError, ValueError) as exc:  # ValueError: a page not UTF-8
        logger.warning("report pages not written", model=run.model, run_id=run.run_id, error=type(exc).__name__)
        return {"status": verdict.status, "text": verdict.text, "pages_written": False}
    return {"status": verdict.status, "text": verdict.text, "pages_written": True}


def _notify_variant_comparison(
    config: ModelConfig,
    rows: list[ResultRow],
    store: ObjectStore,
    ledger: Ledger,
    *,
    sns: Any,
    settings: PublishSettings,
    now: datetime,
    sleep: Callable[[float], None],
) -> Notification | None:
    """A challenger variant's run: one message when it becomes significantly worse than the champion on some metric
    (modelwatch.monitors.variants), once until the set of such metrics changes; nothing for the champion, a model
    watching one variant, or `comparison.notify: false`."""
    champion = config.comparison.champion
    if config.unit_of is None or champion is None or champion == config.variant or not config.comparison.notify:
        return None
    champion_rows = latest_results(store, unit_name(config.unit_of, champion))
    compared = compare_variants(config, champion, config.variant, champion_rows, rows)
    worse = [c.verdict for c in compared if c.verdict.worse]
    key = ledger_key(SERIES_VARIANT_COMPARISON, champion, "-")
    version = ",".join(f"{v.metric}:{v.kind}" for v in worse) or MONITOR_OK
    if ledger.versions(config.name, [key]).get(key, MONITOR_OK) == version:
        return None
    notification = None
    if worse:
        notification = build_variant_notification(config, champion, worse, now)
        if settings.notifications_topic_arn:
            send_notification(sns, settings.notifications_topic_arn, notification, sleep=sleep)
        else:
            logger.warning("no notifications topic configured; variant comparison not sent", model=config.name)
    ledger.record(config.name, [LedgerEntry(key, version)], run_id="-", now=now)
    return notification


def _failure_version(failure: dict[str, Any]) -> str:
    return hashlib.sha256(f"{failure.get('error')}\n{failure.get('cause')}".encode()).hexdigest()[:16]


def _notify_monitor_failures(
    run: RunOutcomeView,
    ledger: Ledger,
    *,
    sns: Any,
    report_url: str | None,
    settings: PublishSettings,
    now: datetime,
    sleep: Callable[[float], None],
    index_url: str | None = None,
) -> Notification | None:
    """One message for monitors that failed in this run with a failure not notified before (a monitor failing the
    same way run after run is reported once; once it analyses again, a new failure is news again)."""
    keys = {name: ledger_key(SERIES_MONITOR_FAILURE, name, "-") for name in run.monitors}
    keys.update(
        {str(f["monitor"]): ledger_key(SERIES_MONITOR_FAILURE, str(f["monitor"]), "-") for f in run.failed_monitors}
    )
    if not keys:
        return None
    recorded = ledger.versions(run.model, keys.values())
    news = [f for f in run.failed_monitors if recorded.get(keys[str(f["monitor"])]) != _failure_version(f)]
    recovered = [name for name in run.monitors if recorded.get(keys[name], MONITOR_OK) != MONITOR_OK]
    notification = None
    if news:
        notification = build_monitor_failure_notification(
            model=run.model,
            run_id=run.run_id,
            failed=news,
            report_url=report_url,
            published_at=now,
            index_url=index_url,
        )
        if settings.notifications_topic_arn:
            send_notification(sns, settings.notifications_topic_arn, notification, sleep=sleep)
        else:
            logger.warning("no notifications topic configured; monitor failure not sent", model=run.model)
    entries = [LedgerEntry(keys[str(f["monitor"])], _failure_version(f)) for f in news]
    entries += [LedgerEntry(keys[name], MONITOR_OK) for name in recovered]
    if entries:
        ledger.record(run.model, entries, run_id=run.run_id, now=now)
    return notification


def publish_requested_run(
    request: PublishInput, settings: PublishSettings, clients: AwsClients, clock: Clock
) -> dict[str, Any]:
    """The PublishFunction's entry point: publish the run with the config it carries (older inputs without one:
    the model's registered config), or a fire drill of a registered model; returns the step's JSON summary."""
    store = S3Store(clients.s3, settings.lake_bucket)
    config = request.config or Registry(store).get(request.model)
    if request.drill is not None:
        drill = run_drill(
            request.drill, config, cloudwatch=clients.cloudwatch, sns=clients.sns, clock=clock, settings=settings
        )
        return drill.to_dict()
    state = State(clients.dynamodb, settings.state_table)
    summary = publish_run(
        request,
        config,
        store=store,
        cloudwatch=clients.cloudwatch,
        sns=clients.sns,
        state=state,
        clock=clock,
        settings=settings,
        execution_start=request.execution_start,
    )
    run = request.outcome
    assert run is not None  # publish_run refuses an input without one
    state.runs.record_run_data(
        run.model,
        run_id=run.run_id,
        counts={
            "rows_superseded": run.rows_superseded,
            "rows_duplicate": run.rows_duplicate,
            "chunks_skipped": len(run.chunks_skipped),
            # left for the next run by a step short of time: the scheduled run runs again for them
            "chunks_deferred": sum(str(c.get("reason", "")).startswith(SKIP_DEFERRED) for c in run.chunks_skipped),
            "realized_skipped": len(run.realized_skipped),
            "failed_monitors": len(run.failed_monitors),
        },
    )
    return summary.to_dict()
