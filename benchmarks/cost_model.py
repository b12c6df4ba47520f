"""Monthly AWS cost of monitoring one model with modelwatch, beside SageMaker Model Monitor (pure arithmetic).

Every price is an AWS list price for us-east-1 with the date it was read (`PRICES_AS_OF`); free tiers are ignored
(they favour small deployments and expire). Compute comes from measured seconds (`Measured`, filled by the
benchmarks); counts (requests, transitions, objects, metric series) come from `Deployment` and `Workload`, whose
defaults follow template.yaml and the state machines and are stated in BENCHMARKS.md. Nothing here reads files,
the clock or the environment: `benchmarks.run` gathers the inputs and calls these functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

DAYS_PER_MONTH = 30
HOURS_PER_MONTH = 24 * DAYS_PER_MONTH
PRICES_AS_OF = (
    "AWS public list prices for us-east-1 as published in 2025 (DynamoDB on-demand after the 2024-11-01 price cut); "
    "not re-checked online from the benchmark machine"
)


@dataclass(frozen=True)
class Prices:
    """AWS list prices, us-east-1, USD (see PRICES_AS_OF)."""

    lambda_gb_second: float = 0.0000166667  # x86_64, first 6 billion GB-s per month
    lambda_request: float = 0.20 / 1_000_000
    sfn_standard_transition: float = 0.025 / 1_000
    s3_put: float = 0.005 / 1_000  # PUT, COPY, POST, LIST
    s3_get: float = 0.0004 / 1_000  # GET, SELECT and all other requests
    s3_storage_gb_month: float = 0.023  # S3 Standard, first 50 TB
    sqs_request: float = 0.40 / 1_000_000  # standard queue, per 64 KB chunk
    dynamodb_write_request: float = 0.625 / 1_000_000  # on-demand write request unit
    dynamodb_read_request: float = 0.125 / 1_000_000  # on-demand read request unit
    cloudwatch_metric_month: float = 0.30  # custom metric (name + dimension set), first 10,000
    cloudwatch_alarm_month: float = 0.10  # standard-resolution metric alarm
    cloudwatch_put_metric_data_request: float = 0.01 / 1_000
    cloudwatch_logs_ingest_gb: float = 0.50
    eventbridge_aws_service_event: float = 0.0  # S3 events on the default bus: AWS service events are free
    sns_publish: float = 0.50 / 1_000_000
    sagemaker_ml_m5_xlarge_hour: float = 0.23  # SageMaker Processing (Model Monitor jobs), ml.m5.xlarge

    def describe(self) -> list[tuple[str, str]]:
        """(item, price) rows for the report, in the order of the fields."""
        rows = [
            ("Lambda compute (x86_64)", f"${self.lambda_gb_second:.10f} per GB-second"),
            ("Lambda requests", f"${self.lambda_request * 1e6:.2f} per million"),
            ("Step Functions Standard", f"${self.sfn_standard_transition * 1e3:.3f} per 1,000 state transitions"),
            ("S3 PUT/COPY/POST/LIST", f"${self.s3_put * 1e3:.4f} per 1,000 requests"),
            ("S3 GET", f"${self.s3_get * 1e3:.4f} per 1,000 requests"),
            ("S3 Standard storage", f"${self.s3_storage_gb_month:.3f} per GB-month"),
            ("SQS standard", f"${self.sqs_request * 1e6:.2f} per million requests"),
            ("DynamoDB on-demand writes", f"${self.dynamodb_write_request * 1e6:.3f} per million write request units"),
            ("DynamoDB on-demand reads", f"${self.dynamodb_read_request * 1e6:.3f} per million read request units"),
            ("CloudWatch custom metric", f"${self.cloudwatch_metric_month:.2f} per metric-month (first 10,000)"),
            ("CloudWatch alarm", f"${self.cloudwatch_alarm_month:.2f} per standard alarm-month"),
            ("CloudWatch PutMetricData", f"${self.cloudwatch_put_metric_data_request * 1e3:.2f} per 1,000 requests"),
            ("CloudWatch Logs ingestion", f"${self.cloudwatch_logs_ingest_gb:.2f} per GB"),
            ("EventBridge (S3 events, default bus)", "free (AWS service events; assumption, see text)"),
            ("SNS publish", f"${self.sns_publish * 1e6:.2f} per million"),
            ("SageMaker Processing ml.m5.xlarge", f"${self.sagemaker_ml_m5_xlarge_hour:.3f} per instance-hour"),
        ]
        return rows


@dataclass(frozen=True)
class Measured:
    """Seconds measured by the benchmarks (and where each figure came from)."""

    ingest_seconds_per_mb: float  # capture decode + lake write, per MB of capture JSONL
    estimate_seconds_fixed: float  # cached run: per-run part (reads, report, store) of a + b * rows
    estimate_seconds_per_row: float  # cached run: per analysed row
    invocation_overhead_seconds: float = 0.1  # per ingest invocation (S3 GET/PUT round trips); assumption
    small_function_seconds: float = 0.3  # PrepareRun, Publish, ground truth ingest per invocation; assumption
    lake_bytes_per_row: float = 300.0  # Parquet (zstd) bytes per decoded row
    estimate_memory_fixed_mb: float | None = None  # cached run's peak RSS: a + b * rows (None: not measured)
    estimate_memory_mb_per_row: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """One model's traffic. An inference is one predicted row; requests carry `rows_per_request` rows."""

    inferences_per_day: float
    rows_per_request: float = 3.0
    capture_bytes_per_request: float = 2460.0
    labelled_fraction: float = 1.0  # ground truth arrives for this share of inferences (model quality on)


