"""End to end on the embedded stack: from the capture file that completes a chunk to its metric and alarm.

template.yaml runs on moto (`modelwatch_cli.local.stack.LocalStack`) with the real handlers in-process. A car-loan model
(nannyml's synthetic dataset, binary CBPE) is registered with its per-model alarms. Captures for a few healthy
hours are ingested first (untimed: the estimator is fitted and cached there, as on a running system). Then the
clock passes the end of the test hour plus the lateness allowance and the test hour's last capture file lands;
from that `put_object` we time:

- metric published: the Publish function that wrote the test chunk's datapoint finished;
- notification: the degradation notification (notifications topic) reached the subscriber queue;
- alarm notification: the model's CloudWatch alarm went to ALARM and its notification reached the queue.

The test hour holds rows from the dataset's degraded period, so an alert is expected; if none comes, the row says
"not measured" with the reason. Notifications are collected when the stack is idle (after the run), so those two
times are upper bounds; on AWS a CloudWatch alarm adds up to one alarm period of evaluation delay.

    python -m benchmarks.e2e_bench [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

RESULTS = Path(__file__).resolve().parent / "results" / "e2e.json"
MODEL = "car-loan-e2e"
START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
NUMERIC = ["car_value", "debt_to_income_ratio", "loan_length", "driver_tenure"]
CATEGORICAL = ["salary_range", "repaid_loan_on_prev_car", "size_of_downpayment"]
FEATURES = ["car_value", "salary_range", "debt_to_income_ratio", "loan_length", "repaid_loan_on_prev_car",
            "size_of_downpayment", "driver_tenure"]  # fmt: skip
FILES_PER_HOUR = 4
GOAL_SECONDS = 10.0


def config_dict() -> dict[str, Any]:
    types = dict.fromkeys(NUMERIC, "numeric") | dict.fromkeys(CATEGORICAL, "categorical")
    return {
        "name": MODEL,
        "endpoint": f"{MODEL}-endpoint",
        "problem_type": "binary_classification",
        "features": [{"name": n, "type": types[n]} for n in FEATURES],
        "output": {"columns": ["y_pred_proba", "y_pred"]},
        "target": "repaid",
        "chunking": {"period": "1h"},
    }


def capture_file(rows: Any, hour: datetime, seed: int) -> bytes:
    """SageMaker capture JSONL, one CSV row per request, inference times spread over the rows' slot of the hour."""
    rng = random.Random(seed)
    lines = []
    for values, proba, pred, offset in rows:
        when = hour + timedelta(seconds=offset)
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": ",".join(str(v) for v in values) + "\n",
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": f"{proba!r},{pred}\n",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            },
            "eventVersion": "0",
        }
        lines.append(json.dumps(record, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def hour_files(frame: Any, hour: datetime, seed: int) -> list[bytes]:
    """The rows of one hour as FILES_PER_HOUR capture files, in time order."""
    n = len(frame)
    spacing = 3600.0 / n
    rows = [
        ([r[c] for c in FEATURES], float(r["y_pred_proba"]), int(r["y_pred"]), i * spacing)
        for i, r in enumerate(frame.to_dict("records"))
    ]
    size = -(-n // FILES_PER_HOUR)
    return [capture_file(rows[i : i + size], hour, seed + i) for i in range(0, n, size)]


def _key(prefix: str, hour: datetime, index: int) -> str:
    return f"{prefix}{MODEL}-endpoint/AllTraffic/{hour:%Y/%m/%d/%H}/{index:02d}-{hour:%H}-bench.jsonl"


def run(quick: bool = False) -> dict[str, Any]:
    import nannyml as nml
    import numpy as np
    import pandas as pd

    from modelwatch.clock import SimulatedClock
    from modelwatch.config.model import parse_model_config
    from modelwatch.lake.store import S3Store
    from modelwatch.registry import Registry
    from modelwatch.workflow.lifecycle import ReferenceData, register_model
    from modelwatch_cli.local.adapter import cloudwatch_datapoints
    from modelwatch_cli.local.functions import Invocation
    from modelwatch_cli.local.stack import LocalStack

    rows_per_hour = 300 if quick else 2_000
    history_hours = 1 if quick else 3
    reference, analysis, _ = nml.load_synthetic_car_loan_dataset()
    reference = reference.iloc[: (12 if quick else 25) * rows_per_hour].reset_index(drop=True).copy()
    step_ns = 3_600_000_000_000 // rows_per_hour
    first = pd.Timestamp((START - timedelta(days=3)).replace(tzinfo=None))
    reference["timestamp"] = first + pd.to_timedelta(np.arange(len(reference), dtype="int64") * step_ns, unit="ns")
    history = [analysis.iloc[h * rows_per_hour : (h + 1) * rows_per_hour] for h in range(history_hours)]
    degraded = analysis.iloc[len(analysis) - rows_per_hour :]  # the dataset's degraded period
    test_hour = START + timedelta(hours=history_hours)
    config = parse_model_config(config_dict(), "<e2e benchmark>")

    buffer = io.BytesIO()
    reference.drop(columns=["id"]).to_parquet(buffer, index=False)
    clock = SimulatedClock(test_hour + timedelta(minutes=50))
    sink = io.StringIO()
    with LocalStack(clock=clock, log_stream=sink) as stack:
        prefix = stack.template.parameters.get("CapturePrefix", "datacapture/")
        registry = Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0)
        registered = register_model(
            registry,
            config,
            ReferenceData(buffer.getvalue(), ".parquet", "reference.parquet"),
            cloudwatch=stack.clients["cloudwatch"],
            alarms=stack.alarm_settings(),
            clock=stack.clock,
        )
        # History: healthy hours, and the test hour up to its last file (untimed; the estimator is fitted here).
        for h, frame in enumerate(history):
            hour = START + timedelta(hours=h)
            for i, body in enumerate(hour_files(frame, hour, seed=h * 100)):
                stack.put_capture(_key(prefix, hour, i), body)
        test_files = hour_files(degraded, test_hour, seed=9_999)
        for i, body in enumerate(test_files[:-1]):
            stack.put_capture(_key(prefix, test_hour, i), body)
        setup_started = time.perf_counter()
        stack.run_until_idle()
        history_seconds = time.perf_counter() - setup_started
        notes_before = len(stack.notifications)
        alarm_state_before = dict(stack.alarms.states) if stack.alarms is not None else {}

        invocations: list[Invocation] = []
        assert stack.functions is not None
        stack.functions.listeners.append(invocations.append)
        lateness = config.estimation.lateness_delta
        stack.clock.set(test_hour + timedelta(hours=1) + lateness + timedelta(seconds=30))
        landed = time.time()
        stack.put_capture(_key(prefix, test_hour, len(test_files) - 1), test_files[-1])
        stack.run_until_idle()
        idle = time.time()

        publishes = [i for i in invocations if i.function.logical_id == "PublishFunction"]
        chunk_points = [
            p
            for p in cloudwatch_datapoints(stack.template.account_id, stack.template.region)
            if p.metric_name == "Performance"
            and ("Model", MODEL) in p.dimensions
            and ("Kind", "estimated") in p.dimensions
            and p.timestamp == test_hour
        ]
        new_notes = stack.notifications[notes_before:]
        alarms_topic = stack.outputs.get("AlarmsTopicArn", "")
        alarm_notes = [n for n in new_notes if n.topic_arn == alarms_topic and "ALARM" in n.subject]
        other_notes = [n for n in new_notes if n.topic_arn != alarms_topic]
        function_seconds: dict[str, float] = {}
        for invocation in invocations:
            name = invocation.function.logical_id
            function_seconds[name] = function_seconds.get(name, 0.0) + invocation.wall_end - invocation.wall_start

    result: dict[str, Any] = {
        "benchmark": "end to end (embedded stack)",
        "mode": "quick" if quick else "full",
        "rows_per_hour": rows_per_hour,
        "files_per_hour": FILES_PER_HOUR,
        "history_hours": history_hours,
        "history_ingest_and_runs_seconds": round(history_seconds, 2),
        "alarms_registered": len(registered["alarms"]),
        "goal_seconds": GOAL_SECONDS,
        "function_seconds": {k: round(v, 3) for k, v in sorted(function_seconds.items())},
        "invocations": [i.function.logical_id for i in invocations],
        "idle_seconds": round(idle - landed, 3),
    }
    if publishes and chunk_points:
        result["metric_published_seconds"] = round(publishes[-1].wall_end - landed, 3)
    else:
        result["metric_published_seconds"] = None
        result["metric_published_seconds_reason"] = (
            "no Publish invocation after the file landed" if not publishes else "no datapoint for the test chunk"
        )
    if other_notes:
        result["notification_seconds"] = round(idle - landed, 3)
    else:
        result["notification_seconds"] = None
        result["notification_seconds_reason"] = "no degradation notification for the test chunk (no alert)"
    if alarm_notes:
        result["alarm_notification_seconds"] = round(idle - landed, 3)
    else:
        already = [name for name, state in alarm_state_before.items() if MODEL in name and state == "ALARM"]
        result["alarm_notification_seconds"] = None
        result["alarm_notification_seconds_reason"] = (
            f"alarm already in ALARM from the history hours ({', '.join(already)})"
            if already
            else "no alarm transition for the test chunk"
        )
    result["notes"] = (
        "Notifications are collected once the stack is idle, so their times are upper bounds (the run's end). "
        f"Before the timed file: {history_hours} healthy hours and all but the last file of the test hour were "
        f"ingested and analysed in {history_seconds:.1f} s (untimed)."
    )
    print(json.dumps(result, indent=1), flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.quick)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
