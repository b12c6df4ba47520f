"""`modelwatch run`: the embedded pipeline on a user's capture and ground-truth trees, input treated as complete."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import IO, Any

from modelwatch.capture.batch import transform_output_lines
from modelwatch.capture.envelope import TimeBounds, parse_inference_time
from modelwatch.capture.records import open_payload
from modelwatch.clock import SimulatedClock, to_utc
from modelwatch.config.model import (
    MetricsConfig,
    MetricsProfile,
    ModelConfig,
    load_model_config,
)
from modelwatch.constants import (
    DIM_ENDPOINT,
    DIM_KIND,
    DIM_METRIC,
    DIM_MONITORING_SCHEDULE,
    DIM_SEGMENT,
    DIM_VERSION,
    KIND_ESTIMATED,
    KIND_REALIZED,
    LAKE_CAPTURES,
    LAKE_MODEL_QUALITY_VIOLATIONS,
    LAKE_REPORTS,
    LAKE_RESULTS,
    METRIC_PERFORMANCE,
    METRIC_RECORDS_DECODED,
    METRIC_RECORDS_QUARANTINED,
    METRIC_UNMATCHED_LABELS,
)
from modelwatch.errors import ConfigError, LocalStackError, OutputInUseError
from modelwatch.lake.layout import model_prefix
from modelwatch.lake.store import S3Store
from modelwatch.monitors import configured
from modelwatch.monitors.data_quality import KIND_CONSTRAINT, KIND_NANNYML
from modelwatch.monitors.data_quality import MONITOR as DATA_QUALITY
from modelwatch.monitors.drift import KIND_MULTIVARIATE, KIND_PREDICTION, KIND_UNIVARIATE
from modelwatch.monitors.drift import MONITOR as DRIFT
from modelwatch.monitors.segments import segment_label
from modelwatch.registry.store import Registry
from modelwatch.units import model_dimensions, split_unit
from modelwatch.workflow.lifecycle import ReferenceData, register_model
from modelwatch_cli.inputs import (
    BATCH_LAYOUT,
    LAYOUT,
    BatchManifest,
    Found,
    Skipped,
    find_batch_inputs,
    find_inputs,
    hour_folders,
)
from modelwatch_cli.local import adapter
from modelwatch_cli.local.functions import Invocation
from modelwatch_cli.local.snapshot import export_snapshot
from modelwatch_cli.local.stack import DEFAULT_TEMPLATE, LocalStack
from modelwatch_cli.local.story import export_report_folder

_HOUR_FOLDERS = re.compile(r"^\d{4}$")
OUTPUT_LOCK = ".modelwatch-run.lock"  # in the output folder, locked (flock) while a run writes there
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class RunSummary:
    """What `modelwatch run` did (written to summary.json and printed)."""

    model: str
    capture_files: int = 0
    ground_truth_files: int = 0
    rows_decoded: int = 0
    records_decoded: int = 0
    records_quarantined: int = 0
    rows_superseded: int = 0  # rows of an overwritten capture object's older version, left out
    rows_duplicate: int = 0  # rows repeating a record already counted (a copied file, a record in two files)
    labels_unmatched: int = 0  # labels that matched no captured request
    chunks_analysed: int = 0
    chunks_skipped: list[dict[str, Any]] = field(default_factory=list)
    realized_skipped: list[dict[str, Any]] = field(default_factory=list)  # chunks estimated without their labels
    failed_monitors: list[dict[str, Any]] = field(default_factory=list)
    datapoints: int = 0
    monitor_datapoints: int = 0  # drift and data-quality lines of metrics.jsonl
    violations: int = 0  # lines of constraint_violations.jsonl
    model_monitor_datapoints: int = 0  # Model Monitor's bare-name metrics (estimation.model_monitor.metrics)
    model_quality_violations: int = 0  # lines of model_quality_violations.jsonl
    notifications: int = 0
    files_skipped: list[dict[str, str]] = field(default_factory=list)  # input files not read, each with why
    execution_status: str = ""
    error: str = ""
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def claim_output(output: Path) -> Iterator[None]:
    """Hold the output folder for one run: OutputInUseError when another run holds it. An OS lock on a file in the
    folder (released when the holder ends, however it ends), so a crashed run never leaves the folder refused."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / OUTPUT_LOCK
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise OutputInUseError(
                f"{output}: in use by another modelwatch run (process {holder}); wait for it or choose another --output"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def filed_key(config: ModelConfig, root: Path, found: Found, prefix: str, variant: str | None = None) -> str:
    """The S3 key of a capture file to read: in its hour folder (its own, or with --flat its first record's), named
    by its path under root (a flat folder's subfolders may repeat a file name); under `variant` (default the
    config's)."""
    if found.hour is None or hour_folders(found.path.relative_to(root)) is not None:
        return capture_key(config, root, found.path, prefix, variant)
    name = found.path.relative_to(root).as_posix().replace("/", "_")
    return f"{prefix}{config.endpoint}/{variant or config.variant}/{found.hour:%Y/%m/%d/%H}/{name}"


def capture_key(config: ModelConfig, root: Path, path: Path, prefix: str, variant: str | None = None) -> str:
    """The S3 key of a capture file: its SageMaker layout `<endpoint>/<variant>/yyyy/mm/dd/hh/<file>` under prefix."""
    parts = path.relative_to(root).parts
    dated = len(parts) >= 5 and _HOUR_FOLDERS.match(parts[-5]) is not None
    hours = "/".join(parts[-5:-1]) if dated else ""
    tail = f"{hours}/{parts[-1]}" if hours else "/".join(parts)
    return f"{prefix}{config.endpoint}/{variant or config.variant}/{tail}"


def variant_folder(root: Path, path: Path) -> str | None:
    """The variant a capture file is filed under: the folder above its `yyyy/mm/dd/hh` folders (SageMaker's
    `<endpoint>/<variant>/yyyy/...`), None when there is none."""
    parts = path.relative_to(root).parts
    if len(parts) < 6 or hour_folders(Path(*parts[-5:])) is None:
        return None
    return parts[-6]


def _split_by_variant(config: ModelConfig, root: Path, found: list[Found]) -> tuple[dict[Path, str], list[Skipped]]:
    """For a model watching several variants: each capture file's variant (its folder), and the files that are in
    no variant's folder or in one the model does not watch, with why."""
    variants: dict[Path, str] = {}
    skipped: list[Skipped] = []
    for item in found:
        variant = variant_folder(root, item.path)
        if variant is None:
            skipped.append(Skipped(item.path, f"model {config.name} watches variants: captures go in {LAYOUT}"))
        elif not config.reads_variant(variant):
            skipped.append(Skipped(item.path, f"variant {variant} is not one model {config.name} watches"))
        else:
            variants[item.path] = variant
    return variants, skipped


def folder_time(key: str) -> datetime | None:
    """The hour a SageMaker-layout key is filed under (`.../yyyy/mm/dd/hh/file`)."""
    parts = PurePosixPath(key).parts
    if len(parts) < 5:
        return None
    try:
        y, m, d, h = (int(x) for x in parts[-5:-1])
        return datetime(y, m, d, h, tzinfo=UTC)
    except ValueError:
        return None


def _input_times(config: ModelConfig, files: list[Path], arrived: datetime) -> list[datetime]:
    """Inference/collection times named in the files (first and last record), for the end-of-input clock; only times
    the decoder accepts (what the lake holds, at most the config's skew after `arrived`, when the files are put): a
    record timed in the year 9999 is quarantined, and must not move the clock either."""
    bounds = TimeBounds(arrived, config.validation.max_time_skew_delta, config.validation.max_time_skew)
    times: list[datetime] = []
    for path in files:
        with path.open("rb") as handle:
            lines = [line for line in open_payload(handle, str(path)).read().splitlines() if line.strip()]
        for line in lines[:1] + lines[-1:]:
            try:
                stamp = json.loads(line).get("eventMetadata", {}).get("inferenceTime")
                if stamp:
                    times.append(parse_inference_time(stamp, bounds))
            except (ValueError, AttributeError):  # RecordError is a ValueError
                continue
    return times


def _batch_times(config: ModelConfig, manifests: list[BatchManifest], arrived: datetime) -> list[datetime]:
    """The first and last inference times of each `.out` file the manifests name, as ingestion will time its records
    (generated inference times, else the manifest's hour)."""
    bounds = TimeBounds(arrived, config.validation.max_time_skew_delta, config.validation.max_time_skew)
    times: list[datetime] = []
    for manifest in manifests:
        for path in manifest.outputs:
            with path.open("rb") as handle:
                text = open_payload(handle, str(path)).read().decode("utf-8", errors="replace")
            lines = list(transform_output_lines(text, config, str(path), manifest.hour))
            for line in lines[:1] + lines[-1:]:
                stamp = json.loads(line).get("eventMetadata", {}).get("inferenceTime")
                with contextlib.suppress(ValueError):  # RecordError: quarantined by the ingest, as on AWS
                    times.append(parse_inference_time(stamp, bounds))
    return times


def _put_batch_manifest(stack: LocalStack, config: ModelConfig, manifest: BatchManifest) -> None:
    """A job's manifest as the job writes it (into the capture, under output/yyyy/mm/dd/hh/), naming its `.out`
    files put beside the capture prefix (no capture event for them, as for a transform job's output path)."""
    assert config.batch_transform is not None and config.batch_transform.capture_key_prefix is not None
    outputs = f"transform-output/{config.name}/{manifest.hour:%Y%m%dT%H}/"
    for path in manifest.outputs:
        stack.put_capture(outputs + path.name, path.read_bytes())
    body = json.dumps([{"prefix": f"s3://{stack.capture_bucket}/{outputs}"}, *(p.name for p in manifest.outputs)])
    key = f"{config.batch_transform.capture_key_prefix}output/{manifest.hour:%Y/%m/%d/%H}/{manifest.path.name}"
    stack.put_capture(key, body.encode())


def run_pipeline(
    config_path: Path,
    captures: Path,
    ground_truth: Path | None,
    output: Path,
    template_path: Path = DEFAULT_TEMPLATE,
    progress: Progress | None = None,
    log_stream: IO[str] | None = None,
    *,
    flat: bool = False,
    on_skipped: Callable[[list[Skipped]], None] | None = None,
) -> RunSummary:
    """Register the model, ingest every file through the stack, run the monitor with input_complete, export. Files
    that cannot be read (outside the SageMaker layout without `flat`, empty, of the other kind) are passed to
    `on_skipped` with why, before anything runs, and listed in the summary."""
    config = load_model_config(config_path)
    reference_path = _reference_path(config, config_path)
    if not captures.is_dir():
        raise ConfigError(f"{captures}: not a folder")
    batch = config.batch_transform is not None
    if batch and flat:
        raise ConfigError(f"--flat: a batch transform job's capture is read in its own layout, {BATCH_LAYOUT}")
    found, skipped = ([], []) if batch else find_inputs(captures, flat=flat)
    variant_of: dict[Path, str] = {}
    if config.watches_variants:
        if batch or flat:
            raise ConfigError(f"{config_path}: a model watching several variants reads captures in {LAYOUT} folders")
        variant_of, not_watched = _split_by_variant(config, captures, found)
        found = [item for item in found if item.path in variant_of]
        skipped = [*skipped, *not_watched]
    manifests, batch_skipped = find_batch_inputs(captures) if batch else ([], [])
    labels, labels_skipped = find_inputs(ground_truth, ground_truth=True) if ground_truth else ([], [])
    skipped = [*skipped, *batch_skipped, *labels_skipped]
    if on_skipped is not None and skipped:
        on_skipped(skipped)
    if not found and not manifests:
        layout = (
            f"a batch transform job's capture goes in {BATCH_LAYOUT}"
            if batch
            else (f"captures go in {LAYOUT} folders under it, or pass --flat for a flat folder")
        )
        raise ConfigError(f"{captures}: no capture file to read ({len(skipped)} not read); {layout}")
    capture_files = [m.path for m in manifests] if batch else [f.path for f in found]
    label_files = [f.path for f in labels]
    arrived = datetime.now(UTC)  # put into the stack's bucket now
    times = _batch_times(config, manifests, arrived) if batch else _input_times(config, capture_files, arrived)
    if not times:
        raise ConfigError(f"{captures}: no record with an eventMetadata.inferenceTime")
    # End of input: the clock sits just after the last inference (chunk completeness, CloudWatch's 2-week limit).
    end = max(times).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    summary = RunSummary(model=config.name, capture_files=len(capture_files), ground_truth_files=len(label_files))
    summary.files_skipped = [item.to_dict() for item in skipped]
    output.mkdir(parents=True, exist_ok=True)
    logs = log_stream or (output / "functions.log").open("w", encoding="utf-8")
    # Ingest on a clock at the start of the input (no chunk is complete yet, so no partial run races the
    # ingestion), then move it to the end of the input and run once with input_complete.
    begin = min(times).replace(minute=0, second=0, microsecond=0)
    stack = LocalStack(template_path, clock=SimulatedClock(begin), log_stream=logs)
    with stack:
        params = stack.template.parameters
        label_prefix = f"{params.get('GroundTruthPrefix', 'ground-truth/')}{config.name}/"
        # metrics.jsonl is every monitor's datapoints whatever the model's metrics profile (which decides what goes
        # to CloudWatch on AWS): the local stack's CloudWatch gets the full set it is exported from.
        capture_prefix = params.get("CapturePrefix", "datacapture/")
        local_config = config.model_copy(
            update={
                "ground_truth": config.ground_truth.model_copy(update={"prefix": label_prefix}),
                "cloudwatch": MetricsConfig(profile=MetricsProfile.FULL),
            }
        )
        if config.batch_transform is not None:  # the job's capture, under the local stack's capture prefix
            job = f"s3://{stack.capture_bucket}/{capture_prefix}{config.name}/batch-capture"
            local_config = local_config.model_copy(
                update={"batch_transform": config.batch_transform.model_copy(update={"capture": job})}
            )
        registry = Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0)
        with stack.quiet():
            register_model(
                registry,
                local_config,
                ReferenceData(reference_path.read_bytes(), reference_path.suffix.lower(), str(reference_path)),
                cloudwatch=stack.clients["cloudwatch"],
                alarms=stack.alarm_settings(),
                clock=stack.clock,
            )
        for done, item in enumerate(found, 1):
            key = filed_key(config, captures, item, capture_prefix, variant_of.get(item.path))
            stack.put_capture(key, item.path.read_bytes())
            if progress:
                progress("captures", done, len(capture_files))
        for done, manifest in enumerate(manifests, 1):
            _put_batch_manifest(stack, local_config, manifest)
            if progress:
                progress("batch transform manifests", done, len(capture_files))
        stack.run_until_idle()
        for done, path in enumerate(label_files, 1):
            assert ground_truth is not None
            stack.put_capture(label_prefix + path.relative_to(ground_truth).as_posix(), path.read_bytes())
            if progress:
                progress("ground truth", done, len(label_files))
        stack.run_until_idle()
        stack.clock.set(end)
        outcomes: dict[str, dict[str, Any]] = {}

        def remember_outcome(invocation: Invocation) -> None:
            payload = invocation.result.payload
            # The assembled run's outcome (the analysis function's other step returns one monitor's outcome).
            if (
                invocation.function.logical_id == "AnalyseFunction"
                and isinstance(payload, dict)
                and "run_id" in payload
            ):
                outcomes[str(payload["run_id"])] = payload

        assert stack.functions is not None
        stack.functions.listeners.append(remember_outcome)
        # Progress through the run's steps (#20): prepare, each monitor's analysis, assemble, publish.
        steps = (len(configured(local_config)) + 3) * len(local_config.units(sorted(set(variant_of.values()))))
        done_steps: list[str] = []

        def step_done(invocation: Invocation) -> None:
            done_steps.append(invocation.function.logical_id)
            if progress:
                progress("monitor run steps", min(len(done_steps), steps), steps)

        if progress:
            progress("monitor run steps", 0, steps)
            stack.functions.listeners.append(step_done)
        digest = hashlib.sha256("\n".join(p.as_posix() for p in capture_files + label_files).encode()).hexdigest()
        units = local_config.units(sorted(set(variant_of.values())))
        for written in _OUTPUT_FILES:  # appended unit by unit below
            (output / written).write_text("", encoding="utf-8")
        namespaces = {
            n for n in (config.bias and config.bias.namespace, config.attribution and config.attribution.namespace) if n
        }
        for unit in units:
            name = f"run-{unit.name}"[:60] + f"-{digest[:12]}"
            arn = stack.start_execution(
                "MonitorStateMachine", name, {"model": unit.name, "input_complete": True, "trigger": "manual"}
            )
            stack.run_until_idle()
            described = stack.clients["stepfunctions"].describe_execution(executionArn=arn)
            _summarise_unit(summary, unit, described, outcomes.get(name, {}))
            _export(stack, unit.name, output, summary, namespaces)
            _export_model_monitor(stack, unit, output, summary)
        if progress:
            progress("monitor run steps", steps, steps)
        summary.output = str(output)
        _export_notifications(stack, output, summary)
        export_report_folder(stack.clients["s3"], stack.lake_bucket, output)  # shared plotly.js, fleet index (#20)
        export_snapshot(stack, output)  # for `modelwatch status/models/report --local OUTPUT`
    if log_stream is None:
        logs.close()
    (output / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2, default=str) + "\n")
    return summary


