"""A model's lifecycle: register (validate, upload config and reference, alarms), unregister, status."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from modelwatch.clock import Clock, SystemClock, parse_iso, to_utc
from modelwatch.config.model import ModelConfig, with_model_monitor_constraints
from modelwatch.errors import ConfigError, LakeError, PublishError, ReferenceDataError, RegistryError
from modelwatch.lake.layout import model_reference_key, model_version_reference_key, results_key
from modelwatch.lake.store import parse_s3_uri
from modelwatch.monitors.data_quality import KIND_CONSTRAINT, baseline_keys, load_configured, model_features
from modelwatch.monitors.data_quality import MONITOR as DATA_QUALITY
from modelwatch.monitors.frames import prepare_reference
from modelwatch.monitors.mm_baseline import Baseline, dumps, suggest_baseline
from modelwatch.monitors.reference_check import judge_chunking
from modelwatch.monitors.results import read_results
from modelwatch.observability import logger
from modelwatch.publishing.alarms import AlarmSettings, create_model_alarms, delete_model_alarms, seed_heartbeat
from modelwatch.publishing.metrics import iso as iso_time
from modelwatch.publishing.pages import forget_in_fleet
from modelwatch.registry.store import REFERENCE_SUFFIXES, Registry
from modelwatch.state import RunState, State


@dataclass(frozen=True)
class ReferenceData:
    """Reference data bytes with the suffix that says how to read them."""

    body: bytes
    suffix: str
    source: str


def read_reference(location: str, s3_client: Any = None) -> ReferenceData:
    """Read reference data from a local path or an s3:// URI (Parquet or CSV by suffix)."""
    suffix = PurePosixPath(location).suffix.lower()
    if suffix not in REFERENCE_SUFFIXES:
        raise ReferenceDataError(f"reference {location}: use a .parquet or .csv file")
    if location.startswith("s3://"):
        if s3_client is None:
            raise ConfigError(f"reference {location}: an s3:// reference needs a stack context")
        bucket, key = parse_s3_uri(location)
        try:
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore ClientError (missing key, no access)
            raise ReferenceDataError(f"reference {location}: cannot read it: {exc}") from exc
        return ReferenceData(bytes(body), suffix, location)
    try:
        return ReferenceData(Path(location).read_bytes(), suffix, location)
    except OSError as exc:
        raise ReferenceDataError(f"reference {location}: cannot read it: {exc.strerror}") from exc


@dataclass(frozen=True)
class ReferenceCheck:
    """What validating a reference found: its rows and, when its timestamps span some time, its rows per hour."""

    rows: int
    rows_per_hour: float | None = None
    warnings: tuple[str, ...] = ()  # what makes its thresholds unreliable (chunking), with a chunking that would do


def _reference_frames(config: ModelConfig, reference: ReferenceData) -> tuple[Any, Any]:
    """The reference as read, and prepared as runs prepare it (columns, classes, probabilities checked)."""
    import pandas as pd

    try:
        if reference.suffix == ".csv":
            frame = pd.read_csv(io.BytesIO(reference.body))
        else:
            frame = pd.read_parquet(io.BytesIO(reference.body))
    except Exception as exc:  # pyarrow and the CSV parser raise many kinds
        raise ReferenceDataError(f"reference {reference.source}: cannot be read as {reference.suffix}: {exc}") from exc
    prepared = prepare_reference(config, frame)
    if prepared.empty:
        raise ReferenceDataError(f"reference {reference.source}: no rows")
    return frame, prepared


def validate_reference(config: ModelConfig, reference: ReferenceData) -> ReferenceCheck:
    """Check the reference the way a run will (columns, classes, probabilities) and its chunking; its rows and rate.
    ReferenceDataError when its chunks would make the thresholds meaningless; warnings when they are unreliable."""
    frame, prepared = _reference_frames(config, reference)
    verdict = judge_chunking(config, prepared)
    if verdict.fatal:
        raise ReferenceDataError(f"reference {reference.source}: {verdict.message(config.name)}")
    warnings = (verdict.message(config.name),) if verdict.problems else ()
    return ReferenceCheck(len(prepared), _rows_per_hour(frame, config.timestamp), warnings)


