"""The DynamoDB state store: processed source objects, per-model hourly counters, leases and run state.

Items (table `pk` S, `sk` S, TTL attribute `expires_at`):
- processed object: pk=`object#<bucket>/<key>`, sk=`<version id or etag>`; attributes `status`, `kind`, `models`,
  `rows`, `processed_at`. Authoritative for idempotency: an object with this item is never ingested again.
- hourly counters: pk=`model#<name>`, sk=`hour#<YYYY-MM-DDTHH>`; `rows`, `labels` (N), `data_version` (+1 per source
  file adding rows to the hour), `label_version` (+1 per ground-truth file labelling rows of the hour).
- run state: pk=`model#<name>`, sk=`state` (written by the workflow, not here).

Recording an object and its counter increments is one TransactWriteItems call (a conditional Put of the object item
plus ADD updates), so either both happen or neither. Above the transaction size limit the counters are split over
several transactions; each earlier part carries its own conditional marker item, so a retried ingest re-applies only
the parts that did not commit and the object item (written with the last part) still means "fully recorded".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from modelwatch.clock import to_utc
from modelwatch.errors import LakeError
from modelwatch.observability import logger

OBJECT_PREFIX = "object#"
MODEL_PREFIX = "model#"
HOUR_PREFIX = "hour#"
STATE_SK = "state"
TTL_ATTRIBUTE = "expires_at"
HOUR_FORMAT = "%Y-%m-%dT%H"
MAX_TRANSACTION_ITEMS = 100
PART_MARKER_TTL = timedelta(days=30)
# Status of an object no registered model reads (yet); such a record may be replaced by a later ingest.
OBJECT_SKIPPED = "skipped"

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


# ---------------------------------------------------------------- key builders
def object_pk(bucket: str, key: str) -> str:
    return f"{OBJECT_PREFIX}{bucket}/{key}"


def model_pk(model: str) -> str:
    return f"{MODEL_PREFIX}{model}"


def hour_sk(hour: datetime) -> str:
    return HOUR_PREFIX + to_utc(hour).strftime(HOUR_FORMAT)


def parse_hour_sk(sk: str) -> datetime:
    return to_utc(datetime.strptime(sk.removeprefix(HOUR_PREFIX), HOUR_FORMAT))


def floor_hour(when: datetime) -> datetime:
    return to_utc(when).replace(minute=0, second=0, microsecond=0)


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
            "rows": self.rows,
            "labels": self.labels,
            "data_version": self.data_version,
            "label_version": self.label_version,
        }
        return {name: value for name, value in values.items() if value}


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


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in item.items() if value is not None}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


def _epoch(when: datetime) -> int:
    return int(to_utc(when).timestamp())


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _cancellation_codes(exc: ClientError) -> set[str]:
    reasons = exc.response.get("CancellationReasons") or []
    return {str(r.get("Code")) for r in reasons if r.get("Code") not in (None, "None")}


def _cancelled_by_conflict(exc: ClientError) -> bool:
    """A transaction cancelled because another request was updating one of its items at the same time.

    Concurrent ingests of files for the same hour update the same counter items; DynamoDB cancels one of them with
    reason `TransactionConflict`, which the SDK's standard retry mode does not retry.
    """
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    codes = _cancellation_codes(exc)
    return "TransactionConflict" in codes if codes else "TransactionConflict" in str(exc)


@dataclass(frozen=True)
class ConflictRetry:
    """Retries of transactions cancelled by `TransactionConflict`: capped exponential backoff with full jitter."""

    attempts: int = 8
    base_seconds: float = 0.05
    cap_seconds: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random  # backoff jitter, not a secret

    def delay(self, attempt: int) -> float:
        return self.jitter() * min(self.cap_seconds, self.base_seconds * 2**attempt)


def _cancelled_by_condition(exc: ClientError) -> bool:
    """A cancelled transaction whose only failures are condition checks (the item already exists)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    codes = _cancellation_codes(exc)
    if codes:
        return codes == {"ConditionalCheckFailed"}
    return "ConditionalCheckFailed" in str(exc)


