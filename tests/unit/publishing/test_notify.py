"""Notification content: subject limits, report links, failure causes, and "since when"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from modelwatch.monitors.results import ResultRow
from modelwatch.publishing.datapoints import value_version
from modelwatch.publishing.notify import (
    build_degradation_notification,
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


def test_since_is_the_start_of_the_ongoing_alert_streak() -> None:
    # Given chunk 0 fine, chunks 1-2 already in alert (notified earlier), chunk 3 newly in alert
    rows = [
        _row(0, "estimated", 0.97, False),
        _row(1, "estimated", 0.93, True),
        _row(2, "estimated", 0.92, True),
        _row(3, "estimated", 0.91, True),
        _row(3, "realized", 0.90, True, coverage=0.8),
    ]
    new = [rows[3], rows[4]]

    # When the message is built
    note = build_degradation_notification(
        model="m", run_id="r", new_alerts=new, rows=rows, top_drifting_features=[], report_url=None, published_at=START
    )

    # Then it says since 01:00, lists the one new chunk with both values and the coverage
    assert "roc_auc: 1 chunk(s) newly in alert, in alert since 2026-03-02T01:00:00Z" in note.text
    assert (
        "2026-03-02 03:00 to 04:00; estimated 0.9100 vs thresholds [0.9500, 1.0000] ALERT; "
        "realized 0.9000 vs thresholds [0.9500, 1.0000] ALERT; label coverage 80%"
    ) in note.text
    assert "Top drifting features: none in drift alert" in note.text and "Report: not available" in note.text
    assert note.data["metrics"][0]["chunks"][0]["newly_in_alert"] == ["estimated", "realized"]


def test_versions_change_with_value_or_rows_only() -> None:
    assert value_version(0.9, 2500) == value_version(0.9, 2500)
    assert value_version(0.9, 2500) != value_version(0.9000001, 2500)
    assert value_version(0.9, 2500) != value_version(0.9, 2600)


def test_the_degradation_names_the_features_drifting_in_its_chunk() -> None:
    from modelwatch.monitors.drift import coinciding_drift

    # Given a degraded chunk, two features in drift alert in it and one in another chunk
    degraded = _row(3, "estimated", 0.91, True)

    def drift(hour: int, feature: str, value: float, alert: bool) -> ResultRow:
        start = START + timedelta(hours=hour)
        return ResultRow(
            monitor="drift", metric="jensen_shannon", kind="univariate", chunk_start=start,
            chunk_end=start + timedelta(hours=1), value=value, lower_bound=None, upper_bound=None,
            lower_threshold=None, upper_threshold=0.1, alert=alert, label_coverage=None, rows=2500, feature=feature,
        )  # fmt: skip

    rows = [degraded, drift(3, "car_value", 0.15, True), drift(3, "tenure", 0.4, True), drift(3, "age", 0.05, False)]
    rows.append(drift(2, "salary", 0.5, True))
    # When the notification is built with the drift that coincides with the new alerts
    note = build_degradation_notification(
        model="m",
        run_id="r",
        new_alerts=[degraded],
        rows=rows,
        top_drifting_features=["tenure"],
        report_url=None,
        published_at=START,
        drift_by_chunk=coinciding_drift(rows, [degraded.chunk_start]),
    )
    # Then the chunk's line names them, most drifted first, with method, distance and threshold
    assert (
        "drifting with it: tenure (jensen_shannon 0.4000 > 0.1000), car_value (jensen_shannon 0.1500 > 0.1000)"
    ) in note.text
    assert "salary (" not in note.text and "age (" not in note.text
    chunk = note.data["metrics"][0]["chunks"][0]
    assert [d["feature"] for d in chunk["drifting_features"]] == ["tenure", "car_value"]
    assert chunk["drifting_features"][0] == {
        "feature": "tenure", "method": "jensen_shannon", "distance": 0.4, "threshold": 0.1,
    }  # fmt: skip
