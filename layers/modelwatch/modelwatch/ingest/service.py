"""Ingest one capture or ground-truth object: decode into the lake, record it with its counters, trigger runs.

Order per object: (1) skip if already recorded; (2) decode and write the Parquet and quarantine files (deterministic
names, so a retry after a crash rewrites the same files); (3) record the object and its per-model hourly counters in
one DynamoDB transaction (a concurrent duplicate loses the condition and is reported as a duplicate); (4) trigger
runs for the models. A duplicate delivery calls the trigger again (it is idempotent), so a trigger that failed after
the record was written is retried by the queue's redelivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError

from modelwatch.capture.batch import lines_stream, parse_manifest, transform_output_lines
from modelwatch.capture.records import RecordError, open_payload
from modelwatch.chunks import format_hour
from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    GROUND_TRUTH_LOOKBACK_DAYS,
    METRIC_CAPTURED_ROWS,
    METRIC_INGEST_LAG,
    METRIC_RECORDS_DECODED,
    METRIC_RECORDS_QUARANTINED,
    METRIC_ROWS_WITHOUT_PREDICTION,
    METRIC_UNMATCHED_LABELS,
)
from modelwatch.errors import CaptureReadError, ModelwatchError
from modelwatch.ingest.events import ObjectRef
from modelwatch.ingest.keys import folder_hour, parse_capture_key
from modelwatch.ingest.pipeline import (
    ModelOutcome,
    captured_requests,
    decode_capture_to_lake,
    decode_ground_truth_to_lake,
)
from modelwatch.lake.layout import source_file_stem
from modelwatch.lake.store import ObjectStore, parse_s3_uri
from modelwatch.observability import logger, metrics
from modelwatch.registry.store import Registry
from modelwatch.state import OBJECT_SKIPPED, CounterDelta, ObjectRecord, State
from modelwatch.units import model_dimensions, model_of, split_unit
from modelwatch.workflow.trigger import trigger_ready_runs

KIND_CAPTURE = "capture"
KIND_GROUND_TRUTH = "ground_truth"
STATUS_INGESTED = "ingested"
STATUS_SKIPPED = OBJECT_SKIPPED
STATUS_DUPLICATE = "duplicate"


@dataclass
class IngestResult:
    """The outcome of ingesting one object (JSON-able through `to_dict`)."""

    status: str
    bucket: str
    key: str
    version: str
    kind: str
    reason: str = ""
    outcomes: list[ModelOutcome] = field(default_factory=list)
    hours: list[str] = field(default_factory=list)
    triggered: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.outcomes)

    @property
    def records(self) -> int:
        return sum(o.records for o in self.outcomes)

    @property
    def quarantined(self) -> int:
        return sum(o.quarantined for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "bucket": self.bucket,
            "key": self.key,
            "version": self.version,
            "kind": self.kind,
            "reason": self.reason,
            "models": [o.summary() for o in self.outcomes],
            "hours": self.hours,
            "triggered": self.triggered,
        }


# ---------------------------------------------------------------- S3 access
def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def resolve_ref(s3_client: Any, ref: ObjectRef) -> ObjectRef:
    """Make the key and version usable: URL-decode a classic-notification key when the raw key does not exist,
    and fetch the ETag when the event carried neither ETag nor version."""
    key = ref.key
    decoded = unquote_plus(key)
    needs_head = not ref.version or decoded != key
    if not needs_head:
        return ref
    try:
        head = s3_client.head_object(Bucket=ref.bucket, Key=key)
    except ClientError as exc:
        if decoded == key or _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise CaptureReadError(f"{ref.uri}: cannot read object: {_error_code(exc) or exc}") from exc
        key = decoded
        try:
            head = s3_client.head_object(Bucket=ref.bucket, Key=key)
        except ClientError as inner:
            raise CaptureReadError(f"s3://{ref.bucket}/{key}: cannot read object: {_error_code(inner)}") from inner
    return ObjectRef(
        bucket=ref.bucket,
        key=key,
        etag=ref.etag or str(head.get("ETag", "")).strip('"') or None,
        version_id=ref.version_id,
        size=ref.size if ref.size is not None else head.get("ContentLength"),
        event_time=ref.event_time,
    )


@dataclass
class OpenedObject:
    body: BinaryIO
    last_modified: datetime | None


def open_object(s3_client: Any, ref: ObjectRef) -> OpenedObject | None:
    """A streaming body of exactly the announced version; None when the object was overwritten since."""
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
    elif ref.etag:
        kwargs["IfMatch"] = ref.etag if ref.etag.startswith('"') else f'"{ref.etag}"'
    try:
        response = s3_client.get_object(**kwargs)
    except ClientError as exc:
        if _error_code(exc) in ("PreconditionFailed", "412"):
            return None
        raise CaptureReadError(f"{ref.uri}: cannot read object: {_error_code(exc) or exc}") from exc
    modified = response.get("LastModified")
    return OpenedObject(response["Body"], to_utc(modified) if isinstance(modified, datetime) else None)


# ---------------------------------------------------------------- metrics and trigger
def _model_metric(model: str, name: str, unit: MetricUnit, value: float) -> None:
    with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
        for dimension, named in model_dimensions(model):
            metric.add_dimension(dimension, named)


def unmatched_labels(outcome: ModelOutcome) -> int:
    """A ground-truth object's labels that belong to no captured hour (no captured request had them, of any of the
    model's variants)."""
    return max(0, outcome.rows - sum(outcome.rows_per_hour.values()) - outcome.labels_of_other_variants)


