"""Incidents, not a message per run: what a run's rows say about each metric's latest complete chunk, and how that
opens, updates, reminds about and closes a model's incident.

A model has at most one open incident per kind: `degradation` (crossings on the side that is worse for the metric:
it pages) and `improvement` (crossings on the better side: a notice, paging only with `alerts.direction: both`).
An incident opens on the first run that finds a metric's latest complete chunk in alert (with the model's noise
control: M of the last N chunks, confidence band past the threshold), stays open while any metric is, and closes on
the first run that finds every metric back in range. While open it is notified again only when something new is
learnt (another metric joins, labels confirm or contradict the estimate, a value at least twice as far past its
threshold) and as a reminder at most every `alerts.remind_every`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelwatch.clock import parse_iso, to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED
from modelwatch.monitors.direction import Crossing, crossed_side, excess
from modelwatch.monitors.performance import MONITOR as PERFORMANCE
from modelwatch.monitors.results import ResultRow
from modelwatch.monitors.wording import number, numbers_apart
from modelwatch.publishing.metrics import iso

DEGRADATION = Crossing.DEGRADATION.value
IMPROVEMENT = Crossing.IMPROVEMENT.value
KINDS = (DEGRADATION, IMPROVEMENT)
OPEN = "open"
CLOSED = "closed"
# Event types: what a notification says about its incident.
OPENED = "opened"
UPDATED = "updated"
REMINDER = "reminder"
CLOSED_EVENT = "closed"
SEVERITY_STEP = 2.0  # "severity grows": at least this many times as far past the threshold as last notified


def metric_label(monitor: str, metric: str, subject: str | None = None) -> str:
    """How people read a metric: its name for performance, `<monitor> <metric>` for other monitors, followed by
    what it is about when a monitor measures it per facet (`bias DI clinic=east`)."""
    label = metric if monitor == PERFORMANCE else f"{monitor} {metric}"
    return f"{label} {subject}" if subject else label


def row_subject(row: ResultRow) -> str | None:
    """What a row's metric is about besides the model: a bias facet and its value (`clinic=east`), else None. Each
    facet's metric is its own in an incident: one facet's violation neither hides nor closes another's."""
    return f"{row.facet}={row.facet_value}" if row.facet is not None else None


@dataclass(frozen=True)
class MetricView:
    """One metric's situation in a run, for one kind of crossing: in alert or not (latest complete chunk, noise
    control applied), since when, and the row that best shows the crossing."""

    monitor: str
    metric: str
    in_alert: bool
    latest_chunk: datetime
    subject: str | None = None  # a bias facet (`row_subject`)
    since: datetime | None = None
    row: ResultRow | None = None  # the latest crossing row (realized when labels show it, else the estimate)
    estimated: ResultRow | None = None  # the latest chunk's estimate
    label_coverage: float | None = None  # of the latest chunk
    verdicts: dict[datetime, bool] = field(default_factory=dict)  # chunk -> labels agree with the estimate's crossing
    crossing_chunks: tuple[datetime, ...] = ()  # starts of the chunks that crossed, in time order

    @property
    def label(self) -> str:
        return metric_label(self.monitor, self.metric, self.subject)

    @property
    def excess(self) -> float:
        row = self.row
        return 0.0 if row is None else excess(row.metric, row.value, row.lower_threshold, row.upper_threshold)


def _streak_start(chunks: list[datetime], flags: list[bool], tolerance: int) -> datetime | None:
    """Start of the run of crossing chunks that ends with the latest, allowing up to `tolerance` chunks in a row
    without a crossing (M of N: N - M); None when no chunk crossed."""
    since = None
    gap = 0
    for start, flagged in zip(reversed(chunks), reversed(flags), strict=True):
        if flagged:
            since, gap = start, 0
        else:
            gap += 1
            if gap > tolerance:
                break
    return since


def _passes_gate(row: ResultRow, gate: float) -> bool:
    return row.label_coverage is not None and row.label_coverage >= gate


