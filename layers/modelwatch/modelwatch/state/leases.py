"""Claims and leases: one Monitor execution per name, one label-triggered run per debounce interval, one compaction
of a partition at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from modelwatch.state import keys
from modelwatch.state.table import StateTable


class Leases:
    """Conditional items of the state table that one caller holds at a time."""

    def __init__(self, table: StateTable) -> None:
        self._table = table

    def claim_run(self, model: str, execution_name: str, attrs: Mapping[str, Any]) -> bool:
        """Take (model, execution name) for good; True when this call took it (a run under this name may start)."""
        return self._table.claim(keys.run_claim_key(model, execution_name), attrs)

    def release_run(self, model: str, execution_name: str) -> None:
        """Give a claim back (nothing was started under it)."""
        self._table.delete(keys.run_claim_key(model, execution_name))

    def debounce_labels(self, model: str, now: datetime, until: datetime) -> bool:
        """True at most once per interval per model: a label-triggered run may start."""
        return self._table.claim_until(keys.label_debounce_key(model), now, until)

    @contextmanager
    def compaction(self, partition_prefix: str, now: datetime, until: datetime) -> Iterator[bool]:
        """Hold the partition's compaction lease for the block (yields False when another holder has it)."""
        key = keys.compaction_lease_key(partition_prefix)
        taken = self._table.claim_until(key, now, until)
        try:
            yield taken
        finally:
            if taken:
                self._table.delete(key)
