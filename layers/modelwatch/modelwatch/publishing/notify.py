"""SNS notifications for people: an incident opened, updated, reminded about or closed (what, by how much, since
when, where to look), a failed run, a fire drill."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from modelwatch.clock import parse_iso, to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.constants import KIND_REALIZED
from modelwatch.errors import safe_cause
from modelwatch.lake.store import parse_s3_uri
from modelwatch.monitors import configured
from modelwatch.monitors.results import ResultRow
from modelwatch.monitors.variants import Verdict
from modelwatch.publishing.incidents import (
    CLOSED_EVENT,
    IMPROVEMENT,
    OPENED,
    REMINDER,
    UPDATED,
    Event,
    MetricView,
    counts,
    describe,
    duration_text,
    metric_label,
    open_for,
)
from modelwatch.publishing.metrics import iso
from modelwatch.retry import call_with_retries

MAX_SUBJECT = 99  # SNS subjects stop at 100 characters
PRESIGNED_EXPIRY_SECONDS = 7 * 24 * 3600  # the longest SigV4 allows
MESSAGE_ATTRIBUTE = "modelwatch"
REPORT_LINK_CONSOLE = "console"
REPORT_LINK_PRESIGNED = "presigned"


@dataclass
class Notification:
    """One SNS message: a short subject, a plain-text body for e-mail and a JSON structure for machines."""

    subject: str
    text: str
    data: dict[str, Any]
    message_id: str | None = None
    sent: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "text": self.text,
            "data": self.data,
            "message_id": self.message_id,
            "sent": self.sent,
        }


def short_subject(text: str) -> str:
    """An SNS-safe subject: ASCII printable, one line, at most 99 characters."""
    clean = "".join(c if 32 <= ord(c) < 127 else " " for c in text).strip()
    return clean if len(clean) <= MAX_SUBJECT else clean[: MAX_SUBJECT - 3].rstrip() + "..."


def report_link(report_uri: str | None, mode: str, s3_client: Any | None = None) -> str | None:
    """An S3 console link to the report (default); a pre-signed URL only when configured and possible."""
    if not report_uri:
        return None
    if not report_uri.startswith("s3://"):
        return report_uri  # a local path (modelwatch run)
    bucket, key = parse_s3_uri(report_uri)
    if mode == REPORT_LINK_PRESIGNED and s3_client is not None:
        return str(
            s3_client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_EXPIRY_SECONDS
            )
        )
    return f"https://console.aws.amazon.com/s3/object/{bucket}?prefix={quote(key, safe='/=')}"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _bounds(row: ResultRow) -> str:
    return f"[{_fmt(row.lower_threshold)}, {_fmt(row.upper_threshold)}]"


def _coverage(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _when(value: datetime, now: datetime) -> str:
    """`03:00` within a day of now, else `2026-01-05 03:00` (UTC)."""
    value, now = to_utc(value), to_utc(now)
    return f"{value:%H:%M}" if abs(now - value) < timedelta(hours=24) else f"{value:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class RunContext:
    """What a run adds to its incident messages: where to look and what drifted."""

    run_id: str
    published_at: datetime
    report_url: str | None = None
    index_url: str | None = None  # the model's index page: its runs, latest first (#20)
    top_drifting_features: list[str] = field(default_factory=list)
    # Per chunk start: the features in drift alert in that chunk, most drifted first (`drift.coinciding_drift`).
    drift_by_chunk: Mapping[datetime, list[dict[str, Any]]] = field(default_factory=dict)

    def drifting_with(self, view: MetricView | None) -> list[dict[str, Any]]:
        """The features whose drift alerts coincide with the metric's latest crossing (else its latest chunk)."""
        if view is None:
            return []
        chunk = view.crossing_chunks[-1] if view.crossing_chunks else view.latest_chunk
        return list(self.drift_by_chunk.get(chunk, []))


def _drift_text(entry: Mapping[str, Any]) -> str:
    """`feature (method distance > threshold)`."""
    return f"{entry['feature']} ({entry['method']} {_fmt(entry['distance'])} > {_fmt(entry['threshold'])})"