_OUTPUT_FILES = ("metrics.jsonl", "constraint_violations.jsonl", "model_quality_violations.jsonl")


def _summarise_unit(summary: RunSummary, unit: ModelConfig, described: dict[str, Any], outcome: dict[str, Any]) -> None:
    """Add one unit's run to the summary (a model watching several variants runs each; its entries name the
    variant). The execution status is the worst of the units'."""
    variant = {"variant": unit.variant} if unit.unit_of else {}
    status = str(described["status"])
    if summary.execution_status in ("", "SUCCEEDED"):
        summary.execution_status = status
    error = _execution_error(json.loads(described.get("output") or "{}"), described)
    if error and not summary.error:
        summary.error = f"{unit.variant}: {error}" if variant else error
    summary.chunks_analysed += int(outcome.get("chunks_analysed", 0))
    summary.chunks_skipped += [{**variant, **e} for e in outcome.get("chunks_skipped", [])]
    summary.realized_skipped += [{**variant, **e} for e in outcome.get("realized_skipped", [])]
    summary.failed_monitors += [{**variant, **e} for e in outcome.get("failed_monitors", [])]
    summary.rows_superseded += int(outcome.get("rows_superseded", 0))
    summary.rows_duplicate += int(outcome.get("rows_duplicate", 0))


