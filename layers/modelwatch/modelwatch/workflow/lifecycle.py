"""A model's lifecycle: register (validate, upload config and reference, alarms), unregister, status."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from modelwatch.clock import parse_iso, to_utc
from modelwatch.config.model import ModelConfig, with_model_monitor_constraints
from modelwatch.constants import DEFAULT_METRIC_NAMESPACE
from modelwatch.errors import ConfigError, ReferenceDataError, RegistryError
from modelwatch.lake.store import parse_s3_uri
from modelwatch.monitors.frames import prepare_reference
from modelwatch.observability import logger
from modelwatch.publishing.alarms import create_model_alarms, delete_model_alarms
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


def validate_reference(config: ModelConfig, reference: ReferenceData) -> int:
    """Check the reference the way a run will (columns, classes, probabilities); returns its row count."""
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
    return len(prepared)


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


def register_model(
    registry: Registry,
    config: ModelConfig,
    reference: ReferenceData,
    *,
    cloudwatch: Any = None,
    stack: str = "",
    alarms_topic_arn: str = "",
    namespace: str | None = None,
    s3_client: Any = None,
) -> dict[str, Any]:
    """Validate and upload the config and reference (the stored config points at the uploaded copy); alarms. A
    Model Monitor constraints.json the config names on S3 is read into the stored config."""
    config = resolve_model_monitor_constraints(config, s3_client)
    rows = validate_reference(config, reference)
    stored = registry.register(config, reference.body, reference.suffix)
    alarms: list[str] = []
    if cloudwatch is not None:
        alarms = create_model_alarms(
            cloudwatch, stack, stored, alarms_topic_arn, namespace=namespace or DEFAULT_METRIC_NAMESPACE
        )
    logger.info("model registered", model=stored.name, reference_rows=rows, alarms=len(alarms))
    return {"model": stored.name, "reference": stored.reference, "reference_rows": rows, "alarms": alarms}


def unregister_model(
    registry: Registry,
    name: str,
    *,
    state: State | None = None,
    cloudwatch: Any = None,
    stack: str = "",
) -> dict[str, Any]:
    """Remove the config, reference, estimator cache, the model's state items and its alarms."""
    keys = registry.unregister(name)
    # The ledger of published datapoints goes too: a re-registered model starts afresh.
    items = state.delete_model(name) if state is not None else 0
    alarms: list[str] = []
    if cloudwatch is not None:
        alarms = delete_model_alarms(cloudwatch, stack, name)
    logger.info("model unregistered", model=name, objects=len(keys), state_items=items, alarms=len(alarms))
    return {"model": name, "objects": keys, "state_items": items, "alarms": alarms}


def _lag_seconds(state: RunState, now: datetime) -> float | None:
    if not state.last_analysed_chunk:
        return None
    return (to_utc(now) - parse_iso(state.last_analysed_chunk)).total_seconds()


def model_status(registry: Registry, state: State | None, now: datetime) -> list[dict[str, Any]]:
    """Per registered model: last analysed chunk, lag behind now, last run and last error."""
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
        rows.append(row)
    return rows
