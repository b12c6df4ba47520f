"""publish_run on moto: the exact datapoints of a real car-loan run, once only, skipped values, one notification."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from modelwatch.clock import SimulatedClock
from modelwatch.errors import PublishError
from modelwatch.lake.layout import fleet_index_key, model_index_key, report_key, results_key
from modelwatch.publishing.service import PublishSummary, publish_run

from .conftest import ANALYSIS_START, MODEL, NOW, Aws, RunFixture, car_loan_config, stage_run

NAMESPACE = "ModelWatch"
MODEL_MONITOR_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"  # data_quality.namespace's default (#14)
FEATURE_COUNT = 7
# Datapoints per chunk since #14, besides performance's: features in drift alert and the 3 top features' missing
# rates (4), multivariate drift (1), the drift of both outputs (2), the violations count (1), and Model Monitor's
# two default families per feature (feature_baseline_drift_, feature_non_null_).
DRIFT_PER_CHUNK = 4 + 1 + 2
DATA_QUALITY_PER_CHUNK = 1 + 2 * FEATURE_COUNT


def _publish(aws: Aws, run: RunFixture, outcome: dict[str, Any], now: datetime = NOW, **kwargs: Any) -> PublishSummary:
    settings = kwargs.pop("settings", None) or aws.settings()
    return publish_run(
        outcome,
        kwargs.pop("config", run.config),
        store=aws.store,
        cloudwatch=kwargs.pop("cloudwatch", aws.cloudwatch),
        sns=aws.sns,
        state=aws.state,
        clock=SimulatedClock(now),
        settings=settings,
        sleep=lambda _: None,
        **kwargs,
    )


def _table(run: RunFixture) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(run.results))


def _key(point: dict[str, Any]) -> tuple[Any, ...]:
    return (point["name"], tuple(sorted(point["dimensions"].items())), point["timestamp"], point["value"])


def _expected_performance(table: pd.DataFrame, min_coverage: float) -> list[tuple[Any, ...]]:
    """Written out from the results table independently of the publishing code."""
    expected = []
    for row in table.itertuples():
        start = row.chunk_start.to_pydatetime().astimezone(UTC)
        dims = {"Model": MODEL, "Metric": row.metric}
        if row.kind == "estimated":
            for kind, value in (
                ("estimated", row.value),
                ("lower_confidence_bound", row.lower_confidence_boundary),
                ("upper_confidence_bound", row.upper_confidence_boundary),
            ):
                expected.append(("Performance", tuple(sorted({**dims, "Kind": kind}.items())), start, float(value)))
        elif row.label_coverage >= min_coverage:
            estimate = table[
                (table.chunk_start == row.chunk_start) & (table.metric == row.metric) & (table.kind == "estimated")
            ].value.item()
            for kind, value in (("realized", row.value), ("estimation_error", estimate - row.value)):
                expected.append(("Performance", tuple(sorted({**dims, "Kind": kind}.items())), start, float(value)))
    return expected


def _expected_drift(outcome: dict[str, Any]) -> list[tuple[Any, ...]]:
    expected = []
    for entry in outcome["drift"]:
        start = datetime.fromisoformat(entry["chunk_start"].replace("Z", "+00:00"))
        expected.append(("FeaturesInDriftAlert", (("Model", MODEL),), start, float(entry["features_in_drift_alert"])))
        for feature, rate in entry["missing_rate"].items():
            expected.append(("MissingValueRate", (("Feature", feature), ("Model", MODEL)), start, float(rate)))
    return expected


def _expected_new_series(table: pd.DataFrame) -> list[tuple[Any, ...]]:
    """#14's series, written out from the results table independently of the publishing code: multivariate drift
    and each output's drift (Model), the violations count (Model), and Model Monitor's metrics per feature."""
    expected = []
    mm = (("Endpoint", "car-loan-endpoint"), ("MonitoringSchedule", f"{MODEL}-data-quality"))
    for row in table.itertuples():
        start = row.chunk_start.to_pydatetime().astimezone(UTC)
        if (row.monitor, row.kind) == ("drift", "multivariate"):
            expected.append(("MultivariateDriftError", (("Model", MODEL),), start, float(row.value)))
        elif (row.monitor, row.kind) == ("drift", "prediction"):
            dims = (("Model", MODEL), ("Output", row.feature))
            expected.append(("PredictionDrift", dims, start, float(row.value)))
        elif (row.monitor, row.metric) in (("data_quality", "baseline_drift_check"), ("data_quality", "non_null")):
            name = "feature_baseline_drift" if row.metric == "baseline_drift_check" else "feature_non_null"
            dims = tuple(sorted((*mm, ("Feature", row.feature))))
            expected.append((f"{name}_{row.feature}", dims, start, float(row.value)))
    checks = table.loc[(table.monitor == "data_quality") & (table.kind == "constraint_check")]
    for start, alerts in checks.groupby("chunk_start")["alert"]:
        when = start.to_pydatetime().astimezone(UTC)
        expected.append(("ConstraintViolations", (("Model", MODEL),), when, float(alerts.sum())))
    return expected


def _state_points(now: datetime, fleet: float = 1.0, model: float = 1.0) -> list[tuple[Any, ...]]:
    """The model's state after a run, stamped at publication (changed by #19: AlertState per model and for the fleet,
    and the heartbeats, replace the per-metric Alert datapoints)."""
    return [
        ("AlertState", (("Model", MODEL),), now, model),
        ("AlertState", (), now, fleet),
        ("RunHeartbeat", (("Model", MODEL),), now, 1.0),
        ("RunHeartbeat", (), now, 1.0),
    ]


def test_first_run_publishes_the_exact_datapoints(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given a finished car-loan run (8 hourly chunks, alerts from 04:00, labels for 6.3 chunks) staged in the lake
    outcome = stage_run(aws, car_loan_run)
    table = _table(car_loan_run)

    # When it is published the day after
    summary = _publish(aws, car_loan_run, outcome)

    # Then CloudWatch received exactly: estimate + bounds per chunk and metric, realized + error past the coverage
    # gate, drift and missing rates per chunk, multivariate and output drift, violations and Model Monitor's
    # per-feature metrics (all at chunk start; #14: data quality and the extended drift are on by default), and the
    # model's state (in alert, the fleet has one model in alert, it ran) stamped at publication time
    expected = (
        _expected_performance(table, 0.5) + _expected_drift(outcome) + _expected_new_series(table) + _state_points(NOW)
    )
    received = aws.datapoints()
    assert {p["namespace"] for p in received} == {NAMESPACE, MODEL_MONITOR_NAMESPACE}
    assert all(p["namespace"] == MODEL_MONITOR_NAMESPACE for p in received if p["name"].startswith("feature_"))
    assert sorted(_key(p) for p in received) == sorted(expected)
    per_chunk = DRIFT_PER_CHUNK + DATA_QUALITY_PER_CHUNK
    assert len(received) == 8 * 3 * 3 + 6 * 3 * 2 + 8 * per_chunk + 4 == summary.published
    assert summary.put_calls == 3  # the ledgered datapoints (one call per namespace), then the model's state
    assert summary.published_by_series["Performance/realized"] == 18
    # and the realized values of the 30%-labelled chunk were held back with the reason
    gated = [s for s in summary.skipped if "label coverage" in s["reason"]]
    assert len(gated) == summary.skipped_total == 6
    assert {s["timestamp"] for s in gated} == {"2026-03-02T06:00:00Z"}
    assert gated[0]["reason"] == "label coverage 30.0% is below min_label_coverage 50.0%"


def test_rerunning_the_window_publishes_nothing_twice(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given a published run
    outcome = stage_run(aws, car_loan_run)
    first = _publish(aws, car_loan_run, outcome)
    count = len(aws.datapoints())
    notes = aws.notifications()

    # When the same window is published again (a retry, or a second run with the same results), later on
    later = NOW + timedelta(hours=1)
    second = _publish(aws, car_loan_run, {**outcome, "run_id": "run-2"}, now=later)

    # Then no value reaches CloudWatch twice and nothing reaches SNS: only the model's state, stamped now
    assert second.published == 4
    assert second.already_published == first.published - 4  # the state datapoints are not ledgered
    assert second.notifications == []
    assert sorted(_key(p) for p in aws.datapoints()[count:]) == sorted(_state_points(later))
    assert len(notes) == 1 and aws.notifications() == []


def test_a_degraded_model_opens_one_incident_with_one_message_that_says_why(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given a run whose latest chunk (07:00) is past the thresholds for accuracy and f1 (estimated, since 04:00;
    # labels confirm 04:00 and 05:00), while roc_auc crossed only at 05:00 (realized) and is back in range
    outcome = stage_run(aws, car_loan_run)

    # When it is published
    summary = _publish(aws, car_loan_run, outcome)

    # Then exactly one message went to the notifications topic: the incident opened, for people
    messages = aws.notifications()
    assert len(messages) == 1
    envelope = messages[0]
    table = _table(car_loan_run)
    f1 = table[
        (table.metric == "f1")
        & (table.kind == "estimated")
        & (table.chunk_start == pd.Timestamp("2026-03-02 07:00", tz="UTC"))
    ].iloc[0]
    assert envelope["Subject"] == (
        f"modelwatch: car-loan degraded: f1 {f1.value:.3f} (est.) < {f1.lower_threshold:.3f} (+1 more) since 04:00"
    )
    text = envelope["Message"]
    report = report_key(MODEL, "run-1")
    link = f"https://console.aws.amazon.com/s3/object/modelwatch-lake?prefix={report}"
    assert "Model car-loan: performance degraded. Incident car-loan-degradation-20260302T0400Z" in text
    assert "In alert: 2 metric(s); 4 chunk(s) crossed a threshold since it began." in text
    assert (
        f"  f1: estimated {f1.value:.4f} vs thresholds [{f1.lower_threshold:.4f}, {f1.upper_threshold:.4f}] ALERT "
        "(latest chunk); in alert, since 04:00; label coverage 0% (latest chunk); "
        "labels confirm 2 / contradict 0 chunk(s)"
    ) in text
    assert "roc_auc" not in text.split("Top drifting features")[0]  # back in range at the latest chunk
    assert "Top drifting features: salary_range, repaid_loan_on_prev_car, loan_length" in text
    assert f"Report: {link}" in text
    data = json.loads(envelope["MessageAttributes"]["modelwatch"]["Value"])
    assert (data["type"], data["event"], data["kind"], data["status"]) == ("incident", "opened", "degradation", "open")
    assert data["model"] == MODEL and data["run_id"] == "run-1" and data["report_url"] == link
    # (#20) beside it, the model's index of reports, latest first
    index = f"https://console.aws.amazon.com/s3/object/modelwatch-lake?prefix={model_index_key(MODEL)}"
    assert data["index_url"] == index and f"All reports of the model, latest first: {index}" in text
    assert [m["metric"] for m in data["metrics"]] == ["f1", "accuracy"]
    assert data["since"] == "2026-03-02T04:00:00Z" and data["paging"] is True
    # and the summary lists the crossings and the incident, and carries the same message
    assert summary.incidents["events"] == [
        {"kind": "degradation", "event": "opened", "incident_id": "car-loan-degradation-20260302T0400Z"}
    ]
    assert summary.incidents["paging"] == ["accuracy", "f1"] and summary.incidents["models_in_alert"] == 1
    # and the report's headline is the incident, direction included, as the model's and the fleet's index list it
    headline = "DEGRADED since 04:00 UTC: f1, accuracy below their bands"
    assert summary.verdict == {"status": "DEGRADED", "text": headline, "pages_written": True}
    assert headline in aws.store.get(report_key(MODEL, "run-1")).decode()
    assert headline in aws.store.get(model_index_key(MODEL)).decode()
    assert headline in aws.store.get(fleet_index_key()).decode()
    (sent,) = summary.notifications
    assert sent["subject"] == envelope["Subject"] and sent["sent"] and sent["message_id"] == envelope["MessageId"]
    assert len(summary.alerting) == 13 and summary.improvements == 0


def test_the_incident_names_the_drift_coinciding_with_each_metrics_crossing(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given the degraded run, and its stored results' univariate drift alerts
    outcome = stage_run(aws, car_loan_run)
    table = _table(car_loan_run)
    drift = table.loc[(table.monitor == "drift") & (table.kind == "univariate") & table.alert]

    # When it is published (an incident opens)
    summary = _publish(aws, car_loan_run, outcome)

    # Then each metric in alert names the features in drift alert in the chunk of its latest crossing, with the
    # method, distance and threshold (#14), and the message says so
    (note,) = summary.notifications
    in_alert = [m for m in note["data"]["metrics"] if m["in_alert"]]
    assert in_alert
    named_any = False
    for entry in in_alert:
        chunk = drift.loc[drift.chunk_start == pd.Timestamp(entry["chunk"])]
        named = {d["feature"]: d for d in entry["drifting_features"]}
        assert set(named) == set(chunk["feature"]), entry["metric"]
        for row in chunk.itertuples():
            assert named[row.feature]["method"] == row.metric
            assert named[row.feature]["distance"] == pytest.approx(row.value, abs=1e-12)
            assert named[row.feature]["threshold"] == pytest.approx(row.upper_threshold, abs=1e-12)
        named_any = named_any or bool(named)
    assert named_any
    assert "drifting with it: " in note["text"]


def test_presigned_report_link_only_when_configured(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given report links configured as pre-signed URLs
    outcome = stage_run(aws, car_loan_run)

    # When the degraded run is published
    summary = _publish(aws, car_loan_run, outcome, settings=aws.settings(REPORT_LINKS="presigned"))

    # Then the link is a pre-signed GET of the report object
    (notification,) = summary.notifications
    url = urlsplit(notification["data"]["report_url"])
    assert (url.scheme, url.netloc) == ("https", "modelwatch-lake.s3.amazonaws.com")
    assert unquote(url.path) == "/" + report_key(MODEL, "run-1")
    assert "Signature" in url.query
    assert "console.aws.amazon.com" not in notification["text"]


def test_values_past_two_weeks_are_skipped_with_the_reason(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given the run is published 14 days and 4 hours after the window started
    outcome = stage_run(aws, car_loan_run)
    now = ANALYSIS_START + timedelta(days=14, hours=4)

    # When publishing
    summary = _publish(aws, car_loan_run, outcome, now=now)

    # Then chunks 00:00-04:00 (older than two weeks, with a 5-minute margin) were not sent, and say why
    received = aws.datapoints()
    cutoff = now - timedelta(days=14)
    stamped_at_chunks = [p for p in received if p["name"] not in ("AlertState", "RunHeartbeat")]
    assert stamped_at_chunks and all(p["timestamp"] > cutoff for p in stamped_at_chunks)
    assert {p["timestamp"] for p in stamped_at_chunks} == {ANALYSIS_START + timedelta(hours=h) for h in (5, 6, 7)}
    too_old = [s for s in summary.skipped_reasons if s.startswith("timestamp older than 14 days")]
    assert len(too_old) == 1
    # 5 chunks x (9 estimate values + 6 realized/error + drift + data quality) are too old
    assert summary.skipped_reasons[too_old[0]] == 5 * (9 + 6 + DRIFT_PER_CHUNK + DATA_QUALITY_PER_CHUNK)
    # and the model's state still says in alert, stamped at publication time, with one notification
    assert [p["value"] for p in received if p["name"] == "AlertState" and not p["dimensions"]] == [1.0]
    assert {p["timestamp"] for p in received if p["name"] == "AlertState"} == {now}
    assert len(aws.notifications()) == 1


def _restage(aws: Aws, table: pd.DataFrame, outcome: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    aws.store.put(results_key(MODEL, outcome["run_id"]), buffer.getvalue())


def test_re_estimated_chunk_and_late_labels_are_published_again(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given a published run
    outcome = stage_run(aws, car_loan_run)
    _publish(aws, car_loan_run, outcome)
    aws.notifications()
    before = len(aws.datapoints())

    # When the 07:00 chunk is re-estimated on more rows and the 06:00 chunk's labels reach full coverage
    table = _table(car_loan_run)
    seven = table.chunk_start == pd.Timestamp("2026-03-02 07:00", tz="UTC")
    six = table.chunk_start == pd.Timestamp("2026-03-02 06:00", tz="UTC")
    roc7 = seven & (table.metric == "roc_auc") & (table.kind == "estimated")
    table.loc[roc7, "value"] = table.loc[roc7, "value"] + 0.001
    table.loc[seven, "rows"] = 2600
    table.loc[six, "label_coverage"] = 1.0
    _restage(aws, table, outcome)
    summary = _publish(aws, car_loan_run, outcome, now=NOW + timedelta(hours=2))

    # Then only what changed is sent: the re-estimated chunk's 3 metrics x 3 estimate values, the newly gated
    # realized values and errors, and the model's state
    new = aws.datapoints()[before:]
    performance = [p for p in new if p["name"] == "Performance"]
    assert {(p["timestamp"].hour, p["dimensions"]["Kind"]) for p in performance} == {
        (7, "estimated"),
        (7, "lower_confidence_bound"),
        (7, "upper_confidence_bound"),
        (6, "realized"),
        (6, "estimation_error"),
    }
    assert len(performance) == 9 + 6
    assert {(p["dimensions"].get("Model"), p["value"]) for p in new if p["name"] == "AlertState"} == {
        (MODEL, 1.0),
        (None, 1.0),
    }
    # and the 06:00 labels, now past the coverage gate, are crossings that teach nothing new (changed by #19: the
    # incident is open and labels already confirmed it): no message
    assert [
        a["metric"] + "/" + a["kind"] for a in summary.alerting if a["chunk_start"].startswith("2026-03-02T06")
    ] == [
        "accuracy/estimated",
        "accuracy/realized",
        "f1/estimated",
        "f1/realized",
        "roc_auc/realized",
    ]
    assert aws.notifications() == [] and summary.incidents["events"] == []


def test_nan_values_are_never_sent(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given results where one estimate is NaN and one bound is infinite
    outcome = stage_run(aws, car_loan_run)
    table = _table(car_loan_run)
    first = (table.chunk_start == pd.Timestamp("2026-03-02 00:00", tz="UTC")) & (table.kind == "estimated")
    table.loc[first & (table.metric == "f1"), "value"] = math.nan
    table.loc[first & (table.metric == "roc_auc"), "upper_confidence_boundary"] = math.inf
    _restage(aws, table, outcome)

    # When publishing
    summary = _publish(aws, car_loan_run, outcome)

    # Then neither reached CloudWatch; both are reported with the reason
    assert all(math.isfinite(p["value"]) for p in aws.datapoints())
    reasons = {(s["dimensions"]["Metric"], s["dimensions"]["Kind"]): s["reason"] for s in summary.skipped}
    assert reasons[("f1", "estimated")] == "value is missing (NaN in the results)"
    assert reasons[("f1", "estimation_error")] == "value is missing (NaN in the results)"
    assert reasons[("roc_auc", "upper_confidence_bound")] == "value is infinite"
    assert json.dumps(summary.to_dict())  # the summary stays JSON (no NaN)


class _Throttled:
    """The moto client, but PutMetricData is throttled `failures` times first."""

    def __init__(self, client: Any, failures: int) -> None:
        self.client = client
        self.failures = failures
        self.calls = 0

    def put_metric_data(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PutMetricData")
        return self.client.put_metric_data(**kwargs)


def test_throttling_is_retried(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given CloudWatch throttles the first call
    outcome = stage_run(aws, car_loan_run)
    throttled = _Throttled(aws.cloudwatch, failures=1)

    # When publishing
    summary = _publish(aws, car_loan_run, outcome, cloudwatch=throttled)

    # Then the call was retried and everything arrived once (the first namespace's datapoints twice, the other
    # namespace's, then the state)
    assert throttled.calls == 4
    published = 8 * 3 * 3 + 6 * 3 * 2 + 8 * (DRIFT_PER_CHUNK + DATA_QUALITY_PER_CHUNK) + 4
    assert len(aws.datapoints()) == summary.published == published


def test_persistent_throttling_fails_visibly_and_loses_nothing(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given CloudWatch throttles every call
    outcome = stage_run(aws, car_loan_run)

    # When publishing, Then the step fails with PublishError after its retries, without notifying
    with pytest.raises(PublishError, match=r"PutMetricData .* failed after 5 attempts"):
        _publish(aws, car_loan_run, outcome, cloudwatch=_Throttled(aws.cloudwatch, failures=99))
    assert aws.notifications() == []

    # and the retried step publishes everything (nothing was recorded as published) and opens the incident
    summary = _publish(aws, car_loan_run, outcome)
    published = 8 * 3 * 3 + 6 * 3 * 2 + 8 * (DRIFT_PER_CHUNK + DATA_QUALITY_PER_CHUNK) + 4
    assert summary.published == published and len(summary.notifications) == 1


def test_drift_metrics_can_be_turned_off(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given a config with drift metrics off
    outcome = stage_run(aws, car_loan_run)
    config = car_loan_config(drift_metrics=False)

    # When publishing
    _publish(aws, car_loan_run, outcome, config=config)

    # Then no drift, missing-rate, multivariate or output drift datapoints were sent (data quality's are its own)
    names = {p["name"] for p in aws.datapoints()}
    quality = {"ConstraintViolations"} | {n for n in names if n.startswith(("feature_baseline_drift_", "feature_non"))}
    assert names == {"Performance", "AlertState", "RunHeartbeat"} | quality
    assert len(quality) == 1 + 2 * FEATURE_COUNT


def test_workflow_duration_is_published_once_per_run(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given the execution started 95 seconds before publishing
    outcome = stage_run(aws, car_loan_run)
    start = NOW - timedelta(seconds=95)

    # When publishing twice (a retried step)
    _publish(aws, car_loan_run, outcome, execution_start=start)
    _publish(aws, car_loan_run, outcome, execution_start=start)

    # Then one duration datapoint, per model
    durations = [p for p in aws.datapoints() if p["name"] == "WorkflowDurationSeconds"]
    assert [(p["dimensions"], p["value"], p["timestamp"]) for p in durations] == [({"Model": MODEL}, 95.0, NOW)]


def test_an_execution_start_on_another_clock_publishes_no_duration(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given an execution stamped after the publish step's now (the embedded stack: Step Functions on wall time, the
    # functions on the simulated clock), the duration would be negative
    outcome = stage_run(aws, car_loan_run)

    # When publishing
    summary = _publish(aws, car_loan_run, outcome, execution_start=NOW + timedelta(days=30))

    # Then no duration is published (not a made-up 0), and the summary says why
    assert [p for p in aws.datapoints() if p["name"] == "WorkflowDurationSeconds"] == []
    assert "another clock" in summary.workflow_duration_unknown


def test_a_run_without_results_publishes_nothing(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given a run that analysed no chunk (all incomplete)
    outcome = {
        "model": MODEL,
        "run_id": "run-empty",
        "results_uri": None,
        "report_uri": None,
        "chunks_analysed": 0,
        "chunks_skipped": [
            {"start": "2026-03-02T08:00:00Z", "end": "2026-03-02T09:00:00Z", "rows": 10, "reason": "incomplete"}
        ],
    }

    # When publishing
    summary = _publish(aws, car_loan_run, {"outcome": outcome})

    # Then no value is sent and the skipped chunk is counted; the run still says the model's state (no incident)
    # and that it ran (changed by #19: a successful run is a heartbeat for the stalled alarm)
    assert summary.published == 4 and summary.chunks_skipped == 1
    assert sorted(_key(p) for p in aws.datapoints()) == sorted(_state_points(NOW, fleet=0.0, model=0.0))
    assert aws.notifications() == []


def test_forgetting_a_model_lets_its_datapoints_be_published_again(aws: Aws, car_loan_run: RunFixture) -> None:
    # Given a published run
    outcome = stage_run(aws, car_loan_run)
    first = _publish(aws, car_loan_run, outcome)

    # When the model's ledger is deleted (unregister) and the run is published again
    deleted = aws.ledger.delete_model(MODEL)
    again = _publish(aws, car_loan_run, outcome)

    # Then every ledgered datapoint was forgotten and is sent again; the incident is another item (still open)
    assert deleted == first.published - 4
    assert again.published == first.published and again.notifications == []


def test_a_failed_monitor_is_notified_once_and_again_only_after_it_recovered(
    aws: Aws, car_loan_run: RunFixture
) -> None:
    # Given a run whose drift monitor failed while performance published
    outcome = stage_run(aws, car_loan_run)
    failure = {"monitor": "drift", "error": "ChunkAnalysisError", "cause": "model car-loan: every chunk failed"}
    failed = {**outcome, "failed_monitors": [failure]}
    # When it is published, and a later run fails the same way
    first = _publish(aws, car_loan_run, failed)
    second = _publish(aws, car_loan_run, {**failed, "run_id": "run-2"})
    # Then one message names the failed monitor, and the repeat is not sent again
    notes = [n for n in aws.notifications() if "monitor failed" in n["Subject"]]
    assert len(notes) == 1 and "drift: ChunkAnalysisError" in notes[0]["Message"]
    assert first.failure_notification is not None and second.failure_notification is None
    assert first.failed_monitors == ["drift"]
    # And once drift analyses again (it is among the run's monitors), its next failure is news again
    _publish(aws, car_loan_run, {**outcome, "run_id": "run-3"})
    _publish(aws, car_loan_run, {**failed, "run_id": "run-4"})
    assert len([n for n in aws.notifications() if "monitor failed" in n["Subject"]]) == 1  # the one sent since


def test_rows_left_out_as_duplicates_are_a_metric(aws: Aws, car_loan_run: RunFixture) -> None:
    outcome = stage_run(aws, car_loan_run)
    _publish(aws, car_loan_run, {**outcome, "rows_duplicate": 40, "rows_superseded": 2})
    _publish(aws, car_loan_run, {**outcome, "rows_duplicate": 40, "rows_superseded": 2})  # a retried step
    _publish(aws, car_loan_run, {**outcome, "run_id": "clean"})  # none: no datapoint
    points = [p for p in aws.datapoints() if p["name"] == "DuplicateRows"]
    assert [(p["dimensions"], p["value"], p["timestamp"]) for p in points] == [({"Model": MODEL}, 42.0, NOW)]


def test_lean_profile_sends_only_what_alarms_and_dashboard_read_and_alerts_alike(
    aws: Aws, car_loan_run: RunFixture
) -> None:
    # Given the same run published under the lean profile (the default)
    outcome = stage_run(aws, car_loan_run)
    summary = _publish(aws, car_loan_run, outcome, config=car_loan_config(profile="lean"))

    # Then no confidence bound, estimation error or per-feature series went to CloudWatch, the left-out ones are
    # counted, and the same incident opened and was notified as under full (test_first_run_publishes_...)
    points = aws.datapoints()
    kinds = {p["dimensions"].get("Kind") for p in points if p["name"] == "Performance"}
    assert kinds == {"estimated", "realized"}
    assert not [p for p in points if "Feature" in p["dimensions"]]
    names = {p["name"] for p in points}
    assert names == {
        "Performance",
        "AlertState",
        "RunHeartbeat",
        "FeaturesInDriftAlert",
        "MultivariateDriftError",
        "PredictionDrift",
        "ConstraintViolations",
    }
    assert summary.metrics_profile == "lean" and summary.detail_left_out > 0
    assert len(summary.notifications) == 1 and summary.incidents["paging"]