def _reference_path(config: ModelConfig, config_path: Path) -> Path:
    if not config.reference:
        raise ConfigError(f"{config_path}: `reference` is required (path to the reference data, relative to the file)")
    if config.reference.startswith("s3://"):
        raise ConfigError(f"{config_path}: `reference` must be a local file for `modelwatch run`")
    path = Path(config.reference)
    path = path if path.is_absolute() else (config_path.parent / path)
    if not path.is_file():
        raise ConfigError(f"{config_path}: reference data {path} does not exist")
    return path


def _execution_error(execution_output: dict[str, Any], described: dict[str, Any]) -> str:
    """The execution's error as one line: the error name and the function's message (never the raw JSON cause)."""
    if described["status"] != "SUCCEEDED":
        return f"{described.get('error', described['status'])}: {_cause_message(described.get('cause', ''))}".strip()
    error = execution_output.get("error")
    if isinstance(error, dict):
        return f"{error.get('Error', 'error')}: {_cause_message(error.get('Cause', ''))}"
    return ""


def _cause_message(cause: Any) -> str:
    """A Lambda error's `errorMessage` out of a Step Functions cause (JSON), else the cause's first line."""
    text = str(cause or "")
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("errorMessage", text))
    return text.strip().splitlines()[0] if text.strip() else ""


