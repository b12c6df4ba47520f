"""The ledger of published datapoints and notified alerts in the state table (CloudWatch never overwrites).

Items: pk=`ledger#<model>`, sk=`<series>#<metric>#<chunk_start_iso>`, with the version (a hash of the value and
the chunk's row count) that was published; a series is sent again only when its version changes.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelwatch.constants import STATE_LEDGER_PK_PREFIX
from modelwatch.errors import PublishError
from modelwatch.publishing.metrics import iso
from modelwatch.publishing.retry import call_with_retries

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
MAX_UNPROCESSED_ROUNDS = 8
# Ledger items outlive CloudWatch's two-week window by far: an alert notified for an old chunk stays notified.
LEDGER_TTL_DAYS = 400


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    version: str
    value: float | None = None


def ledger_key(series: str, metric: str, chunk_start: datetime | str) -> str:
    """`<series>#<metric>#<chunk_start_iso>`: one series (estimated, realized, alert_estimated, ...) of one chunk."""
    when = chunk_start if isinstance(chunk_start, str) else iso(chunk_start)
    return f"{series}#{metric}#{when}"


def value_version(value: float | None, *parts: object) -> str:
    """A short hash of a value (12 significant digits) and the data it came from (row counts, coverage)."""
    text = "nan" if value is None or not math.isfinite(value) else f"{value:.12g}"
    joined = "|".join([text, *(str(p) for p in parts)])
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


class Ledger:
    """Published versions per model in the DynamoDB state table (low-level client)."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        ttl_days: int = LEDGER_TTL_DAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table = table
        self.ttl_days = ttl_days
        self._sleep = sleep

    @staticmethod
    def pk(model: str) -> str:
        return f"{STATE_LEDGER_PK_PREFIX}{model}"

    def versions(self, model: str, keys: Iterable[str]) -> dict[str, str]:
        """The published version of each key that is in the ledger (missing keys are absent)."""
        pk = self.pk(model)
        unique = sorted(set(keys))
        found: dict[str, str] = {}
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": pk}, "sk": {"S": key}} for key in unique[start : start + BATCH_GET_LIMIT]],
                    "ProjectionExpression": "sk, version",
                    "ConsistentRead": True,
                }
            }
            for _ in range(MAX_UNPROCESSED_ROUNDS):

                def get(request: dict[str, Any] = request) -> Any:
                    return self.client.batch_get_item(RequestItems=request)

                response = call_with_retries(get, "ledger read (BatchGetItem)", sleep=self._sleep)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["sk"]["S"]] = item.get("version", {}).get("S", "")
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.2)
            else:
                raise PublishError(
                    f"ledger read for {model}: keys still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds"
                )
        return found

    def record(self, model: str, entries: Iterable[LedgerEntry], *, run_id: str, now: datetime) -> int:
        """Write entries (published after CloudWatch/SNS accepted them); returns how many were written."""
        pk = self.pk(model)
        expires = int((now + timedelta(days=self.ttl_days)).timestamp())
        items = []
        for entry in {e.key: e for e in entries}.values():
            item: dict[str, Any] = {
                "pk": {"S": pk},
                "sk": {"S": entry.key},
                "version": {"S": entry.version},
                "run_id": {"S": run_id},
                "published_at": {"S": iso(now)},
                "expires_at": {"N": str(expires)},
            }
            if entry.value is not None and math.isfinite(entry.value):
                item["value"] = {"N": repr(float(entry.value))}
            items.append({"PutRequest": {"Item": item}})
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            request: dict[str, Any] = {self.table: items[start : start + BATCH_WRITE_LIMIT]}
            for _ in range(MAX_UNPROCESSED_ROUNDS):

                def write(request: dict[str, Any] = request) -> Any:
                    return self.client.batch_write_item(RequestItems=request)

                response = call_with_retries(write, "ledger write (BatchWriteItem)", sleep=self._sleep)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                self._sleep(0.2)
            else:
                raise PublishError(
                    f"ledger write for {model}: items still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds"
                )
        return len(items)

    def delete_model(self, model: str) -> int:
        """Forget everything published for a model (unregister); returns the number of items deleted."""
        keys: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": self.pk(model)}},
            "ProjectionExpression": "pk, sk",
        }
        for page in self.client.get_paginator("query").paginate(**kwargs):
            keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in page.get("Items", []))
        for start in range(0, len(keys), BATCH_WRITE_LIMIT):
            request: dict[str, Any] = {
                self.table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_LIMIT]]
            }
            for _ in range(MAX_UNPROCESSED_ROUNDS):

                def delete(request: dict[str, Any] = request) -> Any:
                    return self.client.batch_write_item(RequestItems=request)

                response = call_with_retries(delete, "ledger delete (BatchWriteItem)", sleep=self._sleep)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                self._sleep(0.2)
            else:
                raise PublishError(f"ledger delete for {model}: items still unprocessed")
        return len(keys)
