"""The fleet on the embedded stack (#15 item 4): many small models through the real fleet state machine, counted.

template.yaml runs on moto (`modelwatch_cli.local.stack.LocalStack`) with the real handlers in-process. N small
binary models (3 numeric features, a 1,200-row reference) are registered, each gets one capture file for the
same hour (ingested through S3 -> EventBridge -> SQS -> IngestCaptureFunction, before that hour is complete, so
ingestion starts nothing). The clock then passes the hour's end plus the lateness allowance and the fleet state
machine runs once, for real: ListModels, the Distributed Map over batches, StartMonitor, each model's Monitor
execution (PrepareRun, the monitors' Analyse calls, Assemble, Publish). From the stack we count:

- the wall time from StartExecution of the fleet to the stack being idle (every Monitor run finished);
- per-model failures: failed models in the fleet's output, failed batches, Monitor executions not SUCCEEDED;
- Lambda invocations per function, StartExecution calls, PutMetricData requests and datapoints, DynamoDB calls
  (every boto3 call of the handlers, counted by `modelwatch_cli.local.adapter.counted_api_calls`);
- the fleet's state sizes (ListModels' output, the fleet's final output) and its execution history length.

Then the counts per model are scaled to 1,000 models and set against AWS's documented quotas (`QUOTAS`, each with
its page). The embedded stack runs one handler at a time, so its wall time is no estimate of AWS's; the
extrapolation uses the counts, and the rates AWS would see are bounded from the template's concurrency settings.

    python -m benchmarks.fleet_bench [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fleet.json"
FULL_MODELS = 200
QUICK_MODELS = 3
TARGET_MODELS = 1000
START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
FEATURES = ("x1", "x2", "x3")
REFERENCE_HOURS = 12
ROWS_PER_HOUR = 120  # above the default min_rows_per_chunk (100)
# StartMonitor's time per model on AWS (a config GET, two state queries, a claim, a StartExecution: about five
# calls of ~20 ms): the rate bound below assumes no faster, so it is an upper bound on the StartExecution rate.
AWS_SECONDS_PER_MODEL_START = 0.1
SETTLE_SECONDS = 4 * 3600.0

SFN_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
SFN_DISTRIBUTED_MAP = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-asl-use-map-state-distributed.html"
CW_PUT_METRIC_DATA = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html"
CW_QUOTAS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"
LAMBDA_RESERVED = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"
DDB_PARTITIONS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html"
DDB_ON_DEMAND = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"


@dataclass(frozen=True)
class Quota:
    """A documented AWS quota: its value as the page states it, the number the table compares with, the page."""

    key: str
    limit: str
    documented: str
    value: float
    url: str
    handled: str


QUOTAS = (
    Quota(
        "map_children",
        "Distributed Map: child executions running in parallel",
        "10,000 when MaxConcurrency is not set (the Distributed Map page); at most 1,000 open Map Runs (quotas page)",
        10_000,
        SFN_DISTRIBUTED_MAP,
        "one child per batch of 25 models; MaxConcurrency 10",
    ),
    Quota(
        "start_execution",
        "StartExecution (Standard): token bucket per account and Region",
        "a token bucket per account and Region (soft): Standard 800 tokens refilled at 150/s in all other Regions, "
        "1,300 and 300/s in US East (N. Virginia), US West (Oregon) and Europe (Ireland)",
        150,
        SFN_QUOTAS,
        "batches started 10 at a time (rate below the refill); throttled calls retried with jittered backoff",
    ),
    Quota(
        "state_size",
        "Step Functions: input or output of a task, state or execution",
        "262,144 bytes of data as a UTF-8 encoded string",
        262_144,
        SFN_QUOTAS,
        "Map items are batches of names; a batch answers a bounded summary (causes cut to 100 characters)",
    ),
    Quota(
        "history",
        "Step Functions: execution history (Standard)",
        "25,000 events; the execution fails when it reaches them",
        25_000,
        SFN_QUOTAS,
        "a Distributed Map's children keep their own histories: the fleet execution's does not grow per model",
    ),
    Quota(
        "put_metric_data_size",
        "PutMetricData: one request",
        "at most 1,000 different metrics and 1 MB",
        1_000,
        CW_PUT_METRIC_DATA,
        "datapoints batched by 1,000 / 800 kB (publishing.metrics.batches); a batch's heartbeats in one request",
    ),
    Quota(
        "put_metric_data_rate",
        "PutMetricData: requests per second per account and Region",
        "500 per second in each supported Region, adjustable (quota code L-8BC498D4)",
        500,
        CW_QUOTAS,
        "throttling retried with jittered backoff (modelwatch.retry); heartbeats batched per 25 models",
    ),
    Quota(
        "lambda_concurrency",
        "Lambda: concurrent executions per account and Region",
        "1,000 by default (new accounts less); a function scales by 1,000 environments every 10 s",
        1_000,
        LAMBDA_QUOTAS,
        "throttled Lambda tasks wait up to ~10 min (own retrier); AnalyseReservedConcurrency caps Analyse",
    ),
    Quota(
        "dynamodb_partition",
        "DynamoDB on-demand: one partition",
        "each partition 3,000 read and 1,000 write units per second; a new on-demand table sustains 12,000 reads "
        "and 4,000 writes per second (the on-demand page)",
        1_000,
        DDB_PARTITIONS,
        "state keys are per model (one partition key each); SDK retries with backoff",
    ),
)
QUOTA_SOURCES = {
    "lambda_scaling": LAMBDA_SCALING,
    "lambda_reserved": LAMBDA_RESERVED,
    "dynamodb_on_demand": DDB_ON_DEMAND,
}


# ---------------------------------------------------------------------------- workload
def config_dict(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint": f"{name}-endpoint",
        "problem_type": "binary_classification",
        "features": [{"name": f, "type": "numeric"} for f in FEATURES],
        "output": {"columns": ["y_pred_proba", "y_pred"]},
        "target": "target",
        "chunking": {"period": "1h"},
    }


def _rows(seed: int, n: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    proba = 1.0 / (1.0 + np.exp(-(x[:, 0] + 0.5 * x[:, 1])))
    frame = pd.DataFrame(x, columns=list(FEATURES))
    frame["y_pred_proba"] = np.round(proba, 6)
    frame["y_pred"] = (proba >= 0.5).astype(int)
    frame["target"] = (rng.random(n) < proba).astype(int)
    return frame


def reference_parquet(seed: int) -> bytes:
    import numpy as np
    import pandas as pd

    frame = _rows(seed, REFERENCE_HOURS * ROWS_PER_HOUR)
    first = pd.Timestamp((START - timedelta(days=2)).replace(tzinfo=None))
    step = 3_600_000_000_000 // ROWS_PER_HOUR
    frame["timestamp"] = first + pd.to_timedelta(np.arange(len(frame), dtype="int64") * step, unit="ns")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def capture_file(seed: int, hour: datetime) -> bytes:
    """One hour's SageMaker capture JSONL for a model: ROWS_PER_HOUR single-row CSV requests."""
    frame = _rows(seed + 1, ROWS_PER_HOUR)
    lines = []
    for i, row in enumerate(frame.itertuples(index=False)):
        when = hour + timedelta(seconds=i * 3600 / ROWS_PER_HOUR)
        values = ",".join(str(getattr(row, f)) for f in FEATURES)
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": values,
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": f"{row.y_pred_proba},{row.y_pred}",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": str(uuid.UUID(int=seed * 100_000 + i, version=4)),
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            },
            "eventVersion": "0",
        }
        lines.append(json.dumps(record, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------------------- run
def run(quick: bool = False, models: int | None = None) -> dict[str, Any]:
    from modelwatch import aws
    from modelwatch.clock import SimulatedClock
    from modelwatch.config.model import parse_model_config
    from modelwatch.lake.store import S3Store
    from modelwatch.registry import Registry
    from modelwatch.workflow.lifecycle import ReferenceData, register_model
    from modelwatch_cli.local.adapter import counted_api_calls
    from modelwatch_cli.local.functions import Invocation
    from modelwatch_cli.local.stack import LocalStack

    count = models or (QUICK_MODELS if quick else FULL_MODELS)
    names = [f"fleet-{i:04d}" for i in range(count)]
    clock = SimulatedClock(START + timedelta(minutes=50))
    sink = io.StringIO()
    # Every Monitor run settles within one run_until_idle: on 2 shared cores 200 models take well over the default.
    with LocalStack(clock=clock, log_stream=sink, settle_timeout=SETTLE_SECONDS) as stack:
        prefix = stack.template.parameters.get("CapturePrefix", "datacapture/")
        registry = Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0)
        setup_started = time.perf_counter()
        with stack.quiet():
            for i, name in enumerate(names):
                config = parse_model_config(config_dict(name), "<fleet benchmark>")
                register_model(registry, config, ReferenceData(reference_parquet(i), ".parquet", "reference.parquet"))
        for i, name in enumerate(names):
            key = f"{prefix}{name}-endpoint/AllTraffic/{START:%Y/%m/%d/%H}/00-{START:%H}-bench.jsonl"
            stack.put_capture(key, capture_file(i, START))
        stack.run_until_idle()
        setup_seconds = time.perf_counter() - setup_started
        monitor_arn = stack.resources.state_machines["MonitorStateMachine"]
        sfn = stack.clients["stepfunctions"]
        assert not sfn.list_executions(stateMachineArn=monitor_arn)["executions"], "ingestion started runs"

        invocations: Counter[str] = Counter()

        def count_invocation(invocation: Invocation) -> None:
            invocations[invocation.function.logical_id] += 1
            if invocation.result.error_type is not None:
                invocations[f"{invocation.function.logical_id} (errors)"] += 1

        assert stack.functions is not None
        stack.functions.listeners.append(count_invocation)
        lateness = timedelta(minutes=15)
        stack.clock.set(START + timedelta(hours=1) + lateness + timedelta(minutes=1))
        aws.clear()  # the handlers' clients are created again, with the counting hook
        seconds_before = dict(stack.functions.seconds)
        with counted_api_calls() as calls:
            started = time.perf_counter()
            fleet_arn = stack.start_execution("FleetStateMachine", "fleet-bench", {"trigger": "schedule"})
            stack.run_until_idle()
            wall_seconds = time.perf_counter() - started
        stack.functions.listeners.remove(count_invocation)
        function_seconds = {
            k: round(v - seconds_before.get(k, 0.0), 2) for k, v in sorted(stack.functions.seconds.items())
        }
        function_seconds = {k: v for k, v in function_seconds.items() if v > 0}
        fleet = sfn.describe_execution(executionArn=fleet_arn)
        history_events = len(sfn.get_execution_history(executionArn=fleet_arn, maxResults=1000)["events"])
        monitors = _all_executions(sfn, monitor_arn)
        listed_bytes = _list_models_bytes(stack)
    output = json.loads(fleet.get("output") or "{}")
    return summarise(
        count,
        wall_seconds=wall_seconds,
        setup_seconds=setup_seconds,
        function_seconds=function_seconds,
        fleet_status=fleet["status"],
        output=output,
        monitor_statuses=Counter(e["status"] for e in monitors),
        invocations=invocations,
        calls=calls.calls,
        datapoints=sum(calls.datapoints.values()),
        history_events=history_events,
        listed_bytes=listed_bytes,
        batch_size=_batch_size(),
        map_concurrency=_map_concurrency(),
    )


def _all_executions(sfn: Any, arn: str) -> list[dict[str, Any]]:
    return [
        e for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn) for e in page["executions"]
    ]