LEDGER_READ_UNITS = 0.5  # an eventually consistent read of an item under 4 KB (modelwatch.state.ledger)
IDLE_RECEIVES_PER_QUEUE_DAY = 5 * 3 * 60 * 24  # Lambda's 5 pollers x 3 long polls a minute of an idle SQS source


@dataclass(frozen=True)
class Deployment:
    """Counts that follow from template.yaml, the state machines and the model config (all configurable)."""

    ingest_memory_mb: int = 2048
    estimate_memory_mb: int = 3008
    small_function_memory_mb: int = 1024
    runs_per_day: int = 24  # hourly chunks: one monitor run per completed chunk
    # Each run covers the recent past (workflow/window.py DEFAULT_LOOKBACK) so late rows and labels count ...
    lookback_days: float = 14.0
    # A step reads and analyses its changed chunks in batches of whole chunks of at most this many rows
    # (modelwatch.analysis.run.BATCH_ROWS; a bigger chunk alone); None: the whole run at once.
    batch_rows: int | None = None
    # ... but re-estimates only chunks whose rows or labels changed (estimation/reuse.py): the new chunk, and each
    # chunk once more when its labels land. False: every run re-estimates the whole lookback (before reuse).
    incremental: bool = True
    transitions_per_run: int = 7  # states entered on the success path of monitor.asl.json
    lambda_invocations_per_run: int = 3  # PrepareRun, Estimate, Publish
    metrics_per_model: int = 22  # CloudWatch series with a Model dimension (see metric_series_per_model)
    alarms_per_model: int = 2  # alarm metrics billed (benchmarks.run counts them from publishing/alarms.py)
    datapoints_per_chunk: int = 16  # new datapoints per hourly chunk: performance series + alerts + drift
    capture_files_min_per_hour: int = 12  # SageMaker rolls capture files every few minutes while traffic flows
    capture_file_max_mb: float = 64.0
    label_files_per_day: int = 24
    s3_puts_per_capture_file: int = 2  # lake Parquet + manifest
    s3_gets_per_capture_file: int = 1
    # results, report, run state, stored analysis (pickle + manifest); the pages (publishing.pages): the report's
    # headline, runs.json, the model's index, fleet.json (a conditional write), the fleet's index
    s3_puts_per_run: int = 10
    # config, reference, estimator and analysis manifests and pickles (lake files apart); the pages: the report,
    # runs.json, fleet.json read before and after the fleet's index is drawn
    s3_gets_per_run: int = 10
    lake_areas_read_per_run: int = 2  # captures and ground truth, one LIST per day prefix of the window each
    sqs_requests_per_message: int = 3  # send (EventBridge target), receive, delete
    # the template's SQS event sources (capture, ground truth, endpoint events; benchmarks.run counts them) x the
    # idle polls of each (per stack)
    sqs_idle_receives_per_day: float = 3 * IDLE_RECEIVES_PER_QUEUE_DAY
    dynamodb_writes_per_file: int = 2  # idempotency + trigger claim
    dynamodb_writes_per_run: int = 3  # run claim, run state, success
    dynamodb_reads_per_run: int = 3
    log_bytes_per_invocation: int = 2_000  # structured logs + EMF lines
    notifications_per_day: float = 1.0
    lake_retention_days: int = 90


