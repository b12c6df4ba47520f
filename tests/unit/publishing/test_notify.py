"""Notification content: subject limits, report links, failure causes, the drill (incidents: test_incidents.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from modelwatch.monitors.results import ResultRow
from modelwatch.publishing.datapoints import value_version
from modelwatch.publishing.notify import (
    build_drill_notification,
    build_failure_notification,
    failure_cause,
    report_link,
    short_subject,
)

START = datetime(2026, 3, 2, tzinfo=UTC)


def _row(hour: int, kind: str, value: float, alert: bool, coverage: float = 1.0) -> ResultRow:
    start = START + timedelta(hours=hour)
    return ResultRow(
        monitor="performance",
        chunk_start=start,
        chunk_end=start + timedelta(hours=1),
        metric="roc_auc",
        kind=kind,
        value=value,
        lower_bound=value - 0.01 if kind == "estimated" else None,
        upper_bound=value + 0.01 if kind == "estimated" else None,
        lower_threshold=0.95,
        upper_threshold=1.0,
        alert=alert,
        label_coverage=coverage,
        rows=2500,
    )


def test_subject_is_short_ascii_one_line() -> None:
    subject = short_subject("modelwatch: " + "very-long-model-name-" * 10 + "\ndegraded: é")
    assert len(subject) <= 99 and subject.endswith("...")
    assert all(32 <= ord(ch) < 127 for ch in subject)


def test_report_link_defaults_to_the_console() -> None:
    uri = "s3://lake/reports/model=m/run=r 1/report.html"
    assert report_link(uri, "console") == (
        "https://console.aws.amazon.com/s3/object/lake?prefix=reports/model=m/run=r%201/report.html"
    )
    assert report_link("/tmp/out/report.html", "console") == "/tmp/out/report.html"
    assert report_link(None, "presigned") is None


def test_presigned_link_only_when_asked() -> None:
    class _S3:
        def generate_presigned_url(self, op: str, Params: dict[str, Any], ExpiresIn: int) -> str:
            return f"https://signed/{Params['Bucket']}/{Params['Key']}?exp={ExpiresIn}"

    assert report_link("s3://lake/k.html", "presigned", _S3()) == "https://signed/lake/k.html?exp=604800"
    assert report_link("s3://lake/k.html", "console", _S3()).startswith("https://console.aws.amazon.com/")


def test_failure_cause_keeps_the_message_not_the_stack_trace() -> None:
    cause = json.dumps({"errorMessage": "boom", "errorType": "X", "stackTrace": ["secret frame"]})
    assert failure_cause(cause) == "boom"
    assert failure_cause("plain text") == "plain text"
    note = build_failure_notification(model="m", run_id="r", error="EmptyWindowError", cause=cause, failed_at=START)
    assert note.subject == "modelwatch: run failed for m: EmptyWindowError"
    assert "boom" in note.text and "secret frame" not in note.text


def test_drill_message_says_it_is_a_drill_and_never_degraded() -> None:
    note = build_drill_notification("car-loan", "abc123", "f1", START)
    assert note.subject == "modelwatch: DRILL car-loan: alert path test abc123, no action needed"
    assert "degraded" not in note.subject and "No action is needed" in note.text
    assert note.data == {
        "type": "drill",
        "model": "car-loan",
        "drill_id": "abc123",
        "metric": "f1",
        "published_at": "2026-03-02T00:00:00Z",
    }


def test_versions_change_with_value_or_rows_only() -> None:
    assert value_version(0.9, 2500) == value_version(0.9, 2500)
    assert value_version(0.9, 2500) != value_version(0.9000001, 2500)
    assert value_version(0.9, 2500) != value_version(0.9, 2600)
