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


def _send_back(sqs_client: Any, dlq_url: str, destination_url: str, messages: list[dict[str, Any]]) -> int:
    """Send messages (at most ten) to the destination, then delete from the DLQ those that arrived; how many did."""
    if not messages:
        return 0
    entries = []
    for index, message in enumerate(messages):
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        entries.append(entry)
    sent = sqs_client.send_message_batch(QueueUrl=destination_url, Entries=entries)
    done = {item["Id"] for item in sent.get("Successful", [])}
    # Only what reached the destination leaves the DLQ; the rest reappears after its visibility timeout.
    deletions = [
        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
        for index, message in enumerate(messages)
        if str(index) in done
    ]
    if deletions:
        sqs_client.delete_message_batch(QueueUrl=dlq_url, Entries=deletions)
    if sent.get("Failed"):
        logger.warning("some messages could not be sent back", failed=len(sent["Failed"]))
    return len(deletions)


def _receive(sqs_client: Any, dlq_url: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    return list(
        sqs_client.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=count, MessageAttributeNames=["All"], WaitTimeSeconds=0, **extra
        ).get("Messages", [])
    )


def move_messages(sqs_client: Any, dlq_url: str, source_url: str, limit: int | None = None) -> int:
    """Receive, send to the source queue, then delete, ten at a time, until the DLQ is empty (or `limit`)."""
    moved = 0
    while limit is None or moved < limit:
        batch = _receive(sqs_client, dlq_url, _BATCH if limit is None else min(_BATCH, limit - moved))
        if not batch:
            break
        sent = _send_back(sqs_client, dlq_url, source_url, batch)
        moved += sent
        if sent < len(batch):
            break
    return moved


@dataclass
class RouteResult:
    """Messages of a DLQ shared by several targets, moved back per target; `left` had no queue to go back to."""

    dlq_url: str
    moved: dict[str, int]
    left: int


def route_by_target(
    sqs_client: Any, dlq_url: str, destinations: dict[str, str], hold_seconds: int = 300
) -> RouteResult:
    """Move each message of an EventBridge dead-letter queue back to the queue it failed to reach.

    EventBridge (and EventBridge Scheduler) tag a dead letter with the `TARGET_ARN` it could not deliver to;
    `destinations` maps queue ARNs to their URLs. Messages for any other target (a schedule's function or state
    machine: the next scheduled run covers it) stay in the DLQ, hidden for `hold_seconds` so this pass ends.
    """
    moved = dict.fromkeys(destinations.values(), 0)
    left = 0
    while batch := _receive(sqs_client, dlq_url, _BATCH, VisibilityTimeout=hold_seconds):
        by_destination: dict[str, list[dict[str, Any]]] = {}
        for message in batch:
            target = message.get("MessageAttributes", {}).get("TARGET_ARN", {}).get("StringValue", "")
            if target in destinations:
                by_destination.setdefault(destinations[target], []).append(message)
            else:
                left += 1
        for url, messages in by_destination.items():
            sent = _send_back(sqs_client, dlq_url, url, messages)
            moved[url] += sent
            left += len(messages) - sent
    logger.info("events dlq redriven", dlq=dlq_url, moved=sum(moved.values()), left=left)
    return RouteResult(dlq_url, moved, left)


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