def _rows_per_hour(frame: Any, column: str) -> float | None:
    """The reference's traffic: rows over the hours its timestamps span (None without a usable span)."""
    import pandas as pd

    if column not in frame.columns or len(frame) < 2:
        return None
    times = pd.to_datetime(frame[column], utc=True, errors="coerce").dropna()
    if len(times) < 2:
        return None
    hours = (times.max() - times.min()).total_seconds() / 3600
    return len(times) / hours if hours > 0 else None


def resolve_model_monitor_constraints(config: ModelConfig, s3_client: Any = None) -> ModelConfig:
    """The config with the Model Monitor constraints.json it names on S3 read in (a local file is read when the
    config is loaded); ConfigError naming the file when it cannot be read or used."""
    location = config.estimation.constraints
    if not location or not location.startswith("s3://"):
        return config
    if s3_client is None:
        raise ConfigError(f"estimation.constraints {location}: an s3:// constraints file needs a stack context")
    bucket, key = parse_s3_uri(location)
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore ClientError (missing key, no access)
        raise ConfigError(f"estimation.constraints {location}: cannot read it: {exc}") from exc
    return with_model_monitor_constraints(config, bytes(body), location)


def suggest_data_quality_baseline(config: ModelConfig, reference: ReferenceData) -> Baseline:
    """Model Monitor's `statistics.json` and `constraints.json` suggested from the model's reference data."""
    return suggest_baseline(model_features(config), _reference_frames(config, reference)[1])


def store_configured_baseline(registry: Registry, config: ModelConfig, s3_client: Any = None) -> ModelConfig:
    """Validate the Model Monitor baseline the config names (ConfigError: one line naming the file and the field)
    and copy it to the model's data-quality baseline in the lake; the returned config names the lake copy. A
    config naming none is returned as it is (the baseline is then suggested from the reference at fit)."""
    baseline = load_configured(config, None, s3_client)
    if baseline is None:
        return config
    statistics_key, constraints_key = baseline_keys(config.name)
    registry.store.put(statistics_key, dumps(baseline.statistics), "application/json")
    registry.store.put(constraints_key, dumps(baseline.constraints), "application/json")
    quality = config.data_quality.model_copy(
        update={"statistics": registry.store.uri(statistics_key), "constraints": registry.store.uri(constraints_key)}
    )
    return config.model_copy(update={"data_quality": quality})


def store_variant_references(
    registry: Registry, config: ModelConfig, s3_client: Any = None
) -> tuple[ModelConfig, list[ReferenceCheck]]:
    """Each listed variant's own reference (a path or an s3:// URI) read, validated as its unit's runs will read it
    and copied to the unit's folder; the returned config names the copies."""
    if not isinstance(config.variants, list):
        return config, []
    specs = []
    checks = []
    for spec in config.variants:
        if not spec.reference:
            specs.append(spec)
            continue
        data = read_reference(spec.reference, s3_client)
        checks.append(validate_reference(config.unit(spec.name), data))
        key = model_reference_key(config.unit(spec.name).name)
        if data.suffix != ".parquet":
            key = str(PurePosixPath(key).with_suffix(data.suffix))
        registry.store.put(key, data.body)
        specs.append(spec.model_copy(update={"reference": registry.store.uri(key)}))
    return config.model_copy(update={"variants": specs}), checks


def keep_activations(stored: ModelConfig | None, config: ModelConfig) -> ModelConfig:
    """A config being registered again keeps the switch times its endpoint's updates gave its pending versions: a
    version the new file lists without a time, but that went live since, stays live."""
    if stored is None or not stored.versions or not config.versions:
        return config
    live = {v.name: v.effective_from for v in stored.versions if v.effective_from is not None}
    specs = [
        v.model_copy(update={"effective_from": live[v.name]}) if v.effective_from is None and v.name in live else v
        for v in config.versions
    ]
    return config.model_copy(update={"versions": specs})


def store_version_references(
    registry: Registry, config: ModelConfig, s3_client: Any = None
) -> tuple[ModelConfig, list[ReferenceCheck]]:
    """Each listed version's own reference (a path or an s3:// URI outside the lake's copies) read, validated as
    the model's runs will read it and copied to `models/<model>/versions/<version>/`; the returned config names the
    copies."""
    if not config.versions:
        return config, []
    specs = []
    checks = []
    for spec in config.versions:
        copy = model_version_reference_key(config.name, spec.name)
        if not spec.reference or spec.reference.startswith(registry.store.uri(str(PurePosixPath(copy).parent))):
            specs.append(spec)
            continue
        uri, check = store_version_reference(registry, config, spec.name, read_reference(spec.reference, s3_client))
        checks.append(check)
        specs.append(spec.model_copy(update={"reference": uri}))
    return config.model_copy(update={"versions": specs}), checks