def metric_series_per_model(
    performance_metrics: int = 2,
    kinds_per_metric: int = 5,
    alert_series: bool = True,
    drift_count: bool = True,
    missing_rate_features: int = 3,
    operational: int = 6,
    model_monitor_families: int = 0,
    features_with_metrics: int = 0,
    drift_series: int = 0,
    violation_series: int = 0,
) -> int:
    """CloudWatch series (metric name + dimension set) one model adds.

    Performance has (Model, Metric, Kind) for estimated, lower/upper bound, realized and estimation error; Alert has
    (Model, Metric); FeaturesInDriftAlert (Model); MissingValueRate (Model, Feature) per top feature; operational
    (Model): RecordsDecoded, RecordsQuarantined, RowsWithoutPrediction, IngestLagSeconds, WorkflowDurationSeconds,
    WorkflowFailures. Data quality (config `data_quality.metrics` x `metric_features`): one Model Monitor series
    (`<family>_<feature>` with Endpoint, MonitoringSchedule, Feature) per family and feature; drift's own series
    (MultivariateDriftError, PredictionDrift per output); ConstraintViolations (Model).
    """
    return (
        performance_metrics * kinds_per_metric
        + (performance_metrics if alert_series else 0)
        + (1 if drift_count else 0)
        + missing_rate_features
        + operational
        + model_monitor_families * features_with_metrics
        + drift_series
        + violation_series
    )


# CloudWatch custom metrics are priced in tiers of the account's series count (us-east-1 list prices).
CLOUDWATCH_METRIC_TIERS: tuple[tuple[float, float], ...] = (
    (10_000, 0.30),
    (240_000, 0.10),
    (750_000, 0.05),
    (math.inf, 0.02),
)


def cloudwatch_metrics_monthly(series: float) -> float:
    """A month of `series` custom metric series in one account, tier by tier."""
    left, total = series, 0.0
    for size, price in CLOUDWATCH_METRIC_TIERS:
        taken = min(left, size)
        total += taken * price
        left -= taken
        if left <= 0:
            break
    return total


# The fleet of issue 14: 100 models of 30 features each, binary classification (two outputs), by metric profile.
FLEET_MODELS = 100
FLEET_FEATURES = 30
METRIC_PROFILES: tuple[tuple[str, int], ...] = (
    ("no Model Monitor metrics (data_quality.metrics: [])", 0),
    ("default: feature_baseline_drift, feature_non_null", 2),
    ("all four families", 4),
)


def data_quality_series(families: int, features: int = FLEET_FEATURES, outputs: int = 2) -> int:
    """Series one model of the default config publishes, with `families` Model Monitor metric families."""
    return metric_series_per_model(
        model_monitor_families=families,
        features_with_metrics=features,
        drift_series=1 + outputs,
        violation_series=1,
    )


def fleet_report(
    measured: Measured,
    deployment: Deployment,
    inferences_per_day: float = 100_000,
    models: int = FLEET_MODELS,
    features: int = FLEET_FEATURES,
    prices: Prices | None = None,
    workload: Workload | None = None,
    sagemaker_minutes: float = 10.0,
) -> dict[str, Any]:
    """A fleet's month on modelwatch per metric profile (everything but the metrics per model, times the models,
    plus the fleet's series at CloudWatch's tiered prices) beside Model Monitor's jobs for the same models (its own
    per-feature metrics, which its users pay for too, left out: the comparison favours Model Monitor)."""
    p = prices or Prices()
    w = replace(workload or Workload(1), inferences_per_day=inferences_per_day)
    without_metrics = modelwatch_monthly(w, measured, replace(deployment, metrics_per_model=0), p).total
    sagemaker = models * sagemaker_monitor_monthly(inferences_per_day, p, 2, sagemaker_minutes).total
    rows = []
    for label, families in METRIC_PROFILES:
        per_model = data_quality_series(families, features)
        metrics = cloudwatch_metrics_monthly(per_model * models)
        total = models * without_metrics + metrics
        rows.append(
            {
                "profile": label,
                "series_per_model": per_model,
                "fleet_series": per_model * models,
                "custom_metrics_usd": round(metrics, 2),
                "modelwatch_usd": round(total, 2),
                "sagemaker_usd": round(sagemaker, 2),
                "cheaper": total <= sagemaker,
            }
        )
    return {"models": models, "features": features, "inferences_per_day": inferences_per_day, "profiles": rows}


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float  # per month
    unit: str
    monthly_usd: float


@dataclass(frozen=True)
class CostBreakdown:
    label: str
    inferences_per_day: float
    items: tuple[LineItem, ...]

    @property
    def total(self) -> float:
        return sum(i.monthly_usd for i in self.items)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in self.items:
            totals[item.service] = totals.get(item.service, 0.0) + item.monthly_usd
        return totals

    def dominant(self) -> LineItem:
        """The single most expensive line item."""
        return max(self.items, key=lambda i: i.monthly_usd)


def capture_files_per_hour(workload: Workload, deployment: Deployment) -> int:
    """Capture objects SageMaker writes per hour: a floor while traffic flows, more when files hit the size cap."""
    if workload.inferences_per_day <= 0:
        return 0
    mb_per_hour = capture_mb_per_day(workload) / 24
    return max(deployment.capture_files_min_per_hour, math.ceil(mb_per_hour / deployment.capture_file_max_mb))