def _export(
    stack: LocalStack, unit: str, output: Path, summary: RunSummary, namespaces: set[str] | None = None
) -> None:
    """A unit's lines of metrics.jsonl and constraint_violations.jsonl (appended), its results Parquet and HTML
    reports out of the local stack (`namespaces`: the Clarify-compatible ones of the model's bias and attribution
    metrics). Lines name the model, and the variant for a model watching several."""
    model = unit
    s3 = stack.clients["s3"]
    results: dict[tuple[str, str, datetime, str | None], dict[str, Any]] = {}
    monitor_rows: dict[tuple[Any, ...], dict[str, Any]] = {}  # bias and attribution rows
    quality_rows: dict[tuple[Any, ...], dict[str, Any]] = {}  # drift and data-quality rows
    for area in (LAKE_RESULTS, LAKE_REPORTS):
        prefix = model_prefix(area, model)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.lake_bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=stack.lake_bucket, Key=item["Key"])["Body"].read()
                target = output / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(body)
                if area == LAKE_RESULTS and item["Key"].endswith(".parquet"):
                    _index_results(body, results, monitor_rows)
                if area == LAKE_RESULTS and item["Key"].endswith("/results.parquet"):
                    _index_monitor_rows(body, quality_rows)
    summary.rows_decoded += _lake_rows(stack, model_prefix(LAKE_CAPTURES, model))
    config = Registry(S3Store(s3, stack.lake_bucket), cache_seconds=0).get(unit)
    named = dict(model_dimensions(unit))
    quality_namespace = config.data_quality.namespace
    points = [
        p
        for p in adapter.cloudwatch_datapoints(stack.template.account_id, stack.template.region)
        if p.namespace in (stack.template.parameters.get("MetricNamespace", "ModelWatch"), quality_namespace)
    ]
    lines: list[dict[str, Any]] = []
    clarify_points = [
        p
        for p in adapter.cloudwatch_datapoints(stack.template.account_id, stack.template.region)
        if p.namespace in (namespaces or set()) and dict(p.dimensions).get("MonitoringSchedule") == model
    ]
    for point in sorted(clarify_points, key=lambda p: (p.metric_name, p.dimensions, p.timestamp)):
        clarify_line = _clarify_line(model, point, monitor_rows)
        if clarify_line is not None:
            lines.append(clarify_line)
    for point in sorted(points, key=lambda p: (p.metric_name, p.dimensions, p.timestamp)):
        dims = dict(point.dimensions)
        if point.metric_name == METRIC_RECORDS_DECODED:
            summary.records_decoded += int(point.stat_sum)
        if point.metric_name == METRIC_RECORDS_QUARANTINED:
            summary.records_quarantined += int(point.stat_sum)
        if (
            point.namespace == quality_namespace
            and dims.get(DIM_ENDPOINT) == config.endpoint
            and dims.get(DIM_MONITORING_SCHEDULE) == config.data_quality_schedule
        ):
            dims = {**named, **dims}  # Model Monitor's metrics name the endpoint and schedule, not the model
        ours = all(dims.get(k) == v for k, v in named.items())
        if point.metric_name == METRIC_UNMATCHED_LABELS and ours:
            summary.labels_unmatched += int(point.stat_sum)
        if not ours:
            continue
        segment = _segment(dims.get(DIM_SEGMENT))
        if point.metric_name == METRIC_PERFORMANCE:
            kind = dims.get(DIM_KIND, "")
            line: dict[str, Any] = {
                "model": model,
                "metric": dims.get(DIM_METRIC, ""),
                "kind": kind,
                "chunk_start": _iso(point.timestamp),
                "value": point.stat_sum / point.stat_count if point.stat_count else point.stat_sum,
            }
            if segment:
                line["segment"] = segment
            if dims.get(DIM_VERSION):  # while more than one model version is live
                line["version"] = dims[DIM_VERSION]
            row = results.get((line["metric"], kind, point.timestamp, _label(segment)))
            if kind in (KIND_ESTIMATED, KIND_REALIZED):
                line.update(
                    chunk_end=_iso(row["chunk_end"]) if row and row.get("chunk_end") is not None else None,
                    alert=bool(row["alert"]) if row else None,
                    lower_threshold=_float(row.get("lower_threshold")) if row else None,
                    upper_threshold=_float(row.get("upper_threshold")) if row else None,
                )
        else:
            line = {
                "model": model,
                "metric": dims.get(DIM_METRIC, point.metric_name),
                "kind": _snake(point.metric_name),
                "timestamp": _iso(point.timestamp),
                "value": point.stat_sum / point.stat_count if point.stat_count else point.stat_sum,
                "dimensions": dims,
            }
        lines.append(line)
    summary.datapoints += sum(1 for line in lines if line["kind"] in (KIND_ESTIMATED, KIND_REALIZED))
    monitor_lines, violations = _monitor_lines(model, quality_rows)
    summary.monitor_datapoints += len(monitor_lines)
    summary.violations += len(violations)
    _append_lines(output / "metrics.jsonl", unit, [*lines, *monitor_lines])
    _append_lines(output / "constraint_violations.jsonl", unit, violations)


