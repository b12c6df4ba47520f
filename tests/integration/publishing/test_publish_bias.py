"""publish_run on moto with bias rows: each facet's violation is its own alert, notified once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from modelwatch.clock import SimulatedClock
from modelwatch.lake.layout import results_key
from modelwatch.monitors.results import to_parquet
from modelwatch.publishing.service import PublishSummary, publish_run
from tests.unit.monitors import fairness_data as data

from .conftest import Aws

CHUNK = datetime(2026, 3, 2, 5, tzinfo=UTC)
NOW = CHUNK + timedelta(days=1)
BIAS_NAMESPACE = "aws/sagemaker/Endpoints/bias-metrics"


def _rows(age_alert: bool) -> pd.DataFrame:
    """DI of one chunk for both facets: clinic's farther from 1 than the baseline's (a violation), age's too when
    `age_alert` (its value then moved out, e.g. when the chunk was analysed again)."""
    base = {
        "model": "credit",
        "run_id": "r1",
        "monitor": "bias",
        "metric": "DI",
        "kind": "realized",
        "chunk_key": "2026-03-02T05",
        "chunk_index": 0,
        "chunk_start": pd.Timestamp(CHUNK),
        "chunk_end": pd.Timestamp(CHUNK + timedelta(hours=1)),
        "lower_threshold": 0.8,
        "upper_threshold": 1.2,
        "alert": True,
        "rows": 400,
        "labelled_rows": 0,
        "label_coverage": 0.0,
    }
    return pd.DataFrame(
        [
            {**base, "facet": "clinic", "facet_value": "east", "value": 0.61},
            {**base, "facet": "age", "facet_value": "40", "value": 1.4 if age_alert else 1.1, "alert": age_alert},
        ]
    )


def _publish(aws: Aws, run_id: str, age_alert: bool) -> PublishSummary:
    config = data.credit_config(bias=data.BIAS)
    aws.store.put(results_key("credit", run_id), to_parquet(_rows(age_alert)))
    outcome = {"model": "credit", "run_id": run_id, "results_uri": aws.store.uri(results_key("credit", run_id))}
    return publish_run(
        outcome,
        config,
        store=aws.store,
        cloudwatch=aws.cloudwatch,
        sns=aws.sns,
        ledger=aws.ledger,
        clock=SimulatedClock(NOW),
        settings=aws.settings(),
        sleep=lambda _: None,
    )


def test_each_facet_s_violation_is_notified_once(aws: Aws) -> None:
    # Given a published run where DI is in violation for the clinic facet only
    first = _publish(aws, "r1", age_alert=False)
    (message,) = aws.notifications()
    assert [a["value"] for a in first.newly_alerting] == [0.61]
    assert message["Message"].startswith("Model credit: bias drift newly found.\n")
    assert "bias: DI (realized) of clinic=east in 2026-03-02 05:00: 0.61" in message["Message"]

    # When a later run finds DI of the same chunk in violation for the age facet too
    second = _publish(aws, "r2", age_alert=True)

    # Then the age facet's violation is new and notified, the clinic facet's is not notified again
    assert [a["value"] for a in second.newly_alerting] == [1.4]
    (message,) = aws.notifications()
    assert "bias: DI (realized) of age=40 in 2026-03-02 05:00: 1.4" in message["Message"]
    assert "clinic=east" not in message["Message"]
    # and each facet's DI is its own datapoint in Clarify's namespace
    facets = {
        (p["dimensions"]["Facet"], p["value"])
        for p in aws.datapoints()
        if p["namespace"] == BIAS_NAMESPACE and p["name"] == "bias_metric_DI"
    }
    assert facets == {("clinic", 0.61), ("age", 1.1), ("age", 1.4)}

    # When the same results are published again, nothing is notified
    third = _publish(aws, "r3", age_alert=True)
    assert third.newly_alerting == [] and third.notification is None and aws.notifications() == []