def capture_mb_per_day(workload: Workload) -> float:
    requests = workload.inferences_per_day / workload.rows_per_request
    return requests * workload.capture_bytes_per_request / 1_000_000


def chunks_estimated_per_run(workload: Workload, deployment: Deployment) -> float:
    """Chunks one monitor run estimates: its new chunk plus, where labels arrive, one chunk whose labels landed;
    without reuse, every chunk of the lookback (or its own chunk when lookback_days is 0)."""
    if deployment.incremental:
        return 1.0 + min(1.0, workload.labelled_fraction)
    return chunks_per_run(deployment)


def rows_per_run(workload: Workload, deployment: Deployment) -> float:
    """Rows one monitor run reads and estimates: its estimated chunks' rows."""
    return workload.inferences_per_day / deployment.runs_per_day * chunks_estimated_per_run(workload, deployment)


def s3_requests_per_day(workload: Workload, deployment: Deployment) -> tuple[float, float]:
    """(PUT/LIST, GET) requests per day: ingest, monitor runs reading their window, and the daily compaction.

    The window's past days are compacted (one file per hour partition and area); today's capture files are read as
    ingested (half a day's files on average)."""
    d = deployment
    files_day = capture_files_per_hour(workload, d) * 24
    label_files_day = d.label_files_per_day if workload.labelled_fraction > 0 else 0
    runs_day = d.runs_per_day
    window_days = math.ceil(d.lookback_days) + 1 if d.lookback_days > 0 else 1
    lake_gets_per_run = d.lake_areas_read_per_run * chunks_estimated_per_run(workload, d) + files_day / 2
    lists_per_run = d.lake_areas_read_per_run * window_days
    compaction_puts = 24 * d.lake_areas_read_per_run + d.lake_areas_read_per_run  # one file per hour, plus LISTs
    compaction_gets = files_day + label_files_day
    puts = (
        files_day * d.s3_puts_per_capture_file
        + label_files_day * d.s3_puts_per_capture_file
        + runs_day * (d.s3_puts_per_run + lists_per_run)
        + compaction_puts
    )
    gets = (
        (files_day + label_files_day) * d.s3_gets_per_capture_file
        + runs_day * (d.s3_gets_per_run + lake_gets_per_run)
        + compaction_gets
    )
    return puts, gets


def rows_held(workload: Workload, deployment: Deployment) -> float:
    """Rows a run holds at once: its rows, or with batches (`batch_rows`) at most a batch's, and a chunk's at least
    (a chunk is never split)."""
    rows = rows_per_run(workload, deployment)
    if deployment.batch_rows is None:
        return rows
    chunk = workload.inferences_per_day / deployment.runs_per_day
    return min(rows, max(float(deployment.batch_rows), chunk))


def estimate_peak_memory_mb(workload: Workload, measured: Measured, deployment: Deployment) -> float | None:
    """The cached run's peak RSS extrapolated linearly to the rows it holds at once (None when memory was not
    measured)."""
    if measured.estimate_memory_fixed_mb is None or measured.estimate_memory_mb_per_row is None:
        return None
    return measured.estimate_memory_fixed_mb + measured.estimate_memory_mb_per_row * rows_held(workload, deployment)


def chunks_per_run(deployment: Deployment) -> float:
    """Chunks one run covers (its results and the ledger checks): the lookback's (one chunk per run interval), or
    its own chunk."""
    if deployment.lookback_days > 0:
        return deployment.lookback_days * deployment.runs_per_day
    return 1.0


def estimate_seconds_per_run(workload: Workload, measured: Measured, deployment: Deployment) -> float:
    """Cached estimator: the measured fixed part plus the per-row part for the run's rows."""
    return measured.estimate_seconds_fixed + measured.estimate_seconds_per_row * rows_per_run(workload, deployment)


def _gb(memory_mb: int) -> float:
    return memory_mb / 1024


