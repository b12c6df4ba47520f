"""All DynamoDB state behind typed repositories over one key scheme (`state.keys`).

`State(client, table)` is the one entry point: processed objects, hour counters, run state, leases, the ledger
of published datapoints and incidents share its table; nothing outside this package touches the client or builds a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from modelwatch.state import keys
from modelwatch.state.counters import CounterDelta, HourCounter, HourCounters
from modelwatch.state.incidents import IncidentRecord, Incidents
from modelwatch.state.leases import Leases
from modelwatch.state.ledger import Ledger, LedgerEntry, ledger_key
from modelwatch.state.objects import OBJECT_SKIPPED, ObjectRecord, ProcessedObjects
from modelwatch.state.runs import RunState, RunStates
from modelwatch.state.table import ConflictRetry, StateTable

__all__ = [
    "OBJECT_SKIPPED",
    "ConflictRetry",
    "CounterDelta",
    "HourCounter",
    "HourCounters",
    "IncidentRecord",
    "Incidents",
    "Leases",
    "Ledger",
    "LedgerEntry",
    "ObjectRecord",
    "ProcessedObjects",
    "RunState",
    "RunStates",
    "State",
    "StateTable",
    "ledger_key",
]


class State:
    """The state table's repositories."""

    def __init__(
        self,
        client: Any,
        table: str,
        conflict_retry: ConflictRetry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = StateTable(client, table, conflict_retry, sleep)
        self.counters = HourCounters(self._table)
        self.objects = ProcessedObjects(self._table, self.counters)
        self.runs = RunStates(self._table)
        self.leases = Leases(self._table)
        self.ledger = Ledger(self._table)
        self.incidents = Incidents(self._table)

    def delete_model(self, model: str) -> int:
        """Delete every item of a model (run state, hour counters, claims, incidents, ledger, its place in the fleet's
        alert index); returns how many."""
        self.incidents.delete_model(model)
        found = [keys.Key(i[keys.PK], i[keys.SK]) for i in self._table.query(keys.model_pk(model), keys_only=True)]
        return self._table.batch_write([], found, f"state delete for {model}") + self.ledger.delete_model(model)
