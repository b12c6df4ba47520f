"""publish_run on moto with bias rows: each facet's violation is its own metric of the model's incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from modelwatch.clock import SimulatedClock
from modelwatch.lake.layout import results_key
from modelwatch.monitors.results import to_parquet
from modelwatch.publishing.service import PublishSummary, publish_run
from tests.unit.monitors import fairness_data as data

from .conftest import Aws

START = datetime(2026, 3, 2, 5, tzinfo=UTC)
BIAS_NAMESPACE = "aws/sagemaker/Endpoints/bias-metrics"


def _rows(hours: int) -> pd.DataFrame:
    """DI per facet of `hours` hourly chunks: clinic's always farther from 1 than the baseline's (a violation),
    age's from the second chunk on."""
    rows = []
    for hour in range(hours):
        start = START + timedelta(hours=hour)
        base = {
            "model": "credit",
            "run_id": "r",
            "monitor": "bias",
            "metric": "DI",
            "kind": "realized",
            "chunk_key": f"{start:%Y-%m-%dT%H}",
            "chunk_index": 0,
            "chunk_start": pd.Timestamp(start),
            "chunk_end": pd.Timestamp(start + timedelta(hours=1)),
            "lower_threshold": 0.8,
            "upper_threshold": 1.2,
            "rows": 400,
            "labelled_rows": 0,
            "label_coverage": 0.0,
        }
        age = 1.4 if hour >= 1 else 1.1
        rows.append({**base, "facet": "clinic", "facet_value": "east", "value": 0.61, "alert": True})
        rows.append({**base, "facet": "age", "facet_value": "40", "value": age, "alert": age > 1.2})
    return pd.DataFrame(rows)


def _publish(aws: Aws, run_id: str, hours: int) -> PublishSummary:
    aws.store.put(results_key("credit", run_id), to_parquet(_rows(hours)))
    outcome = {"model": "credit", "run_id": run_id, "results_uri": aws.store.uri(results_key("credit", run_id))}
    return publish_run(
        outcome,
        data.credit_config(bias=data.BIAS),
        store=aws.store,
        cloudwatch=aws.cloudwatch,
        sns=aws.sns,
        state=aws.state,
        clock=SimulatedClock(START + timedelta(hours=hours + 1)),
        settings=aws.settings(),
        sleep=lambda _: None,
    )


def test_each_facet_s_violation_is_its_own_metric_of_the_incident(aws: Aws) -> None:
    # Given a published run where DI is in violation for the clinic facet only: the incident opens on it
    _publish(aws, "r1", hours=1)
    (opened,) = aws.notifications()
    assert "bias DI clinic=east 0.610 (realized) < 0.800" in opened["Subject"]
    assert "age=40" not in opened["Message"]

    # When the next chunk finds DI in violation for the age facet too
    _publish(aws, "r2", hours=2)

    # Then the age facet's violation joins the incident as news (one facet's violation does not hide another's)
    (update,) = aws.notifications()
    assert "bias DI age=40 joined: bias DI age=40 1.40 (realized) > 1.20" in update["Message"]
    assert "bias DI clinic=east:" in update["Message"] and "bias DI age=40:" in update["Message"]
    # and each facet's DI is its own datapoint in Clarify's namespace
    facets = {
        (p["dimensions"]["Facet"], p["timestamp"], p["value"])
        for p in aws.datapoints()
        if p["namespace"] == BIAS_NAMESPACE and p["name"] == "bias_metric_DI"
    }
    second = START + timedelta(hours=1)
    assert facets == {("clinic", START, 0.61), ("age", START, 1.1), ("clinic", second, 0.61), ("age", second, 1.4)}

    # When the same results are published again, nothing new is said
    _publish(aws, "r3", hours=2)
    assert aws.notifications() == []