def store_version_reference(
    registry: Registry, config: ModelConfig, version: str, data: ReferenceData
) -> tuple[str, ReferenceCheck]:
    """A version's reference validated as the model's runs will read it and copied to
    `models/<model>/versions/<version>/`: the copy's URI, and what the validation found."""
    check = validate_reference(config, data)
    key = model_version_reference_key(config.name, version)
    if data.suffix != ".parquet":
        key = str(PurePosixPath(key).with_suffix(data.suffix))
    registry.store.put(key, data.body)
    return registry.store.uri(key), check


def register_model(
    registry: Registry,
    config: ModelConfig,
    reference: ReferenceData,
    *,
    cloudwatch: Any = None,
    alarms: AlarmSettings | None = None,
    clock: Clock | None = None,
    s3_client: Any = None,
) -> dict[str, Any]:
    """Validate and upload the config and reference (the stored config points at the uploaded copy), each listed
    variant's own reference, and the Model Monitor data-quality baseline the config names (the stored config points
    at the lake copies); each unit's alarms (the low-traffic one measured against the reference's rate) and a first
    heartbeat. A Model Monitor constraints.json the config names on S3 is read into the stored config. A model
    watching every variant (`variants: "*"`) gets its units, and their alarms, as their variants are found."""
    config = resolve_model_monitor_constraints(config, s3_client)
    check = validate_reference(config, reference)
    config = store_configured_baseline(registry, config, s3_client)
    config, variant_checks = store_variant_references(registry, config, s3_client)
    config, version_checks = store_version_references(registry, config, s3_client)
    config = keep_activations(_registered(registry, config.name), config)
    stored = registry.register(config, reference.body, reference.suffix)
    names: list[str] = []
    if cloudwatch is not None and alarms is not None:
        settings = replace(alarms, reference_rows_per_hour=check.rows_per_hour)
        for unit in registry.units_of(stored.name):  # with "*": the variants found so far
            names += create_model_alarms(cloudwatch, settings, unit)
            seed_heartbeat(cloudwatch, settings.namespace, unit.name, (clock or SystemClock()).now())
    logger.info("model registered", model=stored.name, reference_rows=check.rows, alarms=len(names))
    warnings = [w for c in (check, *variant_checks, *version_checks) for w in c.warnings]
    for warning in warnings:
        logger.warning(warning, model=stored.name)
    return {
        "model": stored.name,
        "reference": stored.reference,
        "reference_rows": check.rows,
        "reference_rows_per_hour": check.rows_per_hour,
        "alarms": names,
        "reference_warnings": warnings,
        "units": [u.name for u in registry.units_of(stored.name)],
    }


def _registered(registry: Registry, name: str) -> ModelConfig | None:
    """The model's stored config, or None when it is not registered (or cannot be read: it is replaced)."""
    if name not in registry.registered():
        return None
    try:
        return registry.get(name)
    except (ConfigError, RegistryError):
        return None


def unregister_model(
    registry: Registry,
    name: str,
    *,
    state: State | None = None,
    cloudwatch: Any = None,
    stack: str = "",
) -> dict[str, Any]:
    """Remove the config, reference, estimator cache, the model's state items and its alarms (each unit's)."""
    units = [c.name for c in registry.units_of(name)]
    keys = registry.unregister(name)
    try:
        forget_in_fleet(registry.store, units)  # its reports stay in the lake, off the fleet's index
    except LakeError as exc:  # the model is gone; the index lists it until this is run again
        logger.warning("model left on the fleet's index", model=name, error=str(exc))
    # The ledger of published datapoints goes too: a re-registered model starts afresh.
    items = sum(state.delete_model(unit) for unit in units) if state is not None else 0
    alarms: list[str] = []
    if cloudwatch is not None:
        for unit in units:
            alarms += delete_model_alarms(cloudwatch, stack, unit)
    logger.info("model unregistered", model=name, objects=len(keys), state_items=items, alarms=len(alarms))
    return {"model": name, "objects": keys, "state_items": items, "alarms": alarms}