def _append_lines(path: Path, unit: str, lines: list[dict[str, Any]]) -> None:
    """JSON lines appended to `path`, each naming the unit's model (and its variant, after the model)."""
    model, variant = split_unit(unit)
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            named = {"model": model, **({"variant": variant} if variant is not None else {})}
            handle.write(json.dumps({**named, **line, **named}, default=str) + "\n")


def _export_notifications(stack: LocalStack, output: Path, summary: RunSummary) -> None:
    """notifications.jsonl: every message the stack's topics received."""
    summary.notifications = len(stack.notifications)
    with (output / "notifications.jsonl").open("w", encoding="utf-8") as handle:
        for note in stack.notifications:
            handle.write(
                json.dumps(
                    {
                        "topic_arn": note.topic_arn,
                        "subject": note.subject,
                        "received_at": _iso(note.received_at),
                        "message": note.json(),
                    },
                    default=str,
                )
                + "\n"
            )


def _export_model_monitor(stack: LocalStack, config: ModelConfig, output: Path, summary: RunSummary) -> None:
    """Model Monitor compatibility: its bare-name datapoints appended to metrics.jsonl (kind `model_monitor`, with
    the namespace), and model_quality_violations.jsonl, a line per violation of each labelled chunk (from the
    lake's constraint violations, exported under results/ with the statistics.json files)."""
    if not config.estimation.model_monitor.enabled:
        return
    dimensions = set(config.model_quality_dimensions)
    points = [
        p
        for p in adapter.cloudwatch_datapoints(stack.template.account_id, stack.template.region)
        if p.namespace == config.model_quality_namespace and set(p.dimensions) == dimensions
    ]
    lines = [
        {
            "model": config.name,
            "metric": point.metric_name,
            "kind": "model_monitor",
            "chunk_start": _iso(point.timestamp),
            "value": point.stat_sum / point.stat_count if point.stat_count else point.stat_sum,
            "namespace": point.namespace,
            "dimensions": dict(point.dimensions),
        }
        for point in sorted(points, key=lambda p: (p.metric_name, p.timestamp))
    ]
    summary.model_monitor_datapoints += len(lines)
    _append_lines(output / "metrics.jsonl", config.name, lines)
    folder = output / LAKE_RESULTS / f"model={config.name}" / LAKE_MODEL_QUALITY_VIOLATIONS
    violations: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        document = json.loads(path.read_text(encoding="utf-8"))
        window = {k: document.get(k) for k in ("model", "chunk_start", "chunk_end")}
        violations.extend({**window, **entry} for entry in document.get("violations", []))
    summary.model_quality_violations += len(violations)
    _append_lines(output / "model_quality_violations.jsonl", config.name, violations)


