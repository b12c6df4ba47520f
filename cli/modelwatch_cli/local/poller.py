"""An SQS event source mapping done locally: batches of BatchSize, partial batch failures, redrive by moto."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelwatch_cli.local.adapter import InvocationResult


@dataclass
class PollStats:
    batches: int = 0
    messages: int = 0
    succeeded: int = 0
    failed: int = 0


class SqsPoller:
    """Polls one queue and invokes one function with Lambda's SQS batch event.

    Like Lambda's event source mapping: a batch holds at most `batch_size` messages; with ReportBatchItemFailures
    only the reported messages stay in the queue (their visibility is reset, so they come back), the rest are
    deleted; a raised error (or a failure without ReportBatchItemFailures) keeps the whole batch. moto counts
    receives and moves a message to the dead-letter queue after the redrive policy's maxReceiveCount.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        batch_size: int,
        report_batch_item_failures: bool,
        invoke: Callable[[dict[str, Any]], InvocationResult],
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self.batch_size = max(1, min(batch_size, 10_000))
        self._report_failures = report_batch_item_failures
        self._invoke = invoke
        self.stats = PollStats()

    def poll_once(self) -> int:
        """Receive and process one batch; returns how many messages it held (0 when the queue looked empty)."""
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            response = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = response.get("Messages", [])
            if not received:
                break
            messages.extend(received)
        if not messages:
            return 0
        self.stats.batches += 1
        self.stats.messages += len(messages)
        event = {"Records": [self._record(m) for m in messages]}
        result = self._invoke(event)
        failed_ids = self._failed_ids(result, messages)
        by_id = {m["MessageId"]: m for m in messages}
        for message_id, message in by_id.items():
            if message_id in failed_ids:
                # Back to the queue now (Lambda would wait for the visibility timeout; simulated time does not).
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.stats.failed += len(failed_ids)
        self.stats.succeeded += len(messages) - len(failed_ids)
        return len(messages)

    def drain(self, max_batches: int = 10_000) -> int:
        """Poll until the queue is empty (failed messages are retried until moto redrives them)."""
        total = 0
        for _ in range(max_batches):
            handled = self.poll_once()
            if handled == 0:
                break
            total += handled
        return total

    def _failed_ids(self, result: InvocationResult, messages: list[dict[str, Any]]) -> set[str]:
        all_ids = {m["MessageId"] for m in messages}
        if result.error_type is not None:
            return all_ids
        if not self._report_failures:
            return set()
        payload = result.payload if isinstance(result.payload, dict) else {}
        failures = payload.get("batchItemFailures") or []
        failed = {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)}
        if failed - all_ids:
            # Lambda treats an unknown or empty identifier as a failure of the whole batch.
            return all_ids
        return failed

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        now_ms = str(int(time.time() * 1000))
        body = message["Body"]
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", now_ms),
                "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
                "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", now_ms),
            },
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