def emit_outcome_metrics(outcome: ModelOutcome, now: datetime, capture: bool) -> None:
    """Per-model counts (never values): decoded, quarantined, rows without prediction, ingest lag; for ground truth
    the labels that matched no captured request (of the lookback, at ingest)."""
    _model_metric(outcome.model, METRIC_RECORDS_DECODED, MetricUnit.Count, outcome.records - outcome.quarantined)
    _model_metric(outcome.model, METRIC_RECORDS_QUARANTINED, MetricUnit.Count, outcome.quarantined)
    if not capture:
        _model_metric(outcome.model, METRIC_UNMATCHED_LABELS, MetricUnit.Count, unmatched_labels(outcome))
    if capture:
        # Captured rows only (labels are not traffic): the no-data and low-traffic alarms count them.
        _model_metric(outcome.model, METRIC_CAPTURED_ROWS, MetricUnit.Count, outcome.rows)
        _model_metric(outcome.model, METRIC_ROWS_WITHOUT_PREDICTION, MetricUnit.Count, outcome.rows_without_prediction)
        if outcome.first_time is not None:
            # The oldest row of the file: how late the slowest row of this delivery reached the lake.
            lag = max(0.0, (to_utc(now) - to_utc(outcome.first_time)).total_seconds())
            _model_metric(outcome.model, METRIC_INGEST_LAG, MetricUnit.Seconds, lag)


def trigger_runs(
    models: list[str],
    *,
    state: State,
    registry: Registry,
    sfn_client: Any,
    state_machine_arn: str,
    clock: Clock,
) -> list[dict[str, Any]]:
    """Call the workflow trigger (modelwatch.workflow.trigger) for these models; nothing without a state machine."""
    if not models or sfn_client is None or not state_machine_arn:
        return []
    return trigger_ready_runs(
        models, state=state, registry=registry, sfn_client=sfn_client, state_machine_arn=state_machine_arn, clock=clock
    )


