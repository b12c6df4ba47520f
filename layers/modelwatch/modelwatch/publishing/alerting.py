"""A run's incidents and state metrics: incidents decided and stored (notifications kept with them until sent), then
the model's state for its alarms (AlertState, RunHeartbeat, LabelCoverage), then the notifications.

"Never twice, never lost": an incident is written under its version together with the notifications it owes
(`pending`), so two runs of one model never both open or close it; the notifications are sent after that and then
cleared. A failure in between leaves them pending and the next run sends them (at least once, never lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    KIND_ESTIMATED,
    METRIC_ALERT_STATE,
    METRIC_LABEL_COVERAGE,
    METRIC_RUN_HEARTBEAT,
)
from modelwatch.errors import PublishError
from modelwatch.monitors.performance import MONITOR as PERFORMANCE
from modelwatch.monitors.results import ResultRow
from modelwatch.observability import logger
from modelwatch.publishing.datapoints import Candidates
from modelwatch.publishing.incidents import DEGRADATION, IMPROVEMENT, KINDS, MetricView, assess, decide, paging_metrics
from modelwatch.publishing.metrics import Datapoint, put_datapoints
from modelwatch.publishing.notify import Notification, RunContext, build_incident_notification, send_notification
from modelwatch.state import IncidentRecord, Incidents
from modelwatch.units import model_dimensions

MAX_ATTEMPTS = 5  # optimistic writes of a model's incidents; runs of one model rarely overlap
PENDING = "pending"


@dataclass
class AlertingOutcome:
    """What a run did to its model's incidents, and the model's state after it."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> incident (open or last closed)
    notifications: list[Notification] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # {kind, event, incident_id}
    paging: list[str] = field(default_factory=list)  # metrics of open paging incidents
    models_in_alert: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "paging": self.paging,
            "models_in_alert": self.models_in_alert,
            "open": sorted(k for k, d in self.documents.items() if d.get("status") == "open"),
            "notifications": [n.subject for n in self.notifications],
        }


def _payload(note: Notification) -> dict[str, Any]:
    return {"subject": note.subject, "text": note.text, "data": note.data}


def _notification(payload: Any) -> Notification:
    if not isinstance(payload, dict) or not {"subject", "text", "data"} <= set(payload):
        raise PublishError("a pending notification in the state table is malformed")
    return Notification(subject=str(payload["subject"]), text=str(payload["text"]), data=dict(payload["data"]))


def views_by_kind(config: ModelConfig, rows: list[ResultRow], found: Candidates) -> dict[str, list[MetricView]]:
    """Each metric seen by each kind of crossing: the monitors' alerts (degradation) and improvements."""
    return {DEGRADATION: assess(config, rows, found.alerts), IMPROVEMENT: assess(config, rows, found.improvements)}


def _decide_and_store(
    config: ModelConfig,
    views: dict[str, list[MetricView]],
    incidents: Incidents,
    context: RunContext,
    now: datetime,
) -> tuple[dict[str, IncidentRecord], dict[str, dict[str, Any]], dict[str, list[Notification]], list[dict[str, Any]]]:
    """Decide each kind's incident against what is stored and write it with its notifications (retried on a
    concurrent writer); returns the records as written, the documents, the notifications owed and the events."""
    for attempt in range(MAX_ATTEMPTS):
        records = incidents.load(config.name)
        written: dict[str, IncidentRecord] = {}
        documents: dict[str, dict[str, Any]] = {}
        owed: dict[str, list[Notification]] = {}
        events: list[dict[str, Any]] = []
        conflict = False
        for kind in KINDS:
            record = records.get(kind) or IncidentRecord(config.name, kind)
            stored = {k: v for k, v in record.document.items() if k != PENDING}
            pending = [_notification(p) for p in record.document.get(PENDING, [])]
            decision = decide(config, kind, stored or None, views[kind], now, context.run_id)
            notes = pending + [build_incident_notification(config, e, views[kind], context) for e in decision.events]
            events.extend({"kind": kind, "event": e.type, "incident_id": e.document["id"]} for e in decision.events)
            document = decision.document if decision.document is not None else stored
            if document:
                documents[kind] = document
            if decision.document is None and not pending:
                continue
            if not incidents.save(record, {**document, PENDING: [_payload(n) for n in notes]}, now):
                logger.info("incident written by another run; deciding again", model=config.name, attempt=attempt)
                conflict = True
                break
            written[kind] = IncidentRecord(config.name, kind, document, record.version + 1)
            owed[kind] = notes
        if not conflict:
            return written, documents, owed, events
    raise PublishError(f"model {config.name}: incidents kept changing under {MAX_ATTEMPTS} attempts to update them")