def modelwatch_monthly(
    workload: Workload,
    measured: Measured,
    deployment: Deployment | None = None,
    prices: Prices | None = None,
    label: str | None = None,
) -> CostBreakdown:
    """Line items of one model's month on modelwatch (shared per-stack items included, as with one model)."""
    d = deployment or Deployment()
    p = prices or Prices()
    days = DAYS_PER_MONTH
    files_day = capture_files_per_hour(workload, d) * 24
    mb_day = capture_mb_per_day(workload)
    label_files_day = d.label_files_per_day if workload.labelled_fraction > 0 else 0
    runs_day = d.runs_per_day

    ingest_gbs = (files_day * measured.invocation_overhead_seconds + mb_day * measured.ingest_seconds_per_mb) * _gb(
        d.ingest_memory_mb
    )
    labels_gbs = label_files_day * measured.small_function_seconds * _gb(d.small_function_memory_mb)
    estimate_gbs = runs_day * estimate_seconds_per_run(workload, measured, d) * _gb(d.estimate_memory_mb)
    small_per_run = max(0, d.lambda_invocations_per_run - 1)  # PrepareRun and Publish around the estimate
    run_small_gbs = runs_day * small_per_run * measured.small_function_seconds * _gb(d.small_function_memory_mb)
    invocations_day = files_day + label_files_day + runs_day * d.lambda_invocations_per_run

    messages_day = files_day + label_files_day
    lake_rows = workload.inferences_per_day * d.lake_retention_days
    lake_gb = lake_rows * measured.lake_bytes_per_row / 1e9
    # Publish checks every datapoint of the run's window against the ledger (eventually consistent: half an RRU
    # each, `LEDGER_READ_UNITS`) and writes only the new or changed ones (about one chunk's worth per run).
    ledger_reads = chunks_per_run(d) * d.datapoints_per_chunk * LEDGER_READ_UNITS
    puts_day, gets_day = s3_requests_per_day(workload, d)

    items = [
        LineItem("Lambda", "ingest compute", ingest_gbs * days, "GB-s", ingest_gbs * days * p.lambda_gb_second),
        LineItem("Lambda", "estimate compute", estimate_gbs * days, "GB-s", estimate_gbs * days * p.lambda_gb_second),
        LineItem(
            "Lambda",
            "other functions compute",
            (labels_gbs + run_small_gbs) * days,
            "GB-s",
            (labels_gbs + run_small_gbs) * days * p.lambda_gb_second,
        ),
        LineItem("Lambda", "requests", invocations_day * days, "requests", invocations_day * days * p.lambda_request),
        LineItem(
            "Step Functions",
            "state transitions",
            runs_day * d.transitions_per_run * days,
            "transitions",
            runs_day * d.transitions_per_run * days * p.sfn_standard_transition,
        ),
        LineItem("S3", "PUT/LIST requests", puts_day * days, "requests", puts_day * days * p.s3_put),
        LineItem("S3", "GET requests", gets_day * days, "requests", gets_day * days * p.s3_get),
        LineItem("S3", "lake storage", lake_gb, "GB-month", lake_gb * p.s3_storage_gb_month),
        LineItem(
            "SQS",
            "requests",
            (messages_day * d.sqs_requests_per_message + d.sqs_idle_receives_per_day) * days,
            "requests",
            (messages_day * d.sqs_requests_per_message + d.sqs_idle_receives_per_day) * days * p.sqs_request,
        ),
        LineItem(
            "DynamoDB",
            "writes",
            (files_day * d.dynamodb_writes_per_file + runs_day * (d.dynamodb_writes_per_run + d.datapoints_per_chunk))
            * days,
            "WRU",
            (files_day * d.dynamodb_writes_per_file + runs_day * (d.dynamodb_writes_per_run + d.datapoints_per_chunk))
            * days
            * p.dynamodb_write_request,
        ),
        LineItem(
            "DynamoDB",
            "reads",
            runs_day * (d.dynamodb_reads_per_run + ledger_reads) * days,
            "RRU",
            runs_day * (d.dynamodb_reads_per_run + ledger_reads) * days * p.dynamodb_read_request,
        ),
        LineItem(
            "CloudWatch",
            "custom metrics",
            d.metrics_per_model,
            "metric-months",
            d.metrics_per_model * p.cloudwatch_metric_month,
        ),
        LineItem(
            "CloudWatch", "alarms", d.alarms_per_model, "alarm-months", d.alarms_per_model * p.cloudwatch_alarm_month
        ),
        LineItem(
            "CloudWatch",
            "PutMetricData requests",
            runs_day * math.ceil(d.datapoints_per_chunk / 1000) * days,
            "requests",
            runs_day * math.ceil(d.datapoints_per_chunk / 1000) * days * p.cloudwatch_put_metric_data_request,
        ),
        LineItem(
            "CloudWatch",
            "logs ingestion",
            invocations_day * d.log_bytes_per_invocation * days / 1e9,
            "GB",
            invocations_day * d.log_bytes_per_invocation * days / 1e9 * p.cloudwatch_logs_ingest_gb,
        ),
        LineItem(
            "EventBridge",
            "S3 object events",
            messages_day * days,
            "events",
            messages_day * days * p.eventbridge_aws_service_event,
        ),
        LineItem(
            "SNS",
            "notifications",
            d.notifications_per_day * days,
            "publishes",
            d.notifications_per_day * days * p.sns_publish,
        ),
    ]
    return CostBreakdown(
        label or f"modelwatch {workload.inferences_per_day:,.0f}/day", workload.inferences_per_day, tuple(items)
    )


