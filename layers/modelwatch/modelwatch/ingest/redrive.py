"""Redrive a dead-letter queue: move its messages back to the queue that feeds it, so the objects they announce are
ingested again after a fix (already-ingested objects are skipped by the state table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from modelwatch.errors import ConfigError
from modelwatch.observability import logger

METHOD_MOVE_TASK = "move-task"
METHOD_COPY = "receive-send-delete"
_BATCH = 10


@dataclass
class RedriveResult:
    """How many messages were moved (for a move task: how many the DLQ held when it started), and how."""

    dlq_url: str
    source_url: str
    moved: int
    method: str
    task_handle: str = ""


def queue_arn(sqs_client: Any, url: str) -> str:
    return str(sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def source_queue(sqs_client: Any, dlq_url: str) -> str:
    """The queue whose redrive policy names this DLQ (ConfigError when none or several do)."""
    try:
        urls = sqs_client.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    except ClientError as exc:
        raise ConfigError(f"{dlq_url}: cannot find the queue it is the dead-letter queue of: {exc}") from exc
    if len(urls) != 1:
        raise ConfigError(f"{dlq_url}: expected one source queue, found {len(urls)}; pass it explicitly")
    return str(urls[0])


def _start_move_task(sqs_client: Any, dlq_url: str, source_url: str) -> RedriveResult | None:
    """SQS's own redrive (asynchronous); None where it is not available (older endpoints, emulators)."""
    waiting = int(
        sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ].get("ApproximateNumberOfMessages", 0)
    )
    if waiting == 0:
        return RedriveResult(dlq_url, source_url, 0, METHOD_MOVE_TASK)
    try:
        response = sqs_client.start_message_move_task(
            SourceArn=queue_arn(sqs_client, dlq_url), DestinationArn=queue_arn(sqs_client, source_url)
        )
    except (ClientError, NotImplementedError) as exc:
        logger.info("message move task unavailable; moving messages one batch at a time", reason=str(exc)[:200])
        return None
    return RedriveResult(dlq_url, source_url, waiting, METHOD_MOVE_TASK, str(response.get("TaskHandle", "")))


def move_messages(sqs_client: Any, dlq_url: str, source_url: str, limit: int | None = None) -> int:
    """Receive, send to the source queue, then delete, ten at a time, until the DLQ is empty (or `limit`)."""
    moved = 0
    while limit is None or moved < limit:
        count = _BATCH if limit is None else min(_BATCH, limit - moved)
        batch = sqs_client.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=count, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        entries = []
        for index, message in enumerate(batch):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs_client.send_message_batch(QueueUrl=source_url, Entries=entries)
        done = {item["Id"] for item in sent.get("Successful", [])}
        # Only what reached the source queue leaves the DLQ; the rest reappears after its visibility timeout.
        deletions = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
            for index, message in enumerate(batch)
            if str(index) in done
        ]
        if deletions:
            sqs_client.delete_message_batch(QueueUrl=dlq_url, Entries=deletions)
        moved += len(deletions)
        if sent.get("Failed"):
            logger.warning("some messages could not be sent back", failed=len(sent["Failed"]))
            break
    return moved


def redrive(
    sqs_client: Any, dlq_url: str, source_url: str | None = None, *, use_move_task: bool = True
) -> RedriveResult:
    """Move the DLQ's messages back to their source queue: SQS's message move task where the endpoint has it,
    else receive/send/delete in batches (works everywhere, reports the exact count)."""
    source = source_url or source_queue(sqs_client, dlq_url)
    if use_move_task:
        started = _start_move_task(sqs_client, dlq_url, source)
        if started is not None:
            logger.info("dlq move task started", dlq=dlq_url, source=source, messages=started.moved)
            return started
    moved = move_messages(sqs_client, dlq_url, source)
    logger.info("dlq redriven", dlq=dlq_url, source=source, moved=moved)
    return RedriveResult(dlq_url, source, moved, METHOD_COPY)
