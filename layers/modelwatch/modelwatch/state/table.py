"""The state table behind a low-level boto3 DynamoDB client: typed items in, typed items out, retries built in.

Only the repositories of this package use it; nothing else sees the client or the table name.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from modelwatch.clock import to_utc
from modelwatch.errors import LakeError, ModelwatchError, PublishError
from modelwatch.observability import logger
from modelwatch.retry import call_with_retries
from modelwatch.state.keys import PK, SK, TTL_ATTRIBUTE, Key

MAX_TRANSACTION_ITEMS = 100
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
MAX_UNPROCESSED_ROUNDS = 8

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values as DynamoDB attribute values (None values are left out)."""
    return {name: _SERIALIZER.serialize(value) for name, value in item.items() if value is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


def epoch(when: datetime) -> int:
    """Seconds since the epoch (the TTL attribute's unit)."""
    return int(to_utc(when).timestamp())


def _key(key: Key) -> dict[str, Any]:
    return serialize({PK: key.pk, SK: key.sk})


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _cancellation_codes(exc: ClientError) -> set[str]:
    reasons = exc.response.get("CancellationReasons") or []
    return {str(r.get("Code")) for r in reasons if r.get("Code") not in (None, "None")}


def cancelled_by_conflict(exc: ClientError) -> bool:
    """A transaction cancelled because another request was updating one of its items at the same time.

    Concurrent ingests of files for the same hour update the same counter items; DynamoDB cancels one of them with
    reason `TransactionConflict`, which the SDK's standard retry mode does not retry.
    """
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    codes = _cancellation_codes(exc)
    return "TransactionConflict" in codes if codes else "TransactionConflict" in str(exc)


def cancelled_by_condition(exc: ClientError) -> bool:
    """A cancelled transaction whose only failures are condition checks (the item already exists)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    codes = _cancellation_codes(exc)
    if codes:
        return codes == {"ConditionalCheckFailed"}
    return "ConditionalCheckFailed" in str(exc)


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


def update_expression(
    set_attrs: Mapping[str, Any], add: Mapping[str, int | float], remove: Iterable[str] = ()
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """`SET #s0 = :s0 ... ADD #a0 :a0 ... REMOVE #r0 ...` with its names and (plain) values."""
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
    removes = []
    for index, name in enumerate(remove):
        names[f"#r{index}"] = name
        removes.append(f"#r{index}")
    if removes:
        clauses.append("REMOVE " + ", ".join(removes))
    return " ".join(clauses), names, values


class StateTable:
    """Item operations on the state table; errors are LakeError naming the item."""

    def __init__(
        self,
        client: Any,
        table: str,
        conflict_retry: ConflictRetry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.name = table
        self.conflict_retry = conflict_retry or ConflictRetry()
        self._sleep = sleep

    # ------------------------------------------------------------ single items
    def get(self, key: Key, consistent: bool = True) -> dict[str, Any] | None:
        """The item's attributes (pk and sk included), or None."""
        try:
            response = self._client.get_item(TableName=self.name, Key=_key(key), ConsistentRead=consistent)
        except ClientError as exc:
            raise LakeError(f"state table {self.name}: cannot read {key.pk}/{key.sk}: {exc}") from exc
        item = response.get("Item")
        return deserialize(item) if item else None

    def put(
        self,
        key: Key,
        attrs: Mapping[str, Any] | None = None,
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> bool:
        """Put the item (replacing it), under `condition` when given; False when the condition does not hold."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": serialize({**(attrs or {}), PK: key.pk, SK: key.sk})}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = serialize(values)
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        try:
            self._client.put_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise LakeError(f"state table {self.name}: cannot write {key.pk}/{key.sk}: {exc}") from exc
        return True

    def update(
        self,
        key: Key,
        *,
        set_attrs: Mapping[str, Any] | None = None,
        add: Mapping[str, int | float] | None = None,
        remove: Iterable[str] = (),
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        error: type[ModelwatchError] = LakeError,
    ) -> bool:
        """SET, ADD and REMOVE attributes, optionally under a condition (False when it does not hold)."""
        expression, names, expr_values = update_expression(set_attrs or {}, add or {}, remove)
        if not expression:
            return True
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": _key(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
        }
        all_values = {**expr_values, **(values or {})}
        if all_values:
            kwargs["ExpressionAttributeValues"] = serialize(all_values)
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            self._client.update_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise error(f"state table {self.name}: cannot update {key.pk}/{key.sk}: {exc}") from exc
        return True

    def delete(self, key: Key) -> None:
        try:
            self._client.delete_item(TableName=self.name, Key=_key(key))
        except ClientError as exc:
            raise LakeError(f"state table {self.name}: cannot delete {key.pk}/{key.sk}: {exc}") from exc

    def claim(self, key: Key, attrs: Mapping[str, Any] | None = None) -> bool:
        """Create the item only if it does not exist yet; True when this call created it."""
        return self.put(key, attrs, condition=f"attribute_not_exists({PK})")

    def claim_until(self, key: Key, now: datetime, until: datetime, attrs: Mapping[str, Any] | None = None) -> bool:
        """A lease/debounce: take the item if it is absent or its `held_until` has passed; True when taken."""
        item = {**(attrs or {}), "held_until": to_utc(until).isoformat(), TTL_ATTRIBUTE: epoch(until) + 86400}
        return self.put(
            key,
            item,
            condition=f"attribute_not_exists({PK}) OR held_until < :now",
            values={":now": to_utc(now).isoformat()},
        )

    # ------------------------------------------------------------ many items
    def query(
        self, pk: str, sk_prefix: str = "", consistent: bool = True, keys_only: bool = False
    ) -> Iterator[dict[str, Any]]:
        """All items of a partition key whose sort key starts with `sk_prefix`, in sort-key order."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :prefix)" if sk_prefix else ""),
            "ExpressionAttributeValues": serialize({":pk": pk, **({":prefix": sk_prefix} if sk_prefix else {})}),
            "ConsistentRead": consistent,
        }
        if keys_only:
            kwargs["ProjectionExpression"] = "pk, sk"
        paginator = self._client.get_paginator("query")
        try:
            for page in paginator.paginate(**kwargs):
                for item in page.get("Items", []):
                    yield deserialize(item)
        except ClientError as exc:
            raise LakeError(f"state table {self.name}: cannot query {pk}: {exc}") from exc

    def transact(self, items: list[dict[str, Any]], allow_condition_failure: bool) -> bool:
        """One TransactWriteItems call (at most 100 items); False if it was cancelled only by condition checks.

        A cancellation by `TransactionConflict` is retried with jittered backoff (ConflictRetry); any other error,
        or conflicts that outlast the retries, is a LakeError.
        """
        retry = self.conflict_retry
        attempt = 0
        while True:
            try:
                self._client.transact_write_items(TransactItems=items)
                return True
            except ClientError as exc:
                if allow_condition_failure and cancelled_by_condition(exc):
                    return False
                attempt += 1
                if not cancelled_by_conflict(exc):
                    raise LakeError(f"state table {self.name}: transaction failed: {exc}") from exc
                if attempt >= retry.attempts:
                    raise LakeError(
                        f"state table {self.name}: transaction conflicts persisted over {attempt} attempts: {exc}"
                    ) from exc
                delay = retry.delay(attempt - 1)
                logger.info("state transaction conflict; retrying", attempt=attempt, delay_s=round(delay, 3))
                retry.sleep(delay)

    def conditional_put_item(self, key: Key, attrs: Mapping[str, Any], condition: str, **expression: Any) -> dict:
        """A `Put` for `transact`: the item under a condition (`ExpressionAttributeNames`/`Values` as keywords)."""
        put: dict[str, Any] = {
            "TableName": self.name,
            "Item": serialize({**attrs, PK: key.pk, SK: key.sk}),
            "ConditionExpression": condition,
        }
        if expression.get("names"):
            put["ExpressionAttributeNames"] = dict(expression["names"])
        if expression.get("values"):
            put["ExpressionAttributeValues"] = serialize(expression["values"])
        return {"Put": put}

    def add_update(self, key: Key, increments: Mapping[str, int]) -> dict[str, Any]:
        """An `Update` for `transact` adding to numeric attributes."""
        expression, names, values = update_expression({}, increments)
        return {
            "Update": {
                "TableName": self.name,
                "Key": _key(key),
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def _until_processed(
        self, operation: str, request: dict[str, Any], leftover: str, what: str
    ) -> list[dict[str, Any]]:
        """One batch call, asked again with what DynamoDB left unprocessed (throttled calls retried too); the
        responses. PublishError when items stay unprocessed after MAX_UNPROCESSED_ROUNDS rounds."""
        responses = []
        for _ in range(MAX_UNPROCESSED_ROUNDS):

            def call(request: dict[str, Any] = request) -> Any:
                return getattr(self._client, operation)(RequestItems=request)

            response = call_with_retries(call, f"{what} ({operation})", sleep=self._sleep)
            responses.append(response)
            request = response.get(leftover) or {}
            if not request:
                return responses
            self._sleep(0.2)
        raise PublishError(f"{what}: items still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds")

    def batch_get(
        self, keys: Iterable[Key], projection: str, what: str, *, consistent: bool = True
    ) -> list[dict[str, Any]]:
        """BatchGetItem of many keys (100 a call, unprocessed keys asked again); PublishError after retries. An
        eventually consistent read (`consistent=False`) costs half the read units of a strongly consistent one."""
        unique = sorted(set(keys))
        found: list[dict[str, Any]] = []
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.name: {
                    "Keys": [_key(key) for key in unique[start : start + BATCH_GET_LIMIT]],
                    "ProjectionExpression": projection,
                    "ConsistentRead": consistent,
                }
            }
            for response in self._until_processed("batch_get_item", request, "UnprocessedKeys", what):
                found.extend(deserialize(item) for item in response.get("Responses", {}).get(self.name, []))
        return found

    def batch_write(self, puts: Iterable[Mapping[str, Any]], deletes: Iterable[Key], what: str) -> int:
        """BatchWriteItem of puts (plain items with pk/sk) and deletes, 25 a call, unprocessed items sent again."""
        requests = [{"PutRequest": {"Item": serialize(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": _key(key)}} for key in deletes]
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            request: dict[str, Any] = {self.name: requests[start : start + BATCH_WRITE_LIMIT]}
            self._until_processed("batch_write_item", request, "UnprocessedItems", what)
        return len(requests)