def _lake_rows(stack: LocalStack, prefix: str) -> int:
    """Rows of the Parquet files under a lake prefix (from their footers)."""
    import pyarrow.parquet as pq

    s3 = stack.clients["s3"]
    rows = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.lake_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=stack.lake_bucket, Key=item["Key"])["Body"].read()
                rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
    return rows


def _clarify_line(model: str, point: Any, rows: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any] | None:
    """A bias or attribution datapoint as a metrics.jsonl line (None for the attribution's expected value)."""
    dims = dict(point.dimensions)
    value = point.stat_sum / point.stat_count if point.stat_count else point.stat_sum
    line: dict[str, Any] = {"model": model}
    if point.metric_name.startswith("bias_metric_"):
        metric, kind = point.metric_name.removeprefix("bias_metric_"), dims.get(DIM_KIND, KIND_REALIZED)
        key: tuple[Any, ...] = ("bias", metric, kind, dims.get("Facet"), dims.get("FacetValue"), None, point.timestamp)
        line.update(monitor="bias", metric=metric, kind=kind, facet=dims.get("Facet"))
        line.update(facet_value=dims.get("FacetValue"))
    elif point.metric_name.startswith("feature_") or point.metric_name == "ndcg":
        feature = point.metric_name.removeprefix("feature_") if point.metric_name != "ndcg" else None
        metric = "ndcg" if feature is None else "global_shap"
        key = ("attribution", metric, KIND_REALIZED, None, None, feature, point.timestamp)
        line.update(monitor="attribution", metric=metric, kind=KIND_REALIZED, facet=None, facet_value=None)
        line.update(feature=feature)
    else:
        return None
    row = rows.get(key)
    line.update(
        chunk_start=_iso(point.timestamp),
        chunk_end=_iso(row["chunk_end"]) if row and row.get("chunk_end") is not None else None,
        value=value,
        alert=bool(row["alert"]) if row else None,
    )
    return line


