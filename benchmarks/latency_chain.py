"""Capture to alarm on AWS, on paper (#15 item 6): each hop's documented latency, the p95 it implies, and Model
Monitor's path beside it.

Nothing here is timed on AWS. Each hop carries where its figures come from: an AWS documentation page (quoted), a
setting of template.yaml or the model config, a measurement of this benchmark run (the local stack's function
times, the cold start and memory sections), or a stated assumption where AWS documents no figure. The chain's p95
is the sum of the hops' p95 budgets: an upper bound, since the p95 of a sum is at most the sum of the p95s of
positively correlated hops and below it for independent ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

S3_EVENTS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html"
EB_RETRY = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html"
SQS_ESM = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html"
ESM_API = "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html"
COLD_START = "https://docs.aws.amazon.com/lambda/latest/operatorguide/execution-environments.html"
INIT_PHASE = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html"
PUT_METRIC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html"
ALARMS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html"
MM_SCHEDULE = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ScheduleConfig.html"

DOCUMENTED, TEMPLATE, MEASURED, ASSUMED = "documented", "template.yaml / config", "measured here", "assumption"


@dataclass(frozen=True)
class Hop:
    """One hop of a chain: typical (p50) and p95 seconds, what they rest on, and the source."""

    name: str
    p50: float
    p95: float
    basis: str
    source: str
    note: str


def _function_seconds(results: Mapping[str, Any], *names: str, default: float) -> tuple[float, bool]:
    """A function's time on the embedded stack in this run's end-to-end section (first name found), else default."""
    seconds = results.get("e2e", {}).get("function_seconds", {})
    for name in names:
        if isinstance(seconds.get(name), int | float):
            return float(seconds[name]), True
    return default, False


def _import_seconds(results: Mapping[str, Any], function: str, default: float) -> tuple[float, bool]:
    """A handler's import time (median, fresh interpreter) from this run's cold start section, else default."""
    for handler in results.get("coldstart", {}).get("handlers", []):
        if handler.get("function") == function:
            return float(handler["import_seconds_median"]), True
    return default, False


def modelwatch_chain(results: Mapping[str, Any], batching_window: float, alarm_period: float) -> list[Hop]:
    """The hops from the capture file that completes a chunk landing in S3 to the model's alarm in ALARM."""
    ingest_import, ok_ingest = _import_seconds(results, "ingest_capture", 0.7)
    ingest_run, ok_run = _function_seconds(results, "IngestCaptureFunction", default=0.1)
    prepare, ok_prepare = _function_seconds(results, "PrepareRunFunction", default=0.05)
    analyse, ok_analyse = _function_seconds(results, "AnalyseFunction", "EstimateFunction", default=0.5)
    publish, ok_publish = _function_seconds(results, "PublishFunction", default=0.1)
    memory = results.get("memory", {}).get("configs", {}).get("estimation", {})
    step = memory.get("performance", {})
    analyse_cold = float(step.get("import_seconds_median", 3.0)) + float(step.get("nannyml_import_seconds_median", 5.0))
    small_import, ok_small = _import_seconds(results, "publish", 0.5)

    def basis(ok: bool) -> str:
        return MEASURED if ok else ASSUMED + " (not measured in this run)"

    return [
        Hop(
            "S3 object created -> EventBridge",
            2.0,
            60.0,
            DOCUMENTED,
            S3_EVENTS,
            '"Typically, event notifications are delivered in seconds but can sometimes take a minute or longer": '
            "p50 a few seconds, p95 budget one minute",
        ),
        Hop(
            "EventBridge rule -> SQS capture queue",
            0.5,
            2.0,
            ASSUMED,
            EB_RETRY,
            "AWS documents delivery guarantees (retries for up to 24 hours, then the events DLQ), not a latency",
        ),
        Hop(
            "SQS -> ingest Lambda (batching window)",
            batching_window,
            batching_window,
            TEMPLATE,
            ESM_API,
            f"MaximumBatchingWindowInSeconds {batching_window:g} (BatchSize 10): Lambda gathers records for up to "
            "this long before invoking; at a few files an hour the window runs out before the batch fills",
        ),
        Hop(
            "ingest Lambda cold start",
            0.0,
            0.2 + ingest_import,
            basis(ok_ingest),
            COLD_START,
            '"cold starts typically occur in under 1% of invocations", lasting "from under 100 ms to over 1 second": '
            f"p95 budget a cold runtime start plus the handler's import ({ingest_import:.2f} s measured)",
        ),
        Hop(
            "ingest: decode, lake write, trigger (StartExecution)",
            ingest_run,
            max(1.0, 5 * ingest_run),
            basis(ok_run),
            "benchmarks/e2e_bench.py",
            "function time on the embedded stack; p95 budget 5x (a full 64 MB capture file decodes in ~0.5 s)",
        ),
        Hop(
            "Step Functions: PrepareRun, Map, Assemble, Publish transitions",
            0.5,
            2.0,
            ASSUMED,
            "statemachines/monitor.asl.json",
            "AWS documents no per-transition latency for Standard workflows; budget for about 7 transitions",
        ),
        Hop(
            "PrepareRun (cold, zip)",
            prepare,
            prepare + 0.2 + small_import,
            basis(ok_prepare and ok_small),
            COLD_START,
            "hourly invocations: assume a cold start each run (runtime start plus the handler import)",
        ),
        Hop(
            "Analyse: the monitors' steps and Assemble (cold image)",
            analyse,
            analyse + analyse_cold,
            basis(ok_analyse and bool(step)),
            INIT_PHASE,
            "cold container each run: the handler import plus nannyml's, loaded by the first step "
            f"({analyse_cold:.1f} s measured in the memory section on this shared machine; the Init phase itself is "
            "limited to 10 s)",
        ),
        Hop(
            "Publish (cold, zip): PutMetricData AlertState",
            publish,
            publish + 0.2 + small_import,
            basis(ok_publish and ok_small),
            PUT_METRIC,
            "PutMetricData returns once CloudWatch has the datapoint; AWS documents up to 15 minutes only for a new "
            "metric to appear in ListMetrics (the model's AlertState exists after its first run)",
        ),
        Hop(
            "datapoint visible to the alarm",
            2.0,
            10.0,
            ASSUMED,
            PUT_METRIC,
            "no documented figure for a datapoint of an existing metric reaching alarm evaluation",
        ),
        Hop(
            "alarm evaluation (AlertState, 60 s period, 1 of 1)",
            alarm_period / 2,
            0.95 * alarm_period,
            DOCUMENTED,
            ALARMS,
            "alarms with a period of a minute or more are evaluated every minute: the next evaluation comes within "
            "one minute of the datapoint",
        ),
    ]