# ---------------------------------------------------------------- capture
def ingest_capture_object(
    ref: ObjectRef,
    *,
    s3_client: Any,
    store: ObjectStore,
    state: State,
    registry: Registry,
    clock: Clock,
    sfn_client: Any = None,
    state_machine_arn: str = "",
    capture_prefix: str = "",
) -> IngestResult:
    """Decode a capture object into the lake for every model reading its endpoint/variant; record; trigger."""
    ref = resolve_ref(s3_client, ref)
    trigger = _trigger_args(state, registry, sfn_client, state_machine_arn, clock)
    previous = state.objects.processed(ref.bucket, ref.key, ref.version)
    if previous is not None and previous.get("status") != STATUS_SKIPPED:
        return _duplicate(ref, KIND_CAPTURE, previous, trigger)
    batch_models = registry.for_batch_capture(ref.key)
    if batch_models:
        return _ingest_batch_manifest(ref, batch_models, s3_client, store, state, clock, trigger)
    parsed = parse_capture_key(ref.key, capture_prefix)
    if parsed is None:
        return _skip(ref, KIND_CAPTURE, state, clock, "not a data-capture key (<endpoint>/<variant>/yyyy/mm/dd/hh/)")
    models = registry.for_capture(parsed.endpoint, parsed.variant)
    if not models:
        return _skip(ref, KIND_CAPTURE, state, clock, f"no model reads endpoint {parsed.endpoint}/{parsed.variant}")

    stem = source_file_stem(ref.key, ref.version)
    outcomes = []
    for config in models:
        opened = open_object(s3_client, ref)
        if opened is None:
            return _skip(ref, KIND_CAPTURE, state, clock, "object was overwritten after this event")
        arrived = opened.last_modified or ref.event_time
        outcomes.append(decode_capture_to_lake(opened.body, config, ref.uri, store, stem, clock.now(), arrived=arrived))

    counters = [
        CounterDelta(o.model, hour, rows=count, data_version=1)
        for o in outcomes
        for hour, count in o.rows_per_hour.items()
    ]
    return _record_and_trigger(ref, KIND_CAPTURE, outcomes, counters, state, clock, trigger)


def _ingest_batch_manifest(
    ref: ObjectRef,
    models: list[ModelConfig],
    s3_client: Any,
    store: ObjectStore,
    state: State,
    clock: Clock,
    trigger: dict[str, Any],
) -> IngestResult:
    """A batch transform job's capture manifest: the `.out` files an `output/` manifest names, decoded as capture
    records (modelwatch.capture.batch); an `input/` manifest is skipped (the inputs come joined in the outputs)."""
    prefix = models[0].batch_transform.capture_key_prefix if models[0].batch_transform else None
    side = ref.key.lstrip("/")[len((prefix or "").lstrip("/")) :].split("/", 1)[0]
    if side != "output":
        return _skip(ref, KIND_CAPTURE, state, clock, "batch transform capture: only output/ manifests are read")
    opened = open_object(s3_client, ref)
    if opened is None:
        return _skip(ref, KIND_CAPTURE, state, clock, "object was overwritten after this event")
    try:
        uris = parse_manifest(opened.body.read(), ref.uri)
    except RecordError as exc:
        raise CaptureReadError(str(exc)) from exc
    job_hour = folder_hour(ref.key)
    stem = source_file_stem(ref.key, ref.version)
    outcomes = []
    for config in models:
        lines = (
            line for uri in uris for line in transform_output_lines(_read_text(s3_client, uri), config, uri, job_hour)
        )
        arrived = opened.last_modified or ref.event_time
        outcomes.append(
            decode_capture_to_lake(lines_stream(lines), config, ref.uri, store, stem, clock.now(), arrived=arrived)
        )
    counters = [
        CounterDelta(o.model, hour, rows=count, data_version=1)
        for o in outcomes
        for hour, count in o.rows_per_hour.items()
    ]
    return _record_and_trigger(ref, KIND_CAPTURE, outcomes, counters, state, clock, trigger)