def _segment(dimension: str | None) -> dict[str, str] | None:
    """A Segment dimension (`clinic=east`) as metrics.jsonl's `segment` ({"clinic": "east"}); None for none."""
    if not dimension:
        return None
    column, _, value = dimension.partition("=")
    return {column: value}


def _label(segment: dict[str, str] | None) -> str | None:
    """The results' `segment` of a metrics.jsonl `segment`."""
    return segment_label(*next(iter(segment.items()))) if segment else None


def _index_results(
    body: bytes,
    index: dict[tuple[str, str, datetime, str | None], dict[str, Any]],
    monitor_rows: dict[tuple[Any, ...], dict[str, Any]] | None = None,
) -> None:
    import polars as pl

    try:
        table = pl.read_parquet(io.BytesIO(body))
    except Exception as exc:  # polars raises several error types for a corrupt file
        raise LocalStackError(f"results file is not readable Parquet: {exc}") from exc
    for row in table.iter_rows(named=True):
        if row.get("chunk_start") is None:
            continue
        monitor = row.get("monitor") or "performance"
        if monitor in ("bias", "attribution") and monitor_rows is not None:
            subject = (row.get("facet"), row.get("facet_value"), row.get("feature"))
            monitor_rows[(monitor, str(row["metric"]), str(row["kind"]), *subject, to_utc(row["chunk_start"]))] = row
            continue
        index[(str(row["metric"]), str(row["kind"]), to_utc(row["chunk_start"]), row.get("segment"))] = row


