"""EMF lines printed by Powertools Metrics become datapoints; wall-time stamps move to simulated time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from modelwatch_cli.local.metrics import parse_emf, retime


def test_powertools_emf_is_parsed_with_dimensions_and_values() -> None:
    metrics = Metrics(namespace="ModelWatch", service="modelwatch")
    metrics.clear_metrics()  # Powertools' metric set is shared by the process: nothing another test left in it
    metrics.add_dimension(name="Model", value="car_loan")
    metrics.add_metric(name="RecordsDecoded", unit=MetricUnit.Count, value=10)
    metrics.add_metric(name="RecordsDecoded", unit=MetricUnit.Count, value=5)
    blob = metrics.serialize_metric_set()
    metrics.clear_metrics()
    output = "some log line\n" + json.dumps(blob) + "\n{not json"

    points = parse_emf(output)

    assert sorted(p.value for p in points) == [5.0, 10.0]
    assert {p.namespace for p in points} == {"ModelWatch"}
    assert points[0].dimensions == {"service": "modelwatch", "Model": "car_loan"}
    assert points[0].unit == "Count"


def test_retime_moves_only_wall_clock_stamps() -> None:
    now = time.time()
    simulated = datetime(2026, 3, 2, 5, tzinfo=UTC)
    chunk_start = datetime(2026, 3, 2, 1, tzinfo=UTC)
    lines = []
    for stamp in (now, chunk_start.timestamp()):
        lines.append(
            json.dumps(
                {
                    "_aws": {
                        "Timestamp": int(stamp * 1000),
                        "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "V"}]}],
                    },
                    "V": 1.0,
                }
            )
        )
    points = retime(parse_emf("\n".join(lines)), now - 0.5, now + 0.5, simulated)
    assert [p.timestamp for p in points] == [simulated, chunk_start]


def test_non_finite_values_are_not_datapoints() -> None:
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "V"}]}],
            },
            "V": "NaN",
        }
    )
    assert parse_emf(line) == []