def _read_text(s3_client: Any, uri: str) -> str:
    """A transform output file a manifest names (UTF-8, gzip read too); CaptureReadError when it cannot be read."""
    bucket, key = parse_s3_uri(uri)
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        raise CaptureReadError(f"{uri}: cannot read batch transform output: {_error_code(exc) or exc}") from exc
    try:
        return open_payload(body, uri).read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaptureReadError(f"{uri}: batch transform output is not UTF-8") from exc


# ---------------------------------------------------------------- ground truth
def ingest_ground_truth_object(
    ref: ObjectRef,
    *,
    s3_client: Any,
    store: ObjectStore,
    state: State,
    registry: Registry,
    clock: Clock,
    sfn_client: Any = None,
    state_machine_arn: str = "",
    lookback: timedelta = timedelta(days=GROUND_TRUTH_LOOKBACK_DAYS),
) -> IngestResult:
    """Decode a ground-truth object for every model whose ground-truth prefix holds it; bump the label counters of
    the inference hours the labels belong to (found by joining the model's captures, ids and times only, from
    `lookback` before the label time on, and once more among captures that landed while the labels were written);
    record; trigger (realized performance for exactly those hours). Labels without a capture count nowhere; a
    capture that arrives later bumps its own hour, and the run it starts joins them."""
    ref = resolve_ref(s3_client, ref)
    trigger = _trigger_args(state, registry, sfn_client, state_machine_arn, clock)
    previous = state.objects.processed(ref.bucket, ref.key, ref.version)
    if previous is not None and previous.get("status") != STATUS_SKIPPED:
        return _duplicate(ref, KIND_GROUND_TRUTH, previous, trigger)
    models = registry.for_ground_truth(ref.key)
    if not models:
        return _skip(ref, KIND_GROUND_TRUTH, state, clock, "no model has this ground-truth prefix")

    stem = source_file_stem(ref.key, ref.version)
    outcomes = []
    for config in models:
        opened = open_object(s3_client, ref)
        if opened is None:
            return _skip(ref, KIND_GROUND_TRUTH, state, clock, "object was overwritten after this event")
        modified = to_utc(opened.last_modified or ref.event_time or clock.now())
        label_time = folder_hour(ref.key) or modified
        requests = captured_requests(store, config.name, label_time, clock.now(), lookback)
        outcome = decode_ground_truth_to_lake(
            opened.body,
            config,
            ref.uri,
            store,
            stem,
            clock.now(),
            label_time,
            modified,
            captures=requests.frame,
            reopen=lambda: _reopen(s3_client, ref),
            late_captures=requests.late,
        )
        matched = sum(outcome.rows_per_hour.values())
        logger.info(
            "resolved label hours",
            model=config.name,
            labels=outcome.rows,
            matched=matched,
            unmatched=outcome.rows - matched,
            hours=len(outcome.rows_per_hour),
        )
        outcomes.append(outcome)
    _share_labels_among_variants(outcomes)
    counters = [
        CounterDelta(o.model, hour, labels=count, label_version=1)
        for o in outcomes
        for hour, count in o.rows_per_hour.items()
    ]
    return _record_and_trigger(ref, KIND_GROUND_TRUTH, outcomes, counters, state, clock, trigger)


def _share_labels_among_variants(outcomes: list[ModelOutcome]) -> None:
    """A model watching several variants reads one ground-truth prefix: each label belongs to one variant's request,
    so a unit's labels that a sibling variant captured are that variant's, not unmatched."""
    matched: dict[str, int] = {}
    for outcome in outcomes:
        matched[model_of(outcome.model)] = matched.get(model_of(outcome.model), 0) + sum(outcome.rows_per_hour.values())
    for outcome in outcomes:
        if split_unit(outcome.model)[1] is not None:
            own = sum(outcome.rows_per_hour.values())
            outcome.labels_of_other_variants = min(outcome.rows - own, matched[model_of(outcome.model)] - own)


def _reopen(s3_client: Any, ref: ObjectRef) -> BinaryIO:
    opened = open_object(s3_client, ref)
    if opened is None:
        raise CaptureReadError(f"{ref.uri}: object was overwritten while being ingested")
    return opened.body