# Rows of these (monitor, kind)s are metrics.jsonl lines: nannyml's drift methods and data-quality calculators.
_MONITOR_LINES = {
    (DRIFT, KIND_UNIVARIATE),
    (DRIFT, KIND_PREDICTION),
    (DRIFT, KIND_MULTIVARIATE),
    (DATA_QUALITY, KIND_NANNYML),
    (DATA_QUALITY, KIND_CONSTRAINT),
}


def _index_monitor_rows(body: bytes, index: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Drift and data-quality rows of a results file, by (monitor, kind, metric, feature, chunk start)."""
    import polars as pl

    table = pl.read_parquet(io.BytesIO(body))
    if "monitor" not in table.columns:
        return
    for row in table.filter(pl.col("monitor").is_in([DRIFT, DATA_QUALITY])).iter_rows(named=True):
        if (row["monitor"], row["kind"]) in _MONITOR_LINES and row.get("chunk_start") is not None:
            key = (
                row["monitor"],
                row["kind"],
                row["metric"],
                row.get("feature"),
                to_utc(row["chunk_start"]),
                row.get("segment") or "",
            )
            index[key] = row


def _monitor_lines(
    model: str, rows: dict[tuple[Any, ...], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """metrics.jsonl lines of the drift and data-quality rows (nannyml's methods and calculators; no `feature` for
    multivariate drift), and constraint_violations.jsonl lines (one per violation), in chunk order."""
    lines: list[dict[str, Any]] = []
    violations: list[dict[str, Any]] = []
    for key in sorted(rows, key=lambda k: (k[4], k[5], k[0], k[1], k[2], k[3] or "")):
        row = rows[key]
        start, end = _iso(row["chunk_start"]), _iso(row["chunk_end"]) if row.get("chunk_end") is not None else None
        if row["kind"] == KIND_CONSTRAINT:
            if row["alert"]:
                violations.append(
                    {
                        "model": model,
                        "chunk_start": start,
                        "chunk_end": end,
                        "feature_name": row.get("feature"),
                        "constraint_check_type": row["metric"],
                        "description": row.get("detail") or "",
                    }
                )
            continue
        line: dict[str, Any] = {"model": model, "monitor": row["monitor"], "metric": row["metric"], "kind": row["kind"]}
        if row["kind"] != KIND_MULTIVARIATE:
            line["feature"] = row.get("feature")
        if row.get("segment"):
            line["segment"] = json.loads(row["segment"])
        if row.get("version"):
            line["version"] = row["version"]
        line.update(
            chunk_start=start,
            chunk_end=end,
            value=_float(row.get("value")),
            alert=bool(row["alert"]),
            lower_threshold=_float(row.get("lower_threshold")),
            upper_threshold=_float(row.get("upper_threshold")),
        )
        lines.append(line)
    return lines, violations


def _iso(value: Any) -> str:
    return to_utc(value).isoformat().replace("+00:00", "Z")


def _float(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
