"""SNS notifications that say what degraded, by how much, since when and where to look; and failed runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from modelwatch.clock import to_utc
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED
from modelwatch.lake.store import parse_s3_uri
from modelwatch.monitors.results import ResultRow
from modelwatch.publishing.metrics import iso
from modelwatch.retry import call_with_retries

MAX_SUBJECT = 99  # SNS subjects stop at 100 characters
MAX_CHUNK_LINES = 24  # per metric; the report and results/ have every chunk
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


def _side(row: ResultRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "value": row.value,
        "lower_threshold": row.lower_threshold,
        "upper_threshold": row.upper_threshold,
        "alert": row.alert,
    }


def _streak_start(rows: list[ResultRow], metric: str, latest: datetime) -> datetime:
    """Start of the run of consecutive alerting chunks (any kind) that ends with `latest`: "since when"."""
    by_chunk: dict[datetime, bool] = {}
    for row in rows:
        if row.metric == metric:
            by_chunk[row.chunk_start] = by_chunk.get(row.chunk_start, False) or row.alert
    since = latest
    for start in sorted((s for s in by_chunk if s <= latest), reverse=True):
        if not by_chunk[start]:
            break
        since = start
    return since


@dataclass
class _MetricSection:
    metric: str
    since: datetime
    chunks: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def build_degradation_notification(
    *,
    model: str,
    run_id: str,
    new_alerts: list[ResultRow],
    rows: list[ResultRow],
    top_drifting_features: list[str],
    report_url: str | None,
    published_at: datetime,
) -> Notification:
    """One message for a model and run whose chunks newly crossed a threshold (estimate or realized)."""
    others = [a for a in new_alerts if a.monitor in _OTHER_MONITORS]
    new_alerts = [a for a in new_alerts if a.monitor not in _OTHER_MONITORS]
    rows = [r for r in rows if r.monitor not in _OTHER_MONITORS]
    index = {(r.chunk_start, r.metric, r.kind): r for r in rows}
    sections: list[_MetricSection] = []
    for metric in sorted({a.metric for a in new_alerts}):
        starts = sorted({a.chunk_start for a in new_alerts if a.metric == metric})
        section = _MetricSection(metric, _streak_start(rows, metric, starts[-1]))
        for start in starts:
            estimated = index.get((start, metric, KIND_ESTIMATED))
            realized = index.get((start, metric, KIND_REALIZED))
            any_row = estimated or realized
            assert any_row is not None
            newly = sorted(a.kind for a in new_alerts if a.metric == metric and a.chunk_start == start)
            coverage = realized.label_coverage if realized else (estimated.label_coverage if estimated else None)
            section.chunks.append(
                {
                    "chunk_start": iso(start),
                    "chunk_end": iso(any_row.chunk_end) if any_row.chunk_end else None,
                    "newly_in_alert": newly,
                    "estimated": _side(estimated),
                    "realized": _side(realized),
                    "label_coverage": coverage,
                }
            )
            parts = [f"{start:%Y-%m-%d %H:%M}"]
            if any_row.chunk_end:
                parts[0] += f" to {any_row.chunk_end:%H:%M}"
            if estimated is not None:
                flag = " ALERT" if estimated.alert else ""
                parts.append(f"estimated {_fmt(estimated.value)} vs thresholds {_bounds(estimated)}{flag}")
            if realized is not None:
                flag = " ALERT" if realized.alert else ""
                parts.append(f"realized {_fmt(realized.value)} vs thresholds {_bounds(realized)}{flag}")
            parts.append(f"label coverage {_coverage(coverage)}")
            section.lines.append("  " + "; ".join(parts))
        sections.append(section)

    metrics = [s.metric for s in sections]
    chunks_total = sum(len(s.chunks) for s in sections)
    named = metrics + sorted({_OTHER_MONITORS[a.monitor] for a in others})
    subject = short_subject(f"modelwatch: {model} degraded: {', '.join(named)}")
    opening = (
        f"Model {model}: performance newly crossed a threshold in {chunks_total} chunk(s) "
        f"for {len(metrics)} metric(s) ({', '.join(metrics)})."
        if metrics
        else f"Model {model}: {' and '.join(sorted({_OTHER_MONITORS[a.monitor] for a in others}))} newly found."
    )
    body = [opening, f"Run: {run_id}, published {iso(to_utc(published_at))}.", ""]
    # Bias and attribution drift: one line per violation, a block per monitor each with its own cap (a bias check
    # flags many metrics per facet and chunk; it must not hide the attribution drift), attribution first.
    for monitor, heading in (
        ("attribution", "Feature attribution drift: {n} chunk(s) below the nDCG threshold."),
        ("bias", "Bias drift: {n} new violation(s) (a Clarify metric farther from neutral than the baseline's)."),
    ):
        mine = [a for a in others if a.monitor == monitor]
        if not mine:
            continue
        body.append(heading.format(n=len(mine)))
        body.extend(_other_line(a) for a in mine[:MAX_CHUNK_LINES])
        if len(mine) > MAX_CHUNK_LINES:
            body.append(f"  ... and {len(mine) - MAX_CHUNK_LINES} more (see the report)")
        body.append("")
    for section in sections:
        body.append(
            f"{section.metric}: {len(section.chunks)} chunk(s) newly in alert, in alert since {iso(section.since)}"
        )
        body.extend(section.lines[:MAX_CHUNK_LINES])
        if len(section.lines) > MAX_CHUNK_LINES:
            body.append(f"  ... and {len(section.lines) - MAX_CHUNK_LINES} more chunk(s) (see the report)")
        body.append("")
    drifting = ", ".join(top_drifting_features) if top_drifting_features else "none in drift alert"
    body.append(f"Top drifting features: {drifting}")
    body.append(f"Report: {report_url or 'not available'}")
    body.append("")
    body.append("Values are nannyml estimates (CBPE/DLE) and, where labels arrived, realized performance.")
    if others:
        body.append(
            "Bias metrics are Clarify's (estimated ones: CBPE on each facet's rows); attributions are TreeSHAP values "
            "of a surrogate of the model fitted on the captures."
        )
    data: dict[str, Any] = {
        "type": "degradation",
        "model": model,
        "run_id": run_id,
        "published_at": iso(to_utc(published_at)),
        "metrics": [
            {
                "metric": s.metric,
                "since": iso(s.since),
                "chunks": s.chunks[:MAX_CHUNK_LINES],
                "chunks_total": len(s.chunks),
            }
            for s in sections
        ],
        "top_drifting_features": list(top_drifting_features),
        "report_url": report_url,
    }
    if others:
        others = sorted(others, key=lambda a: a.monitor)  # attribution's (fewer) before bias's, as in the text
        data["violations_total"] = len(others)
        data["violations"] = [
            {
                "monitor": a.monitor,
                "metric": a.metric,
                "kind": a.kind,
                "facet": a.facet,
                "facet_value": a.facet_value,
                "chunk_start": iso(a.chunk_start),
                "value": a.value,
                "ranks": a.detail if a.monitor == "attribution" else None,
            }
            for a in others[:MAX_CHUNK_LINES]
        ]
    return Notification(subject=subject, text="\n".join(body), data=data)


# Monitors whose alerts are violations listed one per line (the others' alerts are performance sections).
_OTHER_MONITORS = {"bias": "bias drift", "attribution": "feature attribution drift"}


def _other_line(row: ResultRow) -> str:
    """`bias: DI (estimated) of clinic=east in 2026-03-02 05:00: 0.61 outside [0.82, 1.18]` or the attribution's
    nDCG with the features that rose or fell in rank."""
    when = f"{row.chunk_start:%Y-%m-%d %H:%M}"
    if row.monitor == "attribution":
        ranks = f"; {row.detail}" if row.detail else ""
        return f"  attribution: nDCG {_fmt(row.value)} below {_fmt(row.lower_threshold)} in {when}{ranks}"
    return (
        f"  bias: {row.metric} ({row.kind}) of {row.facet}={row.facet_value} in {when}: {_fmt(row.value)} outside "
        f"the baseline's {_bounds(row)}"
    )


def failure_cause(cause: str | None) -> str:
    """The error message of a Step Functions Cause (a Lambda error JSON), without the stack trace."""
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause[:2000]
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("message") or "")[:2000]
    return cause[:2000]


def build_failure_notification(
    *, model: str, run_id: str, error: str, cause: str | None, failed_at: datetime
) -> Notification:
    """One message naming the error of a failed run."""
    message = failure_cause(cause)
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