def assess(config: ModelConfig, rows: list[ResultRow], crossings: list[ResultRow]) -> list[MetricView]:
    """Each (monitor, metric, subject) of the run's rows as seen by one kind of crossing (`crossings`: the monitors'
    alerts, or their improvements). Only metrics with rows are assessed: a run that analysed nothing changes nothing.
    """
    gate = config.estimation.min_label_coverage
    wanted, window = config.alerts.in_alert.chunks, config.alerts.in_alert.of_last
    groups: dict[tuple[str, str, str], list[ResultRow]] = {}
    for each in rows:
        groups.setdefault((each.monitor, each.metric, row_subject(each) or ""), []).append(each)
    hits: dict[tuple[str, str, str], dict[datetime, list[ResultRow]]] = {}
    for each in crossings:
        key = (each.monitor, each.metric, row_subject(each) or "")
        hits.setdefault(key, {}).setdefault(each.chunk_start, []).append(each)
    views = []
    for (monitor, metric, subject), group in sorted(groups.items()):
        chunks = sorted({r.chunk_start for r in group})
        mine = hits.get((monitor, metric, subject), {})
        flags = [start in mine for start in chunks]
        in_alert = sum(flags[-window:]) >= wanted
        latest = chunks[-1]
        crossing_chunks = [start for start in chunks if start in mine]
        row: ResultRow | None = None
        if crossing_chunks:
            candidates = mine[crossing_chunks[-1]]
            realized = [r for r in candidates if r.kind == KIND_REALIZED]
            row = realized[0] if realized else candidates[0]
        at_latest = [r for r in group if r.chunk_start == latest]
        estimated = next((r for r in at_latest if r.kind == KIND_ESTIMATED), None)
        coverage = next((r.label_coverage for r in at_latest if r.label_coverage is not None), None)
        verdicts: dict[datetime, bool] = {}
        for start, found in mine.items():
            if not any(r.kind == KIND_ESTIMATED for r in found):
                continue
            realized_rows = [r for r in group if r.chunk_start == start and r.kind == KIND_REALIZED]
            if any(_passes_gate(r, gate) for r in realized_rows):
                verdicts[start] = any(r.kind == KIND_REALIZED for r in found)
        views.append(
            MetricView(
                monitor=monitor,
                metric=metric,
                in_alert=in_alert,
                latest_chunk=latest,
                subject=subject or None,
                since=_streak_start(chunks, flags, window - wanted) if in_alert else None,
                row=row,
                estimated=estimated,
                label_coverage=coverage,
                verdicts=verdicts,
                crossing_chunks=tuple(crossing_chunks),
            )
        )
    return views


@dataclass
class Event:
    """Something to tell people about an incident (one notification)."""

    type: str  # opened, updated, reminder, closed
    kind: str  # degradation or improvement
    document: dict[str, Any]  # the incident after this run
    changes: list[str] = field(default_factory=list)  # for updates: what was learnt, one line each


@dataclass
class Decision:
    """An incident's next document (None: unchanged) and the events to notify."""

    document: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)


def _row_summary(row: ResultRow | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "value": row.value,
        "value_kind": row.kind,
        "lower_threshold": row.lower_threshold,
        "upper_threshold": row.upper_threshold,
        "side": crossed_side(row.value, row.lower_threshold, row.upper_threshold),
        "chunk": iso(row.chunk_start),
        "label_coverage": row.label_coverage,
        "detail": row.detail,  # e.g. the features that rose or fell in rank (attribution drift)
    }


def _metric_entry(view: MetricView, now: datetime, incident_since: datetime | None = None) -> dict[str, Any]:
    """A metric joining an incident; what the labels already say is told with it (not again as news)."""
    since = view.since or view.latest_chunk
    agreed = [ok for start, ok in view.verdicts.items() if start >= (incident_since or since)]
    return {
        "monitor": view.monitor,
        "metric": view.metric,
        "subject": view.subject,
        "joined_at": iso(now),
        "since": iso(since),
        "in_alert": True,
        "excess": view.excess,
        "notified_excess": view.excess,
        "confirmed": sum(agreed),
        "contradicted": len(agreed) - sum(agreed),
        "notified_confirmed": any(agreed),
        "notified_contradicted": not all(agreed),
        **_row_summary(view.row),
    }


def describe(entry: dict[str, Any]) -> str:
    """`f1 0.913 (est.) < 0.933`: a metric's value against the threshold it crossed."""
    value = entry.get("value")
    label = metric_label(str(entry.get("monitor", PERFORMANCE)), str(entry.get("metric", "")), entry.get("subject"))
    if value is None:
        return label
    kind = "est." if entry.get("value_kind") == KIND_ESTIMATED else entry.get("value_kind", "")
    side = entry.get("side")
    threshold = entry.get("lower_threshold") if side == "lower" else entry.get("upper_threshold")
    if threshold is None or side not in ("lower", "upper"):
        return f"{label} {number(float(value))} ({kind})"
    shown, bound = numbers_apart(float(value), float(threshold))
    return f"{label} {shown} ({kind}) {'<' if side == 'lower' else '>'} {bound}"


def _open(config: ModelConfig, kind: str, alerting: list[MetricView], now: datetime, run_id: str) -> Decision:
    since = min(v.since or v.latest_chunk for v in alerting)
    order = _metric_order(config)
    metrics = {v.label: _metric_entry(v, now) for v in sorted(alerting, key=lambda v: order(v.label))}
    document = {
        "model": config.name,
        "kind": kind,
        "status": OPEN,
        "id": f"{config.name}-{kind}-{since:%Y%m%dT%H%MZ}",
        "opened_at": iso(now),
        "opened_by_run": run_id,
        "since": iso(since),
        "latest_chunk": iso(max(v.latest_chunk for v in alerting)),
        "last_notified_at": iso(now),
        "updates": 0,
        "reminders": 0,
        "paging": kind == DEGRADATION or config.alerts.direction == "both",
        "metrics": metrics,
    }
    return Decision(document, [Event(OPENED, kind, document)])


def _metric_order(config: ModelConfig) -> Any:
    """Sort key: the config's metrics in their order first, then anything else by name."""
    position = {name: i for i, name in enumerate(config.metrics)}
    return lambda label: (position.get(label, len(position)), label)