def run_from(results: Mapping[str, Any], quick: bool = False) -> dict[str, Any]:
    """The chain, its totals, and detection latency (degraded request -> alarm) beside Model Monitor's."""
    batching_window = 5.0  # template.yaml CaptureQueue event source: MaximumBatchingWindowInSeconds
    alarm_period = 60.0  # publishing/alarms.py STATE_PERIOD_SECONDS
    lateness = 15 * 60.0  # config estimation.lateness default (15m): a chunk is complete at its end + lateness
    file_cadence = 5 * 60.0  # SageMaker capture files every few minutes while traffic flows (cost model's 12/h)
    hops = modelwatch_chain(results, batching_window, alarm_period)
    p50 = sum(h.p50 for h in hops)
    p95 = sum(h.p95 for h in hops)
    hour = 3600.0
    # A degraded request lands uniformly in its hourly chunk: the chunk closes in U(0, 1h) (p95: 57 min).
    ours_after_close = lateness + file_cadence + p95
    mm_delay_p95, mm_job = 19 * 60.0, 10 * 60.0  # schedule start 0-20 min (documented); job minutes (cost model)
    mm_after_close = mm_delay_p95 + mm_job + 0.95 * alarm_period
    return {
        "hops": [asdict(h) for h in hops],
        "pipeline_p50_seconds": round(p50, 1),
        "pipeline_p95_seconds": round(p95, 1),
        "lateness_seconds": lateness,
        "capture_file_cadence_seconds": file_cadence,
        "modelwatch_after_chunk_close_p95_seconds": round(ours_after_close, 1),
        "modelwatch_request_to_alarm_p95_seconds": round(0.95 * hour + ours_after_close, 1),
        "model_monitor": {
            "schedule": "hourly, cron(0 * ? * * *) (the shortest Model Monitor supports)",
            "start_delay_p95_seconds": mm_delay_p95,
            "start_delay_source": MM_SCHEDULE,
            "start_delay_quote": "there could be a delay of 0-20 minutes from the actual requested time to run the "
            "execution",
            "job_seconds": mm_job,
            "job_basis": "assumption (processing instance and container start plus analysis; the cost model's 10 "
            "billed minutes)",
            "after_hour_close_p95_seconds": round(mm_after_close, 1),
            "request_to_alarm_p95_seconds": round(0.95 * hour + mm_after_close, 1),
        },
    }