def _list_models_bytes(stack: Any) -> int:
    """ListModels' output for this fleet, as the fleet execution carries it (invoked once more, uncounted)."""
    invocation = stack.invoke("ListModelsFunction", {"trigger": "schedule"})
    return len(json.dumps(invocation.result.payload).encode())


def _batch_size() -> int:
    from modelwatch.workflow.fleet import FLEET_BATCH_SIZE

    return FLEET_BATCH_SIZE


def _map_concurrency(asl_path: Path = ROOT / "statemachines" / "fleet.asl.json") -> int:
    from benchmarks.scaling_bench import fleet_concurrency

    return fleet_concurrency(asl_path)


def summarise(
    models: int,
    *,
    wall_seconds: float,
    setup_seconds: float,
    function_seconds: dict[str, float],
    fleet_status: str,
    output: dict[str, Any],
    monitor_statuses: Counter[str],
    invocations: Counter[str],
    calls: Counter[tuple[str, str]],
    datapoints: int,
    history_events: int,
    listed_bytes: int,
    batch_size: int,
    map_concurrency: int,
) -> dict[str, Any]:
    """The measured counts, the per-model failures, and the extrapolation to TARGET_MODELS against QUOTAS."""
    runs = output.get("runs", [])
    failed_models = [f["model"] for r in runs for f in r.get("failed", [])]
    failed_batches = [m for r in runs if r.get("status") == "failed" for m in r.get("batch", [])]
    statuses: Counter[str] = Counter()
    for r in runs:
        statuses.update(r.get("statuses", {}))
    not_succeeded = sum(n for status, n in monitor_statuses.items() if status != "SUCCEEDED")
    failures = len(failed_models) + len(failed_batches) + not_succeeded
    starts = calls[("stepfunctions", "StartExecution")]
    put_requests = calls[("cloudwatch", "PutMetricData")]
    dynamodb = sum(n for (service, _), n in calls.items() if service == "dynamodb")
    output_bytes = len(json.dumps(output).encode())
    measured = {
        "models": models,
        "wall_seconds": round(wall_seconds, 2),
        "setup_seconds": round(setup_seconds, 2),
        "function_seconds": function_seconds,
        "fleet_status": fleet_status,
        "fleet_statuses": dict(sorted(statuses.items())),
        "monitor_executions": dict(sorted(monitor_statuses.items())),
        "per_model_failures": failures,
        "failed_models": sorted(failed_models + failed_batches),
        "lambda_invocations": dict(sorted(invocations.items())),
        "lambda_invocations_total": sum(n for k, n in invocations.items() if not k.endswith("(errors)")),
        "start_execution_calls": starts,
        "put_metric_data_requests": put_requests,
        "put_metric_data_datapoints": datapoints,
        "dynamodb_calls": dynamodb,
        "api_calls": {f"{s}:{o}": n for (s, o), n in sorted(calls.items())},
        "list_models_output_bytes": listed_bytes,
        "fleet_output_bytes": output_bytes,
        "fleet_history_events": history_events,
        "batch_size": batch_size,
        "map_concurrency": map_concurrency,
    }
    measured["extrapolation"] = extrapolate(measured)
    return {"benchmark": "fleet (embedded stack)", **measured}