def _close(document: dict[str, Any], views: list[MetricView], kind: str, now: datetime) -> Decision:
    ended = max(v.latest_chunk for v in views)
    closed = {
        **document,
        "status": CLOSED,
        "closed_at": iso(now),
        "ended_chunk": iso(ended),
        "duration_seconds": max(0.0, (ended - parse_iso(document["since"])).total_seconds()),
        "metrics": {k: {**m, "in_alert": False} for k, m in document["metrics"].items()},
    }
    return Decision(closed, [Event(CLOSED_EVENT, kind, closed)])


def _learn(entry: dict[str, Any], view: MetricView, since: datetime) -> tuple[dict[str, Any], list[str]]:
    """A metric entry brought up to date with the run, and what was learnt that people should hear about."""
    changes: list[str] = []
    updated = dict(entry)
    updated["in_alert"] = view.in_alert
    if view.row is not None:
        updated.update(_row_summary(view.row))
        updated["excess"] = view.excess
    agreed = [ok for start, ok in view.verdicts.items() if start >= since]
    updated["confirmed"], updated["contradicted"] = sum(agreed), len(agreed) - sum(agreed)
    label = view.label
    if updated["confirmed"] and not entry.get("notified_confirmed"):
        updated["notified_confirmed"] = True
        confirmed = updated["confirmed"]
        changes.append(f"labels confirm {label}: realized values cross the threshold in {confirmed} chunk(s)")
    if updated["contradicted"] and not entry.get("notified_contradicted"):
        updated["notified_contradicted"] = True
        changes.append(
            f"labels contradict {label}: realized values are within the thresholds in {updated['contradicted']} "
            "chunk(s) the estimate put past them"
        )
    notified = float(entry.get("notified_excess") or 0.0)
    if view.in_alert and notified > 0 and updated["excess"] >= SEVERITY_STEP * notified:
        updated["notified_excess"] = updated["excess"]
        changes.append(f"{label} is further past its threshold: {describe(updated)}")
    return updated, changes


def decide(
    config: ModelConfig,
    kind: str,
    document: dict[str, Any] | None,
    views: list[MetricView],
    now: datetime,
    run_id: str,
) -> Decision:
    """The incident of one kind after a run: opened, updated, reminded about, closed, or left as it was."""
    now = to_utc(now)
    if not views:
        return Decision()  # nothing analysed: nothing learnt
    alerting = [v for v in views if v.in_alert]
    is_open = document is not None and document.get("status") == OPEN
    if not is_open:
        return _open(config, kind, alerting, now, run_id) if alerting else Decision()
    assert document is not None
    if not alerting:
        return _close(document, views, kind, now)
    since = parse_iso(document["since"])
    metrics = dict(document["metrics"])
    changes: list[str] = []
    order = _metric_order(config)
    for view in sorted(views, key=lambda v: order(v.label)):
        entry = metrics.get(view.label)
        if entry is None:
            if view.in_alert:
                metrics[view.label] = _metric_entry(view, now, since)
                changes.append(f"{view.label} joined: {describe(metrics[view.label])}")
            continue
        metrics[view.label], learnt = _learn(entry, view, since)
        changes.extend(learnt)
    updated = {
        **document,
        "metrics": metrics,
        "latest_chunk": iso(max(v.latest_chunk for v in views)),
        "last_run": run_id,
    }
    last = parse_iso(document["last_notified_at"])
    if changes:
        updated["updates"] = int(document.get("updates", 0)) + 1
        updated["last_notified_at"] = iso(now)
        return Decision(updated, [Event(UPDATED, kind, updated, changes)])
    if now - last >= config.alerts.remind_every_delta:
        updated["reminders"] = int(document.get("reminders", 0)) + 1
        updated["last_notified_at"] = iso(now)
        return Decision(updated, [Event(REMINDER, kind, updated)])
    return Decision(updated, [])


def counts(document: dict[str, Any], views: list[MetricView]) -> tuple[int, int]:
    """(metrics in alert, chunks that crossed since the incident began): counted apart, each once."""
    since = parse_iso(document["since"])
    labels = {k for k, m in document.get("metrics", {}).items() if m.get("in_alert")}
    chunks = {start for v in views if v.label in labels for start in v.crossing_chunks if start >= since}
    return len(labels), len(chunks)


def duration_text(seconds: float) -> str:
    """`45 min`, `2 h`, `3 d`: how long an incident lasted, for people."""
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 72 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def open_for(document: dict[str, Any], now: datetime) -> timedelta:
    """How long an incident has been open (from the first chunk in alert)."""
    return to_utc(now) - parse_iso(document["since"])


def paging_metrics(documents: dict[str, dict[str, Any]]) -> list[str]:
    """Metric labels of the model's open paging incidents (what makes its alarm ALARM)."""
    found: list[str] = []
    for document in documents.values():
        if document.get("status") == OPEN and document.get("paging"):
            found.extend(document.get("metrics", {}))
    return sorted(set(found))