def _lag_seconds(state: RunState, now: datetime) -> float | None:
    if not state.last_analysed_chunk:
        return None
    return (to_utc(now) - parse_iso(state.last_analysed_chunk)).total_seconds()


def open_violations(registry: Registry, model: str, run_id: str | None) -> list[dict[str, str]]:
    """The data-quality violations of the latest chunk of the model's last run (feature and check each): the
    violations still open. Empty without a run or without data-quality results."""
    if not run_id:
        return []
    try:
        rows = read_results(registry.store.get(results_key(model, run_id)))
    except (LakeError, PublishError):
        return []
    checks = [r for r in rows if r.monitor == DATA_QUALITY and r.kind == KIND_CONSTRAINT]
    if not checks:
        return []
    latest = max(r.chunk_start for r in checks)
    return [
        {"feature_name": str(r.feature), "constraint_check_type": r.metric, "chunk_start": iso_time(latest)}
        for r in checks
        if r.alert and r.chunk_start == latest
    ]


def _alert_name(row: Any) -> str:
    """How `status` names an alerting result: the metric (its kind when estimated), a drift or check's feature."""
    if row.monitor == "performance":
        return f"{row.metric} ({row.kind})" if row.kind != "realized" else row.metric
    return f"{row.monitor} {row.metric}" + (f" [{row.feature}]" if row.feature else "")


def run_health(registry: Registry, model: str, run_id: str | None) -> dict[str, Any]:
    """The model's health at its last run's latest chunk: what is in alert there (sorted names), since which chunk
    it has been in alert without a break, the chunk, and its label coverage (None when nothing says)."""
    health: dict[str, Any] = {"in_alert": [], "alert_since": None, "latest_chunk": None, "label_coverage": None}
    if not run_id:
        return health
    try:
        rows = [r for r in read_results(registry.store.get(results_key(model, run_id))) if r.segment is None]
    except (LakeError, PublishError):
        return health
    by_chunk: dict[datetime, list[Any]] = {}
    for row in rows:
        by_chunk.setdefault(row.chunk_start, []).append(row)
    if not by_chunk:
        return health
    starts = sorted(by_chunk, reverse=True)
    latest = by_chunk[starts[0]]
    health["latest_chunk"] = iso_time(starts[0])
    health["in_alert"] = sorted({_alert_name(r) for r in latest if r.alert})
    coverage = [r.label_coverage for r in latest if r.label_coverage is not None]
    health["label_coverage"] = max(coverage) if coverage else None
    since = None
    for start in starts:  # back from the latest chunk while some result alerts
        if not any(r.alert for r in by_chunk[start]):
            break
        since = start
    health["alert_since"] = iso_time(since) if since is not None else None
    return health


def model_status(registry: Registry, state: State | None, now: datetime) -> list[dict[str, Any]]:
    """Per registered model: last analysed chunk, lag behind now, last run, last error, open incidents and the open
    data-quality violations, and its health at the last run's latest chunk (`run_health`)."""
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        try:
            config = registry.get(name)
        except (RegistryError, ConfigError) as exc:
            rows.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        run_state = state.runs.load(name) if state is not None else RunState(name)
        row: dict[str, Any] = run_state.to_dict()
        row.update(problem_type=config.problem_type.value, endpoint=config.endpoint)
        row["lag_seconds"] = _lag_seconds(run_state, now)
        incidents = state.incidents.open_incidents(name) if state is not None else []
        row["open_incidents"] = [_incident_row(r.document) for r in incidents]
        row["open_violations"] = open_violations(registry, name, run_state.last_run)
        row.update(run_health(registry, name, run_state.last_run))
        rows.append(row)
    return rows


def _incident_row(document: dict[str, Any]) -> dict[str, Any]:
    """An open incident as `status` shows it: kind, since, whether it pages, and its metrics still in alert."""
    metrics = document.get("metrics", {})
    return {
        "id": document.get("id"),
        "kind": document.get("kind"),
        "since": document.get("since"),
        "opened_at": document.get("opened_at"),
        "paging": bool(document.get("paging")),
        "metrics": sorted(k for k, m in metrics.items() if m.get("in_alert")),
        "last_notified_at": document.get("last_notified_at"),
    }