def update_incidents(
    config: ModelConfig,
    rows: list[ResultRow],
    found: Candidates,
    *,
    incidents: Incidents,
    context: RunContext,
    now: datetime,
) -> tuple[AlertingOutcome, dict[str, IncidentRecord], dict[str, list[Notification]]]:
    """Open, update, remind about or close the model's incidents for this run; the fleet index follows.

    Returns the outcome, the records as written and the notifications they owe (send them with `send_owed`).
    """
    views = views_by_kind(config, rows, found)
    written, documents, owed, events = _decide_and_store(config, views, incidents, context, now)
    outcome = AlertingOutcome(documents=documents, events=events)
    outcome.paging = paging_metrics(documents)
    incidents.mark_fleet(config.name, bool(outcome.paging), now)
    outcome.models_in_alert = len(incidents.models_in_alert())
    return outcome, written, owed


def send_owed(
    config: ModelConfig,
    written: dict[str, IncidentRecord],
    owed: dict[str, list[Notification]],
    *,
    incidents: Incidents,
    sns: Any,
    topic_arn: str,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Notification]:
    """Send the notifications the incidents owe, then clear them from the incidents (a concurrent writer that got
    there first keeps them pending: they are sent again, never lost)."""
    sent: list[Notification] = []
    for kind, notes in owed.items():
        for note in notes:
            if topic_arn:
                send_notification(sns, topic_arn, note, sleep=sleep)
            else:
                logger.warning("no notifications topic configured; incident message not sent", model=config.name)
            sent.append(note)
        record = written[kind]
        if notes and not incidents.save(record, record.document, now):
            logger.info("incident changed before its notifications were cleared", model=config.name, kind=kind)
    return sent


def due_label_coverage(config: ModelConfig, rows: list[ResultRow], now: datetime) -> float | None:
    """Label coverage of the newest chunk whose labels are due (`ground_truth.expected_delay` after its end)."""
    delay = config.ground_truth.expected_delay_delta
    if delay is None:
        return None
    due = [
        r
        for r in rows
        if r.monitor == PERFORMANCE
        and r.kind == KIND_ESTIMATED
        and r.chunk_end is not None
        and r.chunk_end + delay <= to_utc(now)
    ]
    if not due:
        return None
    newest = max(due, key=lambda r: r.chunk_start)
    return newest.label_coverage if newest.label_coverage is not None else 0.0


def state_points(
    config: ModelConfig, outcome: AlertingOutcome, rows: list[ResultRow], now: datetime
) -> list[Datapoint]:
    """The model's state after this run, stamped now (not ledgered: the alarms read the latest value and keep their
    state between runs): AlertState per model and for the fleet, RunHeartbeat, and the due chunk's LabelCoverage."""
    model = model_dimensions(config.name)
    points = [
        Datapoint(METRIC_ALERT_STATE, model, now, 1.0 if outcome.paging else 0.0, unit="Count"),
        # The fleet datapoint counts every model with an open paging incident (the fleet index), not this model.
        Datapoint(METRIC_ALERT_STATE, (), now, float(outcome.models_in_alert), unit="Count"),
        Datapoint(METRIC_RUN_HEARTBEAT, model, now, 1.0, unit="Count"),
        Datapoint(METRIC_RUN_HEARTBEAT, (), now, 1.0, unit="Count"),
    ]
    coverage = due_label_coverage(config, rows, now)
    if coverage is not None:
        points.append(Datapoint(METRIC_LABEL_COVERAGE, model, now, coverage, unit="None"))
    return points


def heartbeat_datapoint(now: datetime, model: str | None = None) -> Datapoint:
    """One RunHeartbeat datapoint: the fleet ran (no model), or a model is up to date with nothing to run."""
    dims = model_dimensions(model) if model else ()
    return Datapoint(METRIC_RUN_HEARTBEAT, dims, to_utc(now), 1.0, unit="Count")


def put_heartbeat(cloudwatch: Any, namespace: str, now: datetime, model: str | None = None) -> None:
    """One RunHeartbeat: the fleet ran (no model), or a model is up to date with nothing to run. The stalled alarms
    count these with the successful runs' own."""
    put_datapoints(cloudwatch, namespace, [heartbeat_datapoint(now, model)])