def _ordered(config: ModelConfig, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The incident's metric entries, the config's metrics first in their order."""
    position = {name: i for i, name in enumerate(config.metrics)}
    items = sorted(document.get("metrics", {}).items(), key=lambda kv: (position.get(kv[0], len(position)), kv[0]))
    return [entry for _, entry in items]


def _primary(config: ModelConfig, document: dict[str, Any]) -> dict[str, Any]:
    entries = _ordered(config, document)
    in_alert = [e for e in entries if e.get("in_alert")]
    return (in_alert or entries or [{}])[0]


def _metric_line(
    entry: dict[str, Any], view: MetricView | None, now: datetime, drifting: list[dict[str, Any]] | None = None
) -> str:
    label = metric_label(str(entry.get("monitor", "")), str(entry.get("metric", "")), entry.get("subject"))
    parts = [f"{label}:"]
    estimated = view.estimated if view is not None else None
    if estimated is not None:
        flag = " ALERT" if estimated.alert else ""
        parts.append(f"estimated {_fmt(estimated.value)} vs thresholds {_bounds(estimated)}{flag} (latest chunk)")
    if view is not None and view.row is not None and view.row.kind == KIND_REALIZED:
        row = view.row
        parts.append(f"realized {_fmt(row.value)} vs thresholds {_bounds(row)} ({row.chunk_start:%Y-%m-%d %H:%M})")
    if estimated is None and (view is None or view.row is None):
        parts.append(describe(entry))
    detail = view.row.detail if view is not None and view.row is not None else entry.get("detail")
    if detail:  # what the monitor says about the crossing, e.g. the features that rose or fell in rank
        parts.append(str(detail))
    state = "in alert" if entry.get("in_alert") else "back in range"
    parts.append(f"{state}, since {_when(parse_iso(entry['since']), now)}")
    coverage = view.label_coverage if view is not None else entry.get("label_coverage")
    # the latest chunk's: its labels may be yet to land while earlier chunks' labels confirm the estimate
    parts.append(f"label coverage {_coverage(coverage)} (latest chunk)")
    if entry.get("confirmed") or entry.get("contradicted"):
        parts.append(f"labels confirm {entry.get('confirmed', 0)} / contradict {entry.get('contradicted', 0)} chunk(s)")
    if drifting and entry.get("in_alert"):
        parts.append("drifting with it: " + ", ".join(_drift_text(d) for d in drifting[:5]))
    return "  " + parts[0] + " " + "; ".join(parts[1:])


def incident_subject(config: ModelConfig, event: Event, now: datetime) -> str:
    """A subject for people: what, how much, since when (`modelwatch: car-loan degraded: f1 0.913 (est.) < 0.933
    since 03:00`)."""
    document = event.document
    model = config.name
    primary = _primary(config, document)
    since = _when(parse_iso(document["since"]), now)
    improvement = event.kind == IMPROVEMENT
    if event.type == OPENED:
        verb = "improved unexpectedly" if improvement else "degraded"
        others = len([m for m in document.get("metrics", {}).values() if m.get("in_alert")]) - 1
        more = f" (+{others} more)" if others > 0 else ""
        return short_subject(f"modelwatch: {model} {verb}: {describe(primary)}{more} since {since}")
    if event.type == UPDATED:
        return short_subject(f"modelwatch: {model} update: {event.changes[0]}")
    if event.type == REMINDER:
        lasted = duration_text(open_for(document, now).total_seconds())
        what = "unexpected improvement" if improvement else "incident"
        return short_subject(f"modelwatch: {model} reminder: {describe(primary)}, {what} open {lasted}")
    lasted = duration_text(float(document.get("duration_seconds", 0.0)))
    label = metric_label(str(primary.get("monitor", "")), str(primary.get("metric", "")), primary.get("subject"))
    if improvement:
        return short_subject(f"modelwatch: {model} back in range: {label} after {lasted} (improvement ended)")
    return short_subject(f"modelwatch: {model} recovered: {label} back in range after {lasted}")


def build_incident_notification(
    config: ModelConfig, event: Event, views: list[MetricView], context: RunContext
) -> Notification:
    """One message about an incident: opened, updated, reminder or closed (never a message per run)."""
    document = event.document
    now = to_utc(context.published_at)
    by_label = {v.label: v for v in views}
    entries = _ordered(config, document)
    improvement = event.kind == IMPROVEMENT
    since = parse_iso(document["since"])
    head = {
        OPENED: "an unexpected improvement opened" if improvement else "performance degraded",
        UPDATED: "incident update",
        REMINDER: "incident still open (reminder)",
        CLOSED_EVENT: "improvement ended" if improvement else "recovered",
    }[event.type]
    body = [
        f"Model {config.name}: {head}. Incident {document['id']}, in alert since {since:%Y-%m-%d %H:%M} UTC.",
    ]
    if event.type == CLOSED_EVENT:
        lasted = duration_text(float(document.get("duration_seconds", 0.0)))
        body.append(
            f"Every metric is back in range in the chunk from {parse_iso(document['ended_chunk']):%Y-%m-%d %H:%M}"
            f" UTC; the incident lasted {lasted}."
        )
    if event.type != CLOSED_EVENT:
        metrics_in_alert, chunks = counts(document, views)
        body.append(f"In alert: {metrics_in_alert} metric(s); {chunks} chunk(s) crossed a threshold since it began.")
    if event.changes:
        body.append("")
        body.append("What is new:")
        body.extend(f"  - {change}" for change in event.changes)
    body.append("")
    body.append("Metrics (values vs thresholds; UTC):")
    body.extend(
        _metric_line(entry, by_label.get(k), now, context.drifting_with(by_label.get(k)))
        for k, entry in _entries_by_label(entries)
    )
    if improvement and event.type == OPENED:
        body.append("")
        body.append(
            "A crossing on the side that is better for the metric often means the data changed (another population, "
            "labels or features computed differently) rather than a better model: worth a look, not an outage."
        )
        if not document.get("paging"):
            body.append("This is a notice: it does not page (the model's alerts.direction is worse).")
    body.append("")
    if context.top_drifting_features:
        body.append(f"Top drifting features: {', '.join(context.top_drifting_features)}")
    elif "drift" in configured(config):
        body.append("Top drifting features: none in drift alert")
    else:  # not "none": nothing was checked
        body.append("Drift: not monitored (the model's drift monitor is off)")
    body.append(f"Report: {context.report_url or 'not available'}")
    if context.index_url:
        body.append(f"All reports of the model, latest first: {context.index_url}")
    body.append(f"Run: {context.run_id}, published {iso(now)}.")
    if event.type == OPENED:
        body.append("")
        body.append(
            "Until it closes you hear about this incident again only when something new is learnt (labels confirm or "
            "contradict the estimate, another metric joins, a value twice as far past its threshold) and at most "
            f"every {config.alerts.remind_every} as a reminder; one message says when it is over."
        )
    body.append("")
    body.append("Values are nannyml estimates (CBPE/DLE) and, where labels arrived, realized performance.")
    data = {
        "type": "incident",
        "event": event.type,
        "kind": event.kind,
        "model": config.name,
        "incident_id": document["id"],
        "status": document["status"],
        "since": document["since"],
        "paging": bool(document.get("paging")),
        "duration_seconds": document.get("duration_seconds"),
        "changes": list(event.changes),
        "metrics": [
            {
                **{key: entry.get(key) for key in _DATA_FIELDS},
                "drifting_features": context.drifting_with(by_label.get(label)) if entry.get("in_alert") else [],
            }
            for label, entry in _entries_by_label(entries)
        ],
        "top_drifting_features": list(context.top_drifting_features),
        "report_url": context.report_url,
        "index_url": context.index_url,
        "run_id": context.run_id,
        "published_at": iso(now),
    }
    return Notification(subject=incident_subject(config, event, now), text="\n".join(body), data=data)


_DATA_FIELDS = (
    "monitor",
    "metric",
    "subject",
    "in_alert",
    "since",
    "value",
    "value_kind",
    "lower_threshold",
    "upper_threshold",
    "side",
    "chunk",
    "label_coverage",
    "confirmed",
    "contradicted",
    "detail",
)


def _entries_by_label(entries: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(metric_label(str(e.get("monitor", "")), str(e.get("metric", "")), e.get("subject")), e) for e in entries]


def build_drill_notification(model: str, drill_id: str, metric: str, published_at: datetime) -> Notification:
    """The fire drill's message: marked as a drill in the subject, the body and the data (no action needed)."""
    subject = short_subject(f"modelwatch: DRILL {model}: alert path test {drill_id}, no action needed")
    text = "\n".join(
        [
            f"This is a fire drill of modelwatch's alert path for model {model} (drill {drill_id}), started with",
            "`modelwatch fire-drill`. A synthetic degradation of "
            f"{metric} was published to a drill metric that only the drill's own temporary alarm watches: the model's",
            "real metrics, incidents and reports are untouched. No action is needed.",
            "",
            f"Published {iso(published_at)}.",
        ]
    )
    data = {"type": "drill", "model": model, "drill_id": drill_id, "metric": metric, "published_at": iso(published_at)}
    return Notification(subject=subject, text=text, data=data)


def failure_cause(cause: str | None, error: str = "") -> str:
    """The error message of a Step Functions Cause (a Lambda error JSON), without the stack trace; another library's
    message with quoted text and numbers blanked out (`errors.safe_cause`: it may quote the data)."""
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return safe_cause(error, cause)[:2000]
    if isinstance(parsed, dict):
        return safe_cause(error, str(parsed.get("errorMessage") or parsed.get("message") or ""))[:2000]
    return safe_cause(error, cause)[:2000]


def build_failure_notification(
    *, model: str, run_id: str, error: str, cause: str | None, failed_at: datetime
) -> Notification:
    """One message naming the error of a failed run."""
    message = failure_cause(cause, error)
    subject = short_subject(f"modelwatch: run failed for {model}: {error}")
    text = "\n".join(
        [
            f"The monitor run {run_id} of model {model} failed with {error}.",
            f"Cause: {message or 'not given'}",
            f"Failed at: {iso(failed_at)}",
            "",
            "Other models' runs are not affected. The error names what to fix (model config, reference data or",
            "captures); the results and report of earlier runs are unchanged.",
        ]
    )
    data = {
        "type": "failure",
        "model": model,
        "run_id": run_id,
        "error": error,
        "cause": message,
        "failed_at": iso(failed_at),
    }
    return Notification(subject=subject, text=text, data=data)


def build_monitor_failure_notification(
    *,
    model: str,
    run_id: str,
    failed: list[dict[str, Any]],
    report_url: str | None,
    published_at: datetime,
    index_url: str | None = None,
) -> Notification:
    """One message naming the monitors whose step failed in a run whose other monitors published their results."""
    names = [str(f["monitor"]) for f in failed]
    subject = short_subject(f"modelwatch: {model}: monitor failed: {', '.join(names)}")
    lines = [f"The run {run_id} of model {model} published the results of its other monitors; these failed:"]
    lines += [f"  {f['monitor']}: {f['error']}: {f.get('cause') or 'no cause given'}" for f in failed]
    lines += ["", f"Report: {report_url or 'not available'}"]
    if index_url:
        lines.append(f"All reports of the model, latest first: {index_url}")
    lines.append("The next run analyses their chunks again.")
    data = {
        "type": "monitor_failure",
        "model": model,
        "run_id": run_id,
        "published_at": iso(to_utc(published_at)),
        "monitors": [{"monitor": f["monitor"], "error": f["error"], "cause": f.get("cause", "")} for f in failed],
        "report_url": report_url,
        "index_url": index_url,
    }
    return Notification(subject=subject, text="\n".join(lines), data=data)


def build_variant_notification(
    config: ModelConfig, champion: str, worse: list[Verdict], published_at: datetime
) -> Notification:
    """A challenger variant significantly worse than the champion (modelwatch.monitors.variants), per metric."""
    model, challenger = config.model_name, config.variant
    subject = short_subject(f"modelwatch: {model}: variant {challenger} worse than {champion}")
    lines = [f"Model {model}, endpoint {config.endpoint}: variant {challenger} is significantly worse than {champion}:"]
    lines += [f"  {v.text()}" for v in worse]
    lines += [
        "",
        f"Each difference is the mean over the chunks both variants have, +/- its standard error; significant beyond "
        f"{config.comparison.z:g} standard errors (comparison.z). An estimated difference also rests on the "
        "estimator's assumptions; the realized one needs labels.",
        f"Compare them chunk by chunk: modelwatch compare --model {model} --variants {champion},{challenger} --chunks",
    ]
    data = {
        "type": "variant_comparison",
        "model": model,
        "champion": champion,
        "challenger": challenger,
        "published_at": iso(to_utc(published_at)),
        "worse": [
            {
                "metric": v.metric,
                "kind": v.kind,
                "difference": v.difference,
                "standard_error": v.standard_error,
                "chunks": v.chunks,
            }
            for v in worse
        ],
    }
    return Notification(subject=subject, text="\n".join(lines), data=data)


def send_notification(
    sns: Any, topic_arn: str, notification: Notification, *, sleep: Callable[[float], None] = time.sleep
) -> str:
    """Publish to the notifications topic (retried); returns the message id."""

    def publish() -> Any:
        return sns.publish(
            TopicArn=topic_arn,
            Subject=notification.subject,
            Message=notification.text,
            MessageAttributes={
                MESSAGE_ATTRIBUTE: {
                    "DataType": "String",
                    "StringValue": json.dumps(notification.data, separators=(",", ":"), default=str),
                },
            },
        )

    response = call_with_retries(publish, "SNS Publish", sleep=sleep)
    notification.message_id = str(response.get("MessageId", ""))
    notification.sent = True
    return notification.message_id
