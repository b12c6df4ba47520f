"""A model's run state: the last analysed chunk, the last run and its input version, the last error and trigger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.errors import WorkflowError
from modelwatch.state import keys
from modelwatch.state.table import StateTable

# Attribute names of the run state item. The Monitor state machine's RecordSuccess state writes the first four
# itself (a DynamoDB UpdateItem task); tests/unit/state checks that it uses these names and this key.
LAST_RUN = "last_run"
LAST_INPUT_VERSION = "last_input_version"
LAST_ANALYSED_CHUNK = "last_analysed_chunk"
LAST_RUN_AT = "last_run_at"
LAST_ERROR = "last_error"
LAST_RUN_DATA = "last_run_data"  # what the last published run left out: duplicates, skipped chunks, failed monitors
LABELS_UNMATCHED = "labels_unmatched"  # labels that matched no captured request when ingested (a running total)
LABELS_UNMATCHED_AT = "labels_unmatched_at"  # when the last such label was ingested
SUCCESS_ATTRIBUTES = (LAST_RUN, LAST_INPUT_VERSION, LAST_ANALYSED_CHUNK, LAST_RUN_AT)


def _plain(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) inside maps as int or float, so the state prints as JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def iso(value: datetime) -> str:
    return to_utc(value).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RunState:
    """What the workflow remembers about one model between runs (all times ISO-8601 UTC strings)."""

    model: str
    last_analysed_chunk: str | None = None  # end of the last chunk a successful run covered
    last_run: str | None = None  # run id (= execution name) of the last successful run
    last_run_at: str | None = None
    last_input_version: str | None = None
    last_error: dict[str, Any] | None = None  # {Error, Cause, run_id, at}
    last_triggered_end: str | None = None  # last chunk end a trigger started a run for
    last_triggered_labels: str | None = None  # label digest at that trigger
    last_triggered_sealed: int = 0
    last_execution: str | None = None
    last_run_data: dict[str, Any] | None = None  # {run_id, rows_superseded, rows_duplicate, chunks_skipped, ...}
    labels_unmatched: int = 0  # labels without a captured request at their ingestion, since the model's first label
    labels_unmatched_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, model: str, item: dict[str, Any] | None) -> RunState:
        if not item:
            return cls(model=model)
        known = {f for f in cls.__dataclass_fields__ if f not in ("model", "extra")}
        values: dict[str, Any] = {k: _plain(item[k]) for k in known if item.get(k) is not None}
        for name in ("last_triggered_sealed", LABELS_UNMATCHED):
            if name in values:
                values[name] = int(values[name])
        extra = {k: v for k, v in item.items() if k not in known and k not in (keys.PK, keys.SK)}
        return cls(model=model, extra=extra, **values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "last_analysed_chunk": self.last_analysed_chunk,
            "last_run": self.last_run,
            "last_run_at": self.last_run_at,
            "last_input_version": self.last_input_version,
            "last_error": self.last_error,
            "last_execution": self.last_execution,
            "last_run_data": self.last_run_data,
            "labels_unmatched": self.labels_unmatched,
            "labels_unmatched_at": self.labels_unmatched_at,
        }


class RunStates:
    """Read and write models' run state items; failures are WorkflowError naming the model."""

    def __init__(self, table: StateTable) -> None:
        self._table = table

    def load(self, model: str) -> RunState:
        try:
            item = self._table.get(keys.run_state_key(model))
        except Exception as exc:
            raise WorkflowError(f"model {model}: cannot read run state from {self._table.name}: {exc}") from exc
        return RunState.from_item(model, item)

    def _update(self, model: str, values: dict[str, Any], remove: tuple[str, ...] = ()) -> None:
        self._table.update(keys.run_state_key(model), set_attrs=values, remove=remove, error=WorkflowError)

    def record_trigger(
        self,
        model: str,
        *,
        execution_name: str,
        last_chunk_end: datetime | None,
        label_digest: str,
        sealed_chunks: int,
        now: datetime,
    ) -> None:
        """Remember what a trigger started, so the next burst of files does not start it again."""
        values: dict[str, Any] = {
            "last_execution": execution_name,
            "last_triggered_labels": label_digest,
            "last_triggered_sealed": sealed_chunks,
            "last_triggered_at": iso(now),
        }
        if last_chunk_end is not None:
            values["last_triggered_end"] = iso(last_chunk_end)
        self._update(model, values)

    def record_success(
        self, model: str, *, run_id: str, input_version: str, last_chunk_end: str, now: datetime
    ) -> None:
        """A run finished: remember its chunk end and input version, clear the last error.

        The Monitor state machine does the same in its RecordSuccess state (a DynamoDB UpdateItem task).
        """
        values = {
            LAST_RUN: run_id,
            LAST_INPUT_VERSION: input_version,
            LAST_ANALYSED_CHUNK: last_chunk_end,
            LAST_RUN_AT: iso(now),
        }
        self._update(model, values, remove=(LAST_ERROR,))

    def record_run_data(self, model: str, *, run_id: str, counts: dict[str, int]) -> None:
        """What a published run left out (counts only), shown by `modelwatch status`."""
        self._update(model, {LAST_RUN_DATA: {"run_id": run_id, **{k: int(v) for k, v in counts.items()}}})

    def add_unmatched_labels(self, model: str, count: int, now: datetime) -> None:
        """Labels of a ground-truth object that matched no captured request when ingested (counted, shown by
        `modelwatch status`; a capture arriving later still gets them joined by the next run)."""
        if count > 0:
            self._table.update(
                keys.run_state_key(model),
                set_attrs={LABELS_UNMATCHED_AT: iso(now)},
                add={LABELS_UNMATCHED: count},
                error=WorkflowError,
            )

    def record_failure(
        self, model: str, *, run_id: str, error: str, cause: str, now: datetime, repeats: int = 0
    ) -> None:
        """A run failed: remember the named error (shown by `modelwatch status`) and how often it failed the same way
        before (`repeats`: not notified again)."""
        entry: dict[str, Any] = {"Error": error, "Cause": cause[:4000], "run_id": run_id, "at": iso(now)}
        if repeats:
            entry["repeats"] = repeats
        self._update(model, {LAST_ERROR: entry})