# ---------------------------------------------------------------- shared steps
def _record_and_trigger(
    ref: ObjectRef,
    kind: str,
    outcomes: list[ModelOutcome],
    counters: list[CounterDelta],
    state: State,
    clock: Clock,
    trigger: dict[str, Any],
) -> IngestResult:
    record = ObjectRecord(
        bucket=ref.bucket,
        key=ref.key,
        version=ref.version,
        kind=kind,
        status=STATUS_INGESTED,
        models=[o.model for o in outcomes],
        rows=sum(o.rows for o in outcomes),
        quarantined=sum(o.quarantined for o in outcomes),
    )
    if not state.objects.record(record, counters, clock.now()):
        logger.info("object recorded concurrently; duplicate", kind=kind, key=ref.key)
        previous = state.objects.processed(ref.bucket, ref.key, ref.version) or {}
        return _duplicate(ref, kind, previous, trigger)
    now = clock.now()
    for outcome in outcomes:
        emit_outcome_metrics(outcome, now, capture=kind == KIND_CAPTURE)
        if kind == KIND_GROUND_TRUTH:
            _count_unmatched_labels(state, outcome, now)
        logger.info(
            "ingested object",
            kind=kind,
            key=ref.key,
            model=outcome.model,
            records=outcome.records,
            rows=outcome.rows,
            quarantined=outcome.quarantined,
            rows_without_prediction=outcome.rows_without_prediction,
            files=len(outcome.files),
        )
    hours = sorted({state_hour(c.hour) for c in counters})
    triggered = trigger_runs([o.model for o in outcomes], **trigger)
    return IngestResult(STATUS_INGESTED, ref.bucket, ref.key, ref.version, kind, "", outcomes, hours, triggered)


def _count_unmatched_labels(state: State, outcome: ModelOutcome, now: datetime) -> None:
    """Add the object's labels that matched no captured request to the model's running total (`modelwatch status`).
    The object is recorded already, so a failure here is logged, never raised: a redelivery would be skipped as a
    duplicate and count nothing either (the UnmatchedLabels metric has the count)."""
    try:
        state.runs.add_unmatched_labels(outcome.model, unmatched_labels(outcome), now)
    except ModelwatchError as exc:
        logger.warning("unmatched labels not counted in the run state", model=outcome.model, error=str(exc))


def state_hour(hour: datetime) -> str:
    return format_hour(hour)


def _trigger_args(
    state: State, registry: Registry, sfn_client: Any, state_machine_arn: str, clock: Clock
) -> dict[str, Any]:
    """The keyword arguments of `trigger_runs`, shared by the ingest, duplicate and record paths."""
    return {
        "state": state,
        "registry": registry,
        "sfn_client": sfn_client,
        "state_machine_arn": state_machine_arn,
        "clock": clock,
    }


def _duplicate(ref: ObjectRef, kind: str, previous: dict[str, Any], trigger: dict[str, Any]) -> IngestResult:
    logger.info("object already processed; skipped", kind=kind, key=ref.key, version=ref.version)
    models = [str(m) for m in previous.get("models", [])]
    triggered = trigger_runs(models, **trigger) if previous.get("status") == STATUS_INGESTED else []
    return IngestResult(
        STATUS_DUPLICATE, ref.bucket, ref.key, ref.version, kind, "already processed", triggered=triggered
    )


def _skip(ref: ObjectRef, kind: str, state: State, clock: Clock, reason: str) -> IngestResult:
    logger.info("object skipped", kind=kind, key=ref.key, reason=reason)
    record = ObjectRecord(ref.bucket, ref.key, ref.version, kind, STATUS_SKIPPED, reason=reason)
    state.objects.record(record, [], clock.now())
    return IngestResult(STATUS_SKIPPED, ref.bucket, ref.key, ref.version, kind, reason)
