"""Incidents: per model and kind (degradation, improvement) the open incident or the last closed one, written under
an optimistic version so two runs of a model never both open or close it; and the fleet's index of models with an
open paging incident (what the fleet alarm counts).

The incident itself is a JSON document decided by `modelwatch.publishing.incidents`; this module only stores it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.errors import LakeError
from modelwatch.state import keys
from modelwatch.state.table import StateTable

OPEN = "open"
CLOSED = "closed"
DOCUMENT = "doc"
VERSION = "version"
STATUS = "status"


def _iso(value: datetime) -> str:
    return to_utc(value).isoformat().replace("+00:00", "Z")


@dataclass
class IncidentRecord:
    """One stored incident: its document and the version it was read at (0: never written)."""

    model: str
    kind: str
    document: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.document.get(STATUS) == OPEN


class Incidents:
    """Read and write models' incidents and the fleet's alert index."""

    def __init__(self, table: StateTable) -> None:
        self._table = table

    def load(self, model: str) -> dict[str, IncidentRecord]:
        """The model's incidents by kind (consistent read)."""
        found: dict[str, IncidentRecord] = {}
        for item in self._table.query(keys.model_pk(model), keys.INCIDENT_PREFIX):
            kind = str(item[keys.SK]).removeprefix(keys.INCIDENT_PREFIX)
            try:
                document = json.loads(str(item.get(DOCUMENT, "{}")))
            except ValueError as exc:
                raise LakeError(f"state table: incident {kind} of {model} is not valid JSON") from exc
            if not isinstance(document, dict):
                raise LakeError(f"state table: incident {kind} of {model} is not a JSON object")
            found[kind] = IncidentRecord(model, kind, document, int(item.get(VERSION, 0)))
        return found

    def save(self, record: IncidentRecord, document: dict[str, Any], now: datetime) -> bool:
        """Write `document` as the next version of `record`; False when another writer got there first."""
        attrs = {
            DOCUMENT: json.dumps(document, separators=(",", ":"), sort_keys=True, default=str),
            STATUS: str(document.get(STATUS, "")),
            VERSION: record.version + 1,
            "updated_at": _iso(now),
        }
        key = keys.incident_key(record.model, record.kind)
        if record.version == 0:
            return self._table.put(key, attrs, condition=f"attribute_not_exists({keys.PK})")
        return self._table.put(key, attrs, condition="#v = :v", values={":v": record.version}, names={"#v": VERSION})

    def open_incidents(self, model: str) -> list[IncidentRecord]:
        """The model's open incidents (`modelwatch status`)."""
        return [r for r in self.load(model).values() if r.is_open]

    def mark_fleet(self, model: str, in_alert: bool, now: datetime) -> None:
        """Add the model to the fleet's alert index, or take it out."""
        key = keys.fleet_alert_key(model)
        if in_alert:
            self._table.put(key, {"since": _iso(now)})
        else:
            self._table.delete(key)

    def models_in_alert(self) -> list[str]:
        """Models with an open paging incident, from the fleet index (consistent read)."""
        items = self._table.query(keys.FLEET_PK, keys.FLEET_ALERT_PREFIX, keys_only=True)
        return sorted(str(i[keys.SK]).removeprefix(keys.FLEET_ALERT_PREFIX) for i in items)

    def delete_model(self, model: str) -> None:
        """Take an unregistered model out of the fleet index (its incidents go with its other items)."""
        self._table.delete(keys.fleet_alert_key(model))
