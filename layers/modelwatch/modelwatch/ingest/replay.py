"""Replay quarantined records: re-decode the raw lines kept in `quarantine/model=<m>/...jsonl` with the model's
current registered config, write what now decodes to the lake and count it, like an ingested object.

Each quarantine file is treated as a source object of its own: its lake files are named by (quarantine key,
content hash), and it is recorded as processed under its own key (in the state table, or by a marker object in a
lake folder), so replaying twice writes no row twice. When some records of a file now decode, those that still
fail are quarantined again (a new file naming their original source and line) for a later replay after another fix;
when none decodes, the file is left as it is (not recorded, nothing new written).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from modelwatch.clock import Clock, to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    GROUND_TRUTH_LOOKBACK_DAYS,
    LAKE_QUARANTINE,
)
from modelwatch.ingest.keys import folder_hour
from modelwatch.ingest.pipeline import (
    ModelOutcome,
    captured_requests,
    decode_capture_to_lake,
    decode_ground_truth_to_lake,
)
from modelwatch.ingest.service import KIND_CAPTURE, KIND_GROUND_TRUTH, STATUS_INGESTED, trigger_runs
from modelwatch.lake.layout import model_prefix, parse_partition, source_file_stem
from modelwatch.lake.store import ObjectStore
from modelwatch.lake.writer import QUARANTINE_SUFFIX
from modelwatch.observability import logger
from modelwatch.registry.store import Registry
from modelwatch.state import CounterDelta, ObjectRecord, State

REPLAYED_FOLDER = "replayed"
GROUND_TRUTH_MARKER = '"groundTruthData"'


@dataclass(frozen=True)
class QuarantineEntry:
    """One quarantined record as written by lake.writer.quarantine_lines."""

    source: str
    line: int
    reason: str
    raw: str

    @property
    def kind(self) -> str:
        return KIND_GROUND_TRUTH if GROUND_TRUTH_MARKER in self.raw else KIND_CAPTURE


def parse_quarantine(body: bytes) -> list[QuarantineEntry]:
    """The records of one quarantine file (lines that are not such records are ignored)."""
    entries = []
    for text in body.decode("utf-8", errors="replace").splitlines():
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and "raw" in item:
            entries.append(
                QuarantineEntry(
                    str(item.get("source", "")), int(item.get("line") or 0), str(item.get("reason", "")), item["raw"]
                )
            )
    return entries


class ReplayLedger(Protocol):
    """Where replayed quarantine files are recorded (with the counters of what they added)."""

    def done(self, key: str, version: str) -> bool: ...

    def record(self, record: ObjectRecord, counters: list[CounterDelta], now: datetime) -> bool: ...


class StateLedger:
    """The state table, like any ingested object: the lake bucket and the quarantine key name the record."""

    def __init__(self, state: State, lake_bucket: str) -> None:
        self.state = state
        self.bucket = lake_bucket

    def done(self, key: str, version: str) -> bool:
        return self.state.objects.is_processed(self.bucket, key, version)

    def record(self, record: ObjectRecord, counters: list[CounterDelta], now: datetime) -> bool:
        return self.state.objects.record(record, counters, now)


class LakeLedger:
    """A lake folder without a state table: one marker object per replayed file (no counters to keep)."""

    def __init__(self, store: ObjectStore, bucket: str = "local") -> None:
        self.store = store
        self.bucket = bucket

    @staticmethod
    def marker_key(key: str, version: str) -> str:
        partition = parse_partition(key)
        model = partition.model if partition else "unknown"
        stem = source_file_stem(key, version)
        return f"{model_prefix(LAKE_QUARANTINE, model)}{REPLAYED_FOLDER}/{stem}.json"

    def done(self, key: str, version: str) -> bool:
        return self.store.exists(self.marker_key(key, version))

    def record(self, record: ObjectRecord, counters: list[CounterDelta], now: datetime) -> bool:
        marker = self.marker_key(record.key, record.version)
        if self.store.exists(marker):
            return False
        body = {"key": record.key, "version": record.version, "rows": record.rows, "quarantined": record.quarantined}
        self.store.put(marker, json.dumps({**body, "replayed_at": to_utc(now).isoformat()}).encode())
        return True


@dataclass
class ReplaySummary:
    """Totals of one replay: quarantine files found, replayed, skipped (already replayed) and unchanged (nothing
    in them decodes yet); records replayed, rows written and records still quarantined."""

    model: str
    files: int = 0
    replayed_files: int = 0
    skipped_files: int = 0
    unchanged_files: int = 0
    records: int = 0
    rows: int = 0
    still_quarantined: int = 0
    triggered: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "files": self.files,
            "replayed_files": self.replayed_files,
            "skipped_files": self.skipped_files,
            "unchanged_files": self.unchanged_files,
            "records": self.records,
            "rows": self.rows,
            "still_quarantined": self.still_quarantined,
            "triggered": self.triggered,
        }


def quarantine_files(store: ObjectStore, model: str, since: date | None = None) -> list[str]:
    """The model's quarantine files (partitioned by processing time), oldest first; `since` keeps days >= it."""
    keys = []
    for key in store.list(model_prefix(LAKE_QUARANTINE, model)):
        partition = parse_partition(key)
        if partition is None or not key.endswith(QUARANTINE_SUFFIX):
            continue
        if since is not None and partition.dt < since.isoformat():
            continue
        keys.append(key)
    return sorted(keys)