def extrapolate(measured: dict[str, Any], target: int = TARGET_MODELS) -> dict[str, Any]:
    """Per-model counts of the run scaled to `target` models, each beside its documented quota."""
    n = measured["models"]
    scale = target / n
    batches = math.ceil(target / measured["batch_size"])
    concurrency = measured["map_concurrency"]
    invoked = measured["lambda_invocations"]
    analyse = invoked.get("AnalyseFunction", 0) / max(1, invoked.get("PrepareRunFunction", 0))  # per model run
    # A run's monitors call Analyse at once (the Map in monitor.asl.json); the assembly, one more call, follows them.
    analyse_at_once = max(1.0, analyse - 1)
    runs = invoked.get("PrepareRunFunction", 0) or 1
    starts_per_second = concurrency / AWS_SECONDS_PER_MODEL_START
    put_requests = measured["put_metric_data_requests"] * scale
    # Publish's requests come as the runs finish: at worst all of them within one minute of the hour.
    put_per_second = put_requests / 60
    rows = {
        "map_children": (f"{batches} child executions, at most {concurrency} at once", concurrency),
        "start_execution": (
            f"{round(measured['start_execution_calls'] * scale):,} calls; at most {starts_per_second:.0f}/s "
            f"({concurrency} batches at once, >= {AWS_SECONDS_PER_MODEL_START} s per model)",
            starts_per_second,
        ),
        "state_size": (
            f"ListModels {round(measured['list_models_output_bytes'] * scale):,} B; fleet output "
            f"{round(measured['fleet_output_bytes'] * scale):,} B",
            max(measured["list_models_output_bytes"], measured["fleet_output_bytes"]) * scale,
        ),
        "history": (
            f"fleet execution {measured['fleet_history_events']} events (measured with {n} models; "
            "children keep their own)",
            measured["fleet_history_events"],
        ),
        "put_metric_data_size": (
            f"at most {measured['batch_size']} heartbeats or one run's datapoints per request",
            max(
                measured["batch_size"],
                measured["put_metric_data_datapoints"] / max(1, measured["put_metric_data_requests"]),
            ),
        ),
        "put_metric_data_rate": (
            f"{round(put_requests):,} requests a run; {put_per_second:.0f}/s if every run published in one minute",
            put_per_second,
        ),
        "lambda_concurrency": (
            f"{analyse:.1f} Analyse calls per model run, {analyse_at_once:.0f} at once: up to "
            f"{round(analyse_at_once * target):,} concurrent Analyse calls if every run's monitors start together",
            analyse_at_once * target,
        ),
        "dynamodb_partition": (
            f"{round(measured['dynamodb_calls'] * scale):,} requests a run (the table's); about "
            f"{measured['dynamodb_calls'] / runs:.0f} per model run on its own partition key, taken as one second's",
            measured["dynamodb_calls"] / runs,
        ),
    }
    table = []
    for quota in QUOTAS:
        need_text, need = rows[quota.key]
        headroom = quota.value / need if need else math.inf
        table.append(
            {
                **asdict(quota),
                "needs_for_target": need_text,
                "need_value": round(need, 1),
                "headroom": round(headroom, 1) if math.isfinite(headroom) else None,
                "binds": headroom < 1,
            }
        )
    return {
        "target_models": target,
        "scale": round(scale, 2),
        "lambda_invocations": round(measured["lambda_invocations_total"] * scale),
        "start_execution_calls": round(measured["start_execution_calls"] * scale),
        "put_metric_data_requests": round(put_requests),
        "put_metric_data_datapoints": round(measured["put_metric_data_datapoints"] * scale),
        "quotas": table,
        "sources": QUOTA_SOURCES,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, help="number of models (default 200, quick 5)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.quick, args.models)
    print(json.dumps({k: v for k, v in result.items() if k != "extrapolation"}, indent=1), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