class StateStore:
    """The state table behind a low-level boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str, conflict_retry: ConflictRetry | None = None) -> None:
        self.client = client
        self.table = table
        self.conflict_retry = conflict_retry or ConflictRetry()

    # ------------------------------------------------------------ generic helpers
    def get_item(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        """The item's attributes (pk and sk included), or None."""
        try:
            response = self.client.get_item(
                TableName=self.table, Key=_serialize({"pk": pk, "sk": sk}), ConsistentRead=consistent
            )
        except ClientError as exc:
            raise LakeError(f"state table {self.table}: cannot read {pk}/{sk}: {exc}") from exc
        item = response.get("Item")
        return _deserialize(item) if item else None

    def put_item(self, pk: str, sk: str, attrs: Mapping[str, Any] | None = None) -> None:
        """Unconditional put (replaces the item)."""
        try:
            self.client.put_item(TableName=self.table, Item=_serialize({**(attrs or {}), "pk": pk, "sk": sk}))
        except ClientError as exc:
            raise LakeError(f"state table {self.table}: cannot write {pk}/{sk}: {exc}") from exc

    def conditional_put(
        self,
        pk: str,
        sk: str,
        attrs: Mapping[str, Any],
        condition: str,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> bool:
        """Put the item if `condition` holds; False when it does not."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": _serialize({**attrs, "pk": pk, "sk": sk}),
            "ConditionExpression": condition,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = _serialize(values)
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        try:
            self.client.put_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise LakeError(f"state table {self.table}: cannot write {pk}/{sk}: {exc}") from exc
        return True

    def claim(self, pk: str, sk: str, attrs: Mapping[str, Any] | None = None) -> bool:
        """Create the item only if it does not exist yet; True when this call created it."""
        return self.conditional_put(pk, sk, dict(attrs or {}), "attribute_not_exists(pk)")

    def claim_until(
        self, pk: str, sk: str, now: datetime, until: datetime, attrs: Mapping[str, Any] | None = None
    ) -> bool:
        """A lease/debounce: take the item if it is absent or its `held_until` has passed; True when taken."""
        item = {**(attrs or {}), "held_until": to_utc(until).isoformat(), TTL_ATTRIBUTE: _epoch(until) + 86400}
        return self.conditional_put(
            pk,
            sk,
            item,
            "attribute_not_exists(pk) OR held_until < :now",
            values={":now": to_utc(now).isoformat()},
        )

    def release(self, pk: str, sk: str) -> None:
        try:
            self.client.delete_item(TableName=self.table, Key=_serialize({"pk": pk, "sk": sk}))
        except ClientError as exc:
            raise LakeError(f"state table {self.table}: cannot delete {pk}/{sk}: {exc}") from exc

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set_attrs: Mapping[str, Any] | None = None,
        add: Mapping[str, int | float] | None = None,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        """SET and ADD attributes, optionally under a condition (False when it does not hold)."""
        expression, names, expr_values = _update_expression(set_attrs or {}, add or {})
        if not expression:
            return True
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": _serialize({"pk": pk, "sk": sk}),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _serialize({**expr_values, **(values or {})}),
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            self.client.update_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise LakeError(f"state table {self.table}: cannot update {pk}/{sk}: {exc}") from exc
        return True

    def query(self, pk: str, sk_prefix: str = "", consistent: bool = True) -> Iterator[dict[str, Any]]:
        """All items of a partition key whose sort key starts with `sk_prefix`, in sort-key order."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :prefix)" if sk_prefix else ""),
            "ExpressionAttributeValues": _serialize({":pk": pk, **({":prefix": sk_prefix} if sk_prefix else {})}),
            "ConsistentRead": consistent,
        }
        paginator = self.client.get_paginator("query")
        try:
            for page in paginator.paginate(**kwargs):
                for item in page.get("Items", []):
                    yield _deserialize(item)
        except ClientError as exc:
            raise LakeError(f"state table {self.table}: cannot query {pk}: {exc}") from exc

    # ------------------------------------------------------------ processed objects
    def processed(self, bucket: str, key: str, version: str) -> dict[str, Any] | None:
        """The record of a processed source object version, or None."""
        return self.get_item(object_pk(bucket, key), version)

    def is_processed(self, bucket: str, key: str, version: str) -> bool:
        return self.processed(bucket, key, version) is not None

    def record_object(self, record: ObjectRecord, counters: Iterable[CounterDelta], now: datetime) -> bool:
        """Record the object and apply its counter increments atomically; False if it was already recorded.

        Counters for the same (model, hour) are merged first. Up to 99 counter updates go in one transaction with
        the object item; more are applied in earlier transactions, each guarded by a part marker item.
        """
        merged = _merge(counters)
        updates = [self._counter_update(delta) for delta in merged if delta.increments()]
        pk = object_pk(record.bucket, record.key)
        attrs = {
            "kind": record.kind,
            "status": record.status,
            "models": list(record.models),
            "rows": record.rows,
            "quarantined": record.quarantined,
            "reason": record.reason or None,
            "processed_at": to_utc(now).isoformat(),
        }
        # A "skipped" record (no model read the object yet) may be replaced: once a model is registered, the same
        # object (redelivered or backfilled) is ingested instead of being skipped for ever.
        final_put = self._conditional_put_item(pk, record.version, attrs, replace_skipped=True)
        room = MAX_TRANSACTION_ITEMS - 1
        head, tail = updates[: max(0, len(updates) - room)], updates[max(0, len(updates) - room) :]
        # Earlier parts first; the object item commits last, so "recorded" implies every part committed.
        for index, start in enumerate(range(0, len(head), room)):
            marker = self._conditional_put_item(
                pk,
                f"{record.version}#part{index}",
                {"status": "part", TTL_ATTRIBUTE: _epoch(to_utc(now) + PART_MARKER_TTL)},
            )
            self._transact([marker, *head[start : start + room]], allow_condition_failure=True)
        return self._transact([final_put, *tail], allow_condition_failure=True)

    def _conditional_put_item(
        self, pk: str, sk: str, attrs: Mapping[str, Any], replace_skipped: bool = False
    ) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": _serialize({**attrs, "pk": pk, "sk": sk}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if replace_skipped:
            put["ConditionExpression"] = "attribute_not_exists(pk) OR #status = :skipped"
            put["ExpressionAttributeNames"] = {"#status": "status"}
            put["ExpressionAttributeValues"] = _serialize({":skipped": OBJECT_SKIPPED})
        return {"Put": put}

    def _counter_update(self, delta: CounterDelta) -> dict[str, Any]:
        expression, names, values = _update_expression({}, delta.increments())
        return {
            "Update": {
                "TableName": self.table,
                "Key": _serialize({"pk": model_pk(delta.model), "sk": hour_sk(delta.hour)}),
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": _serialize(values),
            }
        }

    def _transact(self, items: list[dict[str, Any]], allow_condition_failure: bool) -> bool:
        """One TransactWriteItems call; False if it was cancelled only by condition checks (already recorded).

        A cancellation by `TransactionConflict` is retried with jittered backoff (ConflictRetry); any other error,
        or conflicts that outlast the retries, is a LakeError.
        """
        retry = self.conflict_retry
        attempt = 0
        while True:
            try:
                self.client.transact_write_items(TransactItems=items)
                return True
            except ClientError as exc:
                if allow_condition_failure and _cancelled_by_condition(exc):
                    return False
                attempt += 1
                if not _cancelled_by_conflict(exc):
                    raise LakeError(f"state table {self.table}: transaction failed: {exc}") from exc
                if attempt >= retry.attempts:
                    raise LakeError(
                        f"state table {self.table}: transaction conflicts persisted over {attempt} attempts: {exc}"
                    ) from exc
                delay = retry.delay(attempt - 1)
                logger.info("state transaction conflict; retrying", attempt=attempt, delay_s=round(delay, 3))
                retry.sleep(delay)

    # ------------------------------------------------------------ counters
    def hour_counters(
        self, model: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[HourCounter]:
        """The model's hourly counters in hour order, optionally within [start, end)."""
        counters = []
        for item in self.query(model_pk(model), HOUR_PREFIX):
            hour = parse_hour_sk(item["sk"])
            if start is not None and hour < floor_hour(start):
                continue
            if end is not None and hour >= to_utc(end):
                continue
            counters.append(
                HourCounter(
                    hour=hour,
                    rows=int(item.get("rows", 0)),
                    labels=int(item.get("labels", 0)),
                    data_version=int(item.get("data_version", 0)),
                    label_version=int(item.get("label_version", 0)),
                )
            )
        return counters


def _merge(counters: Iterable[CounterDelta]) -> list[CounterDelta]:
    merged: dict[tuple[str, datetime], CounterDelta] = {}
    for delta in counters:
        hour = floor_hour(delta.hour)
        current = merged.setdefault((delta.model, hour), CounterDelta(delta.model, hour))
        current.rows += delta.rows
        current.labels += delta.labels
        current.data_version += delta.data_version
        current.label_version += delta.label_version
    return [merged[k] for k in sorted(merged)]


def _update_expression(
    set_attrs: Mapping[str, Any], add: Mapping[str, int | float]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    clauses = []
    sets = []
    for index, (name, value) in enumerate(set_attrs.items()):
        names[f"#s{index}"] = name
        values[f":s{index}"] = value
        sets.append(f"#s{index} = :s{index}")
    if sets:
        clauses.append("SET " + ", ".join(sets))
    adds = []
    for index, (name, value) in enumerate(add.items()):
        names[f"#a{index}"] = name
        values[f":a{index}"] = value
        adds.append(f"#a{index} :a{index}")
    if adds:
        clauses.append("ADD " + ", ".join(adds))
    return " ".join(clauses), names, values