def _restore_origin(store: ObjectStore, outcome: ModelOutcome, entries: list[QuarantineEntry]) -> None:
    """Re-quarantined records name their original source and line, not their position in the replayed batch."""
    if outcome.quarantine_file is None:
        return
    key = outcome.quarantine_file.key
    lines = []
    for item in (json.loads(t) for t in store.get(key).decode().splitlines() if t.strip()):
        position = int(item.get("line") or 0)
        if 1 <= position <= len(entries):
            origin = entries[position - 1]
            item["source"], item["line"] = origin.source, origin.line
        lines.append(json.dumps(item, ensure_ascii=False))
    store.put(key, ("\n".join(lines) + "\n").encode(), "application/x-ndjson")


def _decode(
    kind: str,
    entries: list[QuarantineEntry],
    config: ModelConfig,
    source: str,
    store: ObjectStore,
    stem: str,
    clock: Clock,
) -> ModelOutcome:
    stream = io.BytesIO("\n".join(e.raw for e in entries).encode() + b"\n")
    now = clock.now()
    if kind == KIND_CAPTURE:
        outcome = decode_capture_to_lake(stream, config, source, store, stem, now)
    else:
        origin = entries[0].source
        label_time = folder_hour(origin) or now
        requests = captured_requests(store, config.name, label_time, now, timedelta(days=GROUND_TRUTH_LOOKBACK_DAYS))
        outcome = decode_ground_truth_to_lake(
            stream,
            config,
            source,
            store,
            stem,
            now,
            label_time,
            label_time,
            captures=requests.frame,
            reopen=lambda: io.BytesIO("\n".join(e.raw for e in entries).encode() + b"\n"),
            late_captures=requests.late,
        )
    _restore_origin(store, outcome, entries)
    return outcome


def replay_quarantine(
    model: str,
    *,
    store: ObjectStore,
    registry: Registry,
    ledger: ReplayLedger,
    clock: Clock,
    since: date | None = None,
    state: State | None = None,
    sfn_client: Any = None,
    state_machine_arn: str = "",
) -> ReplaySummary:
    """Replay every not-yet-replayed quarantine file of `model` with its current config (RegistryError when the
    model is not registered); the hours that gained rows or labels are counted and the model's runs triggered."""
    config = registry.get(model)
    summary = ReplaySummary(model)
    for key in quarantine_files(store, model, since):
        summary.files += 1
        body = store.get(key)
        version = hashlib.sha256(body).hexdigest()[:32]
        if ledger.done(key, version):
            summary.skipped_files += 1
            continue
        parsed = parse_quarantine(body)
        entries = [e for e in parsed if e.raw]
        unreplayable = len(parsed) - len(entries)  # no raw line kept: they stay in the original file
        stem = source_file_stem(key, version)
        outcomes: list[tuple[str, ModelOutcome]] = []
        for kind in (KIND_CAPTURE, KIND_GROUND_TRUTH):
            group = [e for e in entries if e.kind == kind]
            if group:
                # Two kinds in one file would share the stem: the kind keeps their lake file names apart.
                kind_stem = stem if kind == KIND_CAPTURE else source_file_stem(key + "#labels", version)
                outcomes.append((kind, _decode(kind, group, config, store.uri(key), store, kind_stem, clock)))
        counters = [
            CounterDelta(model, hour, rows=n, data_version=1)
            if kind == KIND_CAPTURE
            else CounterDelta(model, hour, labels=n, label_version=1)
            for kind, outcome in outcomes
            for hour, n in outcome.rows_per_hour.items()
        ]
        rows = sum(o.rows for _, o in outcomes)
        still = sum(o.quarantined for _, o in outcomes)
        if rows == 0:
            # Nothing decodes yet: the file stays as it is for a later replay, and its copy is dropped, so replaying
            # with an unchanged config writes nothing new.
            store.delete([o.quarantine_file.key for _, o in outcomes if o.quarantine_file is not None])
            summary.unchanged_files += 1
            summary.still_quarantined += len(parsed)
            logger.info("quarantine file still does not decode", model=model, key=key, records=len(entries))
            continue
        main_kind = outcomes[0][0] if outcomes else KIND_CAPTURE
        record = ObjectRecord(
            bucket=getattr(ledger, "bucket", ""),
            key=key,
            version=version,
            kind=main_kind,
            status=STATUS_INGESTED,
            models=[model],
            rows=rows,
            quarantined=still,
            reason="quarantine replay",
        )
        if not ledger.record(record, counters, clock.now()):
            logger.info("quarantine file replayed concurrently; skipped", model=model, key=key)
            summary.skipped_files += 1
            continue
        summary.replayed_files += 1
        summary.records += len(entries)
        summary.rows += rows
        summary.still_quarantined += still + unreplayable
        logger.info("quarantine file replayed", model=model, key=key, records=len(entries), rows=rows, still=still)
    if summary.rows and state is not None:
        summary.triggered = trigger_runs(
            [model],
            state=state,
            registry=registry,
            sfn_client=sfn_client,
            state_machine_arn=state_machine_arn,
            clock=clock,
        )
    return summary
