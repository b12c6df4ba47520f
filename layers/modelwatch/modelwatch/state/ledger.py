"""The ledger of published datapoints and notified alerts (CloudWatch never overwrites a datapoint).

One item per series of one chunk (`keys.ledger_sk`), holding the version (a hash of the value and the chunk's row
count) that was published; a series is sent again only when its version changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.state import keys
from modelwatch.state.table import StateTable, epoch

# Ledger items outlive CloudWatch's two-week window by far: an alert notified for an old chunk stays notified.
LEDGER_TTL_DAYS = 400


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    version: str
    value: float | None = None


def ledger_key(series: str, metric: str, chunk_start: datetime | str) -> str:
    """The ledger sort key of one series (estimated, realized, alert_estimated, ...) of one chunk."""
    when = chunk_start if isinstance(chunk_start, str) else to_utc(chunk_start).isoformat().replace("+00:00", "Z")
    return keys.ledger_sk(series, metric, when)


class Ledger:
    """Published versions per model."""

    def __init__(self, table: StateTable, *, ttl_days: int = LEDGER_TTL_DAYS) -> None:
        self._table = table
        self.ttl_days = ttl_days

    def versions(self, model: str, entry_keys: Iterable[str]) -> dict[str, str]:
        """The published version of each key that is in the ledger (missing keys are absent).

        Read eventually consistent, at half the read units: every run reads the whole lookback's keys (4,704 for 14
        days of hourly chunks with 14 series each), the largest DynamoDB item of the bill. The entries it reads were
        written by earlier runs (runs of a model never overlap: its lease), so they are settled; a read that missed an
        entry written within the last second (a Publish retried at once) sends that datapoint again: an equal
        duplicate, which moves a period's Sum and SampleCount but not its Average, Minimum or Maximum."""
        pk = keys.ledger_pk(model)
        found = self._table.batch_get(
            (keys.Key(pk, key) for key in entry_keys), "sk, version", f"ledger read for {model}", consistent=False
        )
        return {str(item[keys.SK]): str(item.get("version", "")) for item in found}

    def record(self, model: str, entries: Iterable[LedgerEntry], *, run_id: str, now: datetime) -> int:
        """Write entries (published after CloudWatch/SNS accepted them); returns how many were written."""
        pk = keys.ledger_pk(model)
        expires = epoch(now + timedelta(days=self.ttl_days))
        items: list[dict[str, Any]] = []
        for entry in {e.key: e for e in entries}.values():
            item: dict[str, Any] = {
                keys.PK: pk,
                keys.SK: entry.key,
                "version": entry.version,
                "run_id": run_id,
                "published_at": to_utc(now).isoformat().replace("+00:00", "Z"),
                keys.TTL_ATTRIBUTE: expires,
            }
            if entry.value is not None and math.isfinite(entry.value):
                item["value"] = Decimal(repr(float(entry.value)))
            items.append(item)
        return self._table.batch_write(items, [], f"ledger write for {model}")

    def delete_model(self, model: str) -> int:
        """Forget everything published for a model (unregister); returns the number of items deleted."""
        found = [keys.Key(i[keys.PK], i[keys.SK]) for i in self._table.query(keys.ledger_pk(model), keys_only=True)]
        return self._table.batch_write([], found, f"ledger delete for {model}")
