"""Processed source objects: recorded once, together with their counter increments, in one transaction.

Recording an object and its counter increments is one TransactWriteItems call (a conditional Put of the object item
plus ADD updates), so either both happen or neither. Above the transaction size limit the counters are split over
several transactions; each earlier part carries its own conditional marker item, so a retried ingest re-applies only
the parts that did not commit and the object item (written with the last part) still means "fully recorded".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.state import keys
from modelwatch.state.counters import CounterDelta, HourCounters
from modelwatch.state.table import MAX_TRANSACTION_ITEMS, StateTable, epoch

PART_MARKER_TTL = timedelta(days=30)
STATUS = "status"
# Status of an object no registered model reads (yet); such a record may be replaced by a later ingest.
OBJECT_SKIPPED = "skipped"
_NEW = f"attribute_not_exists({keys.PK})"


@dataclass
class ObjectRecord:
    """What is recorded for one processed source object."""

    bucket: str
    key: str
    version: str
    kind: str  # "capture" | "ground_truth"
    status: str  # "ingested" | "skipped"
    models: list[str] = field(default_factory=list)
    rows: int = 0
    quarantined: int = 0
    reason: str = ""


class ProcessedObjects:
    """Which source object versions were ingested (authoritative for idempotency)."""

    def __init__(self, table: StateTable, counters: HourCounters) -> None:
        self._table = table
        self._counters = counters

    def processed(self, bucket: str, key: str, version: str) -> dict[str, Any] | None:
        """The record of a processed source object version, or None."""
        return self._table.get(keys.object_key(bucket, key, version))

    def is_processed(self, bucket: str, key: str, version: str) -> bool:
        return self.processed(bucket, key, version) is not None

    def record(self, record: ObjectRecord, counters: Iterable[CounterDelta], now: datetime) -> bool:
        """Record the object and apply its counter increments atomically; False if it was already recorded.

        Counters for the same (model, hour) are merged first. Up to 99 counter updates go in one transaction with
        the object item; more are applied in earlier transactions, each guarded by a part marker item.
        """
        updates = self._counters.updates(counters)
        attrs = {
            "kind": record.kind,
            STATUS: record.status,
            "models": list(record.models),
            "rows": record.rows,
            "quarantined": record.quarantined,
            "reason": record.reason or None,
            "processed_at": to_utc(now).isoformat(),
        }
        # A "skipped" record (no model read the object yet) may be replaced: once a model is registered, the same
        # object (redelivered or backfilled) is ingested instead of being skipped for ever.
        final_put = self._table.conditional_put_item(
            keys.object_key(record.bucket, record.key, record.version),
            attrs,
            f"{_NEW} OR #status = :skipped",
            names={"#status": STATUS},
            values={":skipped": OBJECT_SKIPPED},
        )
        room = MAX_TRANSACTION_ITEMS - 1
        head, tail = updates[: max(0, len(updates) - room)], updates[max(0, len(updates) - room) :]
        # Earlier parts first; the object item commits last, so "recorded" implies every part committed.
        for index, start in enumerate(range(0, len(head), room)):
            marker = self._table.conditional_put_item(
                keys.object_part_key(record.bucket, record.key, record.version, index),
                {STATUS: "part", keys.TTL_ATTRIBUTE: epoch(to_utc(now) + PART_MARKER_TTL)},
                _NEW,
            )
            self._table.transact([marker, *head[start : start + room]], allow_condition_failure=True)
        return self._table.transact([final_put, *tail], allow_condition_failure=True)