def sagemaker_monitor_monthly(
    inferences_per_day: float,
    prices: Prices | None = None,
    jobs_per_hour: int = 2,
    billed_minutes_per_job: float = 10.0,
    label: str | None = None,
) -> CostBreakdown:
    """SageMaker Model Monitor on an hourly schedule, one ml.m5.xlarge per job (data quality + model quality).

    The billed minutes per job (instance start, container start, analysis) is an assumption; it does not grow with
    traffic here, which understates SageMaker at high volume. Capture storage is the same for both and left out.
    """
    p = prices or Prices()
    hours = HOURS_PER_MONTH * jobs_per_hour * billed_minutes_per_job / 60
    items = (
        LineItem(
            "SageMaker",
            f"Model Monitor jobs ({jobs_per_hour}/hour x {billed_minutes_per_job:g} min, ml.m5.xlarge)",
            hours,
            "instance-hours",
            hours * p.sagemaker_ml_m5_xlarge_hour,
        ),
    )
    return CostBreakdown(label or f"SageMaker Model Monitor {inferences_per_day:,.0f}/day", inferences_per_day, items)


def success_path_transitions(asl: Mapping[str, Any]) -> list[str]:
    """The states entered on a state machine's success path (first Choice branch taken), in order."""
    states = asl["States"]
    path: list[str] = []
    name: str | None = asl["StartAt"]
    while name is not None:
        if name in path:
            raise ValueError(f"state machine loops at {name}")
        path.append(name)
        state = states[name]
        kind = state.get("Type")
        if kind == "Choice":
            choices = state.get("Choices") or []
            name = choices[0]["Next"] if choices else state.get("Default")
        elif kind in ("Succeed", "Fail") or state.get("End"):
            name = None
        else:
            name = state.get("Next")
    return path


def linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y = a + b x, neither negative; with one point, the line through the
    origin."""
    if not points:
        raise ValueError("no points to fit")
    if len(points) == 1:
        x, y = points[0]
        return 0.0, (y / x if x else 0.0)
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return mean_y, 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    if slope < 0:  # noise between close sizes: time does not fall with rows, so no per-row term at all
        return mean_y, 0.0
    intercept = mean_y - slope * mean_x
    return max(0.0, intercept), slope


def models_makespan(per_model_seconds: float, models: int, concurrency: int, overhead_seconds: float = 0.0) -> float:
    """Wall time of a Distributed Map over `models` children at `concurrency`: waves of equal children."""
    if models <= 0:
        return 0.0
    waves = math.ceil(models / max(1, concurrency))
    return overhead_seconds + waves * per_model_seconds


def cost_table(breakdowns: Iterable[CostBreakdown]) -> str:
    """Markdown: one column per breakdown, one row per line item, the total and the dominant item."""
    columns = list(breakdowns)
    keys: list[tuple[str, str]] = []
    for b in columns:
        for item in b.items:
            if (item.service, item.item) not in keys:
                keys.append((item.service, item.item))
    header = "| service | item | " + " | ".join(b.label for b in columns) + " |"
    lines = [header, "|---|---|" + "---:|" * len(columns)]
    for service, name in keys:
        cells = []
        for b in columns:
            found = [i for i in b.items if (i.service, i.item) == (service, name)]
            cells.append(f"${found[0].monthly_usd:,.2f}" if found else "")
        lines.append(f"| {service} | {name} | " + " | ".join(cells) + " |")
    lines.append("| **total** | | " + " | ".join(f"**${b.total:,.2f}**" for b in columns) + " |")
    lines.append(
        "| dominant item | | " + " | ".join(f"{b.dominant().service}: {b.dominant().item}" for b in columns) + " |"
    )
    return "\n".join(lines)


def with_metrics(deployment: Deployment, metrics_per_model: int) -> Deployment:
    return replace(deployment, metrics_per_model=metrics_per_model)


TIERS: tuple[float, ...] = (10_000, 1_000_000, 100_000_000)
LAMBDA_TIMEOUT_SECONDS = 900.0
LAMBDA_MAX_MEMORY_MB = 10_240


def measured_from_results(scaling: Mapping[str, Any], decode: Mapping[str, Any] | None = None) -> Measured:
    """Measured seconds from the scaling benchmark's JSON: ingest s/MB and lake bytes/row at the largest file,
    and the cached run's fixed and per-row seconds fitted over the estimation sizes."""
    ingest = max(scaling["ingest"], key=lambda i: i["rows"])
    distinct = [i for i in scaling["ingest"] if not i.get("repeated_lines")] or [ingest]
    lake = max(distinct, key=lambda i: i["rows"])
    points = [(float(e["rows"]), float(e["modelwatch_cached_run_seconds"])) for e in scaling["estimation"]]
    fixed, per_row = linear_fit(points)
    memory_points = [
        (float(e["rows"]), float(e["modelwatch_cached_run_peak_rss_mb"]))
        for e in scaling["estimation"]
        if e.get("modelwatch_cached_run_peak_rss_mb") is not None
    ]
    memory = linear_fit(memory_points) if len(memory_points) >= 2 else (None, None)
    sources = {
        "ingest_seconds_per_mb": (
            f"scaling ingest, {ingest['rows']:,} rows ({ingest['file_mb']} MB), decode + lake write"
        ),
        "estimate": "least-squares fit of cached runs (one day, 24 hourly chunks) over "
        + ", ".join(f"{int(x):,}" for x, _ in points)
        + " rows",
        "lake_bytes_per_row": (
            f"Parquet (zstd) written by the ingest of {lake['rows']:,} distinct rows (30 float features)"
        ),
    }
    if decode is not None:
        sources["decode"] = "decode benchmark: " + ", ".join(f"{f['size_mb']} MB" for f in decode.get("files", []))
    return Measured(
        ingest_seconds_per_mb=float(ingest["seconds_per_mb"]),
        estimate_seconds_fixed=fixed,
        estimate_seconds_per_row=per_row,
        lake_bytes_per_row=float(lake["lake_bytes_per_row"]),
        estimate_memory_fixed_mb=memory[0],
        estimate_memory_mb_per_row=memory[1],
        sources=sources,
    )


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def cost_report(
    measured: Measured,
    deployment: Deployment,
    prices: Prices | None = None,
    tiers: Sequence[float] = TIERS,
    workload: Workload | None = None,
    sagemaker_minutes: float = 10.0,
    metric_counts: Sequence[int] = (3, 8, 22, 48),
) -> dict[str, Any]:
    """Everything the report shows about cost, JSON-able: per tier modelwatch and SageMaker, dominant items,
    the run length against Lambda's limit, the cost if every run re-estimated its whole lookback, and the metric
    count's effect."""
    p = prices or Prices()
    base = workload or Workload(1)
    full_window = replace(deployment, incremental=False)
    tiers_out = []
    for n in tiers:
        w = replace(base, inferences_per_day=n)
        ours = modelwatch_monthly(w, measured, deployment, p, label=f"modelwatch {_short(n)}/day")
        sagemaker = sagemaker_monitor_monthly(n, p, 2, sagemaker_minutes, label=f"SageMaker MM {_short(n)}/day")
        run_seconds = estimate_seconds_per_run(w, measured, deployment)
        run_memory = estimate_peak_memory_mb(w, measured, deployment)
        tiers_out.append(
            {
                "inferences_per_day": n,
                "rows_per_run": rows_per_run(w, deployment),
                "estimate_seconds_per_run": round(run_seconds, 2),
                "fits_lambda_timeout": run_seconds <= LAMBDA_TIMEOUT_SECONDS,
                "estimate_peak_memory_mb": round(run_memory) if run_memory is not None else None,
                "fits_estimate_memory": run_memory <= deployment.estimate_memory_mb if run_memory is not None else None,
                "fits_lambda_max_memory": run_memory <= LAMBDA_MAX_MEMORY_MB if run_memory is not None else None,
                "modelwatch": _breakdown_dict(ours),
                "modelwatch_full_window_runs_total_usd": round(
                    modelwatch_monthly(w, measured, full_window, p).total, 2
                ),
                "full_window_estimate_seconds_per_run": round(estimate_seconds_per_run(w, measured, full_window), 2),
                "full_window_estimate_peak_memory_mb": _rounded(estimate_peak_memory_mb(w, measured, full_window)),
                "sagemaker": _breakdown_dict(sagemaker),
                "ratio_sagemaker_over_modelwatch": round(sagemaker.total / ours.total, 2) if ours.total else None,
            }
        )
    middle = replace(base, inferences_per_day=tiers[len(tiers) // 2])
    sensitivity = []
    for count in metric_counts:
        cost = modelwatch_monthly(middle, measured, with_metrics(deployment, count), p)
        sensitivity.append(
            {
                "metrics_per_model": count,
                "custom_metrics_usd": round(count * p.cloudwatch_metric_month, 2),
                "total_usd": round(cost.total, 2),
                "share_of_total": round(count * p.cloudwatch_metric_month / cost.total, 3) if cost.total else None,
            }
        )
    return {
        "prices_as_of": PRICES_AS_OF,
        "prices": p.describe(),
        "deployment": dict(deployment.__dict__),
        "workload": dict(base.__dict__),
        "sagemaker_billed_minutes_per_job": sagemaker_minutes,
        "sagemaker_by_billed_minutes": {
            str(minutes): round(sagemaker_monitor_monthly(1, p, 2, minutes).total, 2) for minutes in (5, 10, 20, 60)
        },
        "measured": {k: v for k, v in measured.__dict__.items() if k != "sources"},
        "measured_sources": dict(measured.sources),
        "tiers": tiers_out,
        "metric_count_sensitivity": {"inferences_per_day": middle.inferences_per_day, "rows": sensitivity},
    }


def _short(n: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:g}{suffix}"
    return f"{n:g}"


def _breakdown_dict(breakdown: CostBreakdown) -> dict[str, Any]:
    dominant = breakdown.dominant()
    return {
        "label": breakdown.label,
        "total_usd": round(breakdown.total, 2),
        "dominant": f"{dominant.service}: {dominant.item}",
        "dominant_share": round(dominant.monthly_usd / breakdown.total, 3) if breakdown.total else None,
        "items": [
            {
                "service": i.service,
                "item": i.item,
                "quantity": round(i.quantity, 3),
                "unit": i.unit,
                "monthly_usd": round(i.monthly_usd, 4),
            }
            for i in breakdown.items
        ],
    }


# Issue 15's goals for the default (lean) metrics profile, every monitor on.
GOAL_MODEL_USD = 2.0  # one model at 1M inferences/day, a month
GOAL_FLEET_USD = 200.0  # a fleet of 100 such models, a month
GOAL_INFERENCES_PER_DAY = 1_000_000
GOAL_FLEET_MODELS = 100


def profile_report(
    measured: Measured,
    deployment: Deployment,
    series: Mapping[str, Mapping[str, int]],
    operational: int,
    workload: Workload | None = None,
    prices: Prices | None = None,
    inferences_per_day: float = GOAL_INFERENCES_PER_DAY,
    models: int = GOAL_FLEET_MODELS,
    segments: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One model's and a fleet's month per metrics profile (`series`: profile -> monitor -> series, counted from the
    monitors' code; `operational`: the per-model series every profile sends). A run's new datapoints per chunk
    follow the profile (the ledger reads them back); in the fleet, the per-stack idle queue polls are shared.
    `segments` ({top, values, profiles: profile -> monitor -> series}, counted the same way) prices one segment
    column on top of each profile's model."""
    p = prices or Prices()
    w = replace(workload or Workload(1), inferences_per_day=inferences_per_day)
    rows = []
    for profile, by_monitor in series.items():
        monitor_series = sum(by_monitor.values())
        per_model = monitor_series + operational
        d = replace(deployment, metrics_per_model=per_model, datapoints_per_chunk=monitor_series + 1)
        one = modelwatch_monthly(w, measured, d, p)
        shared = replace(d, metrics_per_model=0, sqs_idle_receives_per_day=d.sqs_idle_receives_per_day / models)
        fleet = models * modelwatch_monthly(w, measured, shared, p).total + cloudwatch_metrics_monthly(
            per_model * models
        )
        metrics_usd = per_model * p.cloudwatch_metric_month
        rows.append(
            {
                "profile": profile,
                "series_by_monitor": dict(by_monitor),
                "monitor_series": monitor_series,
                "operational_series": operational,
                "series_per_model": per_model,
                "model_usd": round(one.total, 2),
                "model_custom_metrics_usd": round(metrics_usd, 2),
                "model_without_custom_metrics_usd": round(one.total - metrics_usd, 2),
                "model_goal_met": one.total <= GOAL_MODEL_USD,
                "fleet_usd": round(fleet, 2),
                "fleet_goal_met": fleet <= GOAL_FLEET_USD,
            }
        )
        if segments is not None:
            rows[-1].update(_segment_costs(segments, profile, per_model, models, one.total, fleet, p))
    report: dict[str, Any] = {
        "inferences_per_day": inferences_per_day,
        "models": models,
        "goal_model_usd": GOAL_MODEL_USD,
        "goal_fleet_usd": GOAL_FLEET_USD,
        "profiles": rows,
    }
    if segments is not None:
        report["segments"] = {"top": segments["top"], "values": segments["values"]}
    return report


def _segment_costs(
    segments: Mapping[str, Any],
    profile: str,
    per_model: int,
    models: int,
    model_usd: float,
    fleet_usd: float,
    p: Prices,
) -> dict[str, Any]:
    """One segment column's series and what they add to a model's and the fleet's month (the fleet's at CloudWatch's
    tiered prices, on top of its other series)."""
    by_monitor = dict(segments["profiles"][profile])
    added = sum(by_monitor.values())
    fleet_added = cloudwatch_metrics_monthly((per_model + added) * models) - cloudwatch_metrics_monthly(
        per_model * models
    )
    return {
        "segment_series_by_monitor": by_monitor,
        "segment_series": added,
        "segment_series_per_value": round(added / segments["values"], 2),  # whole: every segment sends the same
        "segment_custom_metrics_usd": round(added * p.cloudwatch_metric_month, 2),
        "model_with_segments_usd": round(model_usd + added * p.cloudwatch_metric_month, 2),
        "fleet_with_segments_usd": round(fleet_usd + fleet_added, 2),
    }
