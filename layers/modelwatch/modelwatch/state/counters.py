"""A model's hourly counters: rows and labels ingested per inference hour, with versions that change on every file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelwatch.chunks import floor_hour
from modelwatch.clock import to_utc
from modelwatch.state import keys
from modelwatch.state.table import StateTable

ROWS = "rows"
LABELS = "labels"
DATA_VERSION = "data_version"  # +1 per source file adding rows to the hour
LABEL_VERSION = "label_version"  # +1 per ground-truth file labelling rows of the hour


@dataclass(frozen=True)
class HourCounter:
    """One model's counters for one inference hour."""

    hour: datetime
    rows: int = 0
    labels: int = 0
    data_version: int = 0
    label_version: int = 0


@dataclass
class CounterDelta:
    """Increments for one model hour: rows/data_version from captures, labels/label_version from ground truth."""

    model: str
    hour: datetime
    rows: int = 0
    labels: int = 0
    data_version: int = 0
    label_version: int = 0

    def increments(self) -> dict[str, int]:
        values = {
            ROWS: self.rows,
            LABELS: self.labels,
            DATA_VERSION: self.data_version,
            LABEL_VERSION: self.label_version,
        }
        return {name: value for name, value in values.items() if value}


def merge(deltas: Iterable[CounterDelta]) -> list[CounterDelta]:
    """Deltas for the same (model, hour) added together, in (model, hour) order."""
    merged: dict[tuple[str, datetime], CounterDelta] = {}
    for delta in deltas:
        hour = floor_hour(delta.hour)
        current = merged.setdefault((delta.model, hour), CounterDelta(delta.model, hour))
        current.rows += delta.rows
        current.labels += delta.labels
        current.data_version += delta.data_version
        current.label_version += delta.label_version
    return [merged[k] for k in sorted(merged)]


def _counter(item: dict[str, Any]) -> HourCounter:
    return HourCounter(
        hour=keys.parse_hour_sk(item[keys.SK]),
        rows=int(item.get(ROWS, 0)),
        labels=int(item.get(LABELS, 0)),
        data_version=int(item.get(DATA_VERSION, 0)),
        label_version=int(item.get(LABEL_VERSION, 0)),
    )


class HourCounters:
    """Read the counters; they are written only together with a processed object (`ProcessedObjects.record`)."""

    def __init__(self, table: StateTable) -> None:
        self._table = table

    def hours(self, model: str, start: datetime | None = None, end: datetime | None = None) -> list[HourCounter]:
        """The model's hourly counters in hour order, optionally within [start, end)."""
        counters = []
        for item in self._table.query(keys.model_pk(model), keys.HOUR_PREFIX):
            counter = _counter(item)
            if start is not None and counter.hour < floor_hour(start):
                continue
            if end is not None and counter.hour >= to_utc(end):
                continue
            counters.append(counter)
        return counters

    def updates(self, deltas: Iterable[CounterDelta]) -> list[dict[str, Any]]:
        """Transaction items adding the merged deltas to their hours' counters."""
        return [
            self._table.add_update(keys.hour_key(delta.model, delta.hour), delta.increments())
            for delta in merge(deltas)
            if delta.increments()
        ]
