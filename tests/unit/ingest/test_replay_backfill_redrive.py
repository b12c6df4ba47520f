"""Domain pieces behind backfill, replay and report: failures counted, ground-truth replay, SQS move task, links."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelwatch.capture import QuarantinedRecord
from modelwatch.clock import SimulatedClock
from modelwatch.errors import CaptureReadError, ConfigError, RegistryError
from modelwatch.ingest.backfill import backfill_objects, object_time
from modelwatch.ingest.events import ObjectRef
from modelwatch.ingest.redrive import METHOD_COPY, METHOD_MOVE_TASK, redrive
from modelwatch.ingest.replay import LakeLedger, parse_quarantine, replay_quarantine
from modelwatch.ingest.service import IngestResult
from modelwatch.lake.layout import Partition
from modelwatch.lake.reader import read_rows
from modelwatch.lake.reports import console_link, find_report
from modelwatch.lake.store import LocalStore
from modelwatch.lake.writer import quarantine_lines
from modelwatch.registry.store import Registry
from tests.unit.ingest.helpers import capture_line, churn_config, ground_truth_key, ground_truth_line

T = datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_backfill_counts_a_failing_object_and_goes_on() -> None:
    refs = [ObjectRef("b", "k1", etag="e1"), ObjectRef("b", "k2", etag="e2"), ObjectRef("b", "k3", etag="e3")]

    def ingest(ref: ObjectRef) -> IngestResult:
        if ref.key == "k2":
            raise CaptureReadError("s3://b/k2: cannot read object: AccessDenied")
        status = "ingested" if ref.key == "k1" else "duplicate"
        return IngestResult(status, ref.bucket, ref.key, ref.version, "capture")

    seen: list[str] = []
    summary = backfill_objects(refs, ingest, lambda ref: seen.append(ref.key))
    assert (summary.objects, summary.ingested, summary.skipped, summary.failed) == (3, 1, 1, 1)
    assert summary.failures[0].key == "k2" and "AccessDenied" in summary.failures[0].error
    assert seen == ["k1", "k2", "k3"]


def test_object_time_prefers_the_hour_folder() -> None:
    modified = datetime(2026, 5, 1, tzinfo=UTC)
    assert object_time("p/ep/v/2026/03/01/10/f.jsonl", modified) == T
    assert object_time("p/f.jsonl", modified) == modified
    assert object_time("p/f.jsonl", None) is None


def _quarantine_file(store: LocalStore, records: list[QuarantinedRecord]) -> str:
    key = Partition.of("quarantine", "churn", T).key("abc.jsonl")
    store.put(key, quarantine_lines(records))
    return key


def test_ground_truth_records_replay_into_ground_truth_and_captures_into_captures(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    registry = Registry(store)
    registry.register(churn_config(), b"PAR1")
    source_gt = "s3://capture/" + ground_truth_key(T)
    records = [
        QuarantinedRecord("s3://capture/c.jsonl", 3, "wrong column count", capture_line("c-0", T, [(1.0, 2.0)], [0.3])),
        QuarantinedRecord(source_gt, 7, "unknown encoding", ground_truth_line("c-0", [1])),
        QuarantinedRecord(source_gt, 9, "label count mismatch", ""),  # no raw line kept: cannot be replayed
    ]
    key = _quarantine_file(store, records)
    assert [e.kind for e in parse_quarantine(store.get(key)) if e.raw] == ["capture", "ground_truth"]
    clock = SimulatedClock(datetime(2026, 3, 2, tzinfo=UTC))
    summary = replay_quarantine("churn", store=store, registry=registry, ledger=LakeLedger(store), clock=clock)
    assert (summary.replayed_files, summary.records, summary.rows, summary.still_quarantined) == (1, 2, 2, 1)
    assert read_rows(store, "captures", "churn")["event_id"].to_list() == ["c-0"]
    labels = read_rows(store, "ground_truth", "churn")
    assert labels.height == 1
    # Labels are dated by the original source's hour folder
    assert labels["label_time"].to_list()[0] == T
    again = replay_quarantine("churn", store=store, registry=registry, ledger=LakeLedger(store), clock=clock)
    assert (again.skipped_files, again.rows) == (1, 0)


def test_replay_of_an_unregistered_model_fails_clearly(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(RegistryError, match="'ghost' is not registered"):
        replay_quarantine(
            "ghost", store=store, registry=Registry(store), ledger=LakeLedger(store), clock=SimulatedClock(T)
        )


def test_parse_quarantine_ignores_lines_that_are_not_records() -> None:
    body = b'{"source": "s", "line": 2, "reason": "r", "raw": "x"}\n\nnot json\n[1]\n'
    assert [(e.source, e.line, e.raw) for e in parse_quarantine(body)] == [("s", 2, "x")]


class _Sqs:
    """Just enough of an SQS client for the move-task path (moto does not implement it)."""

    def __init__(self, move_task: bool, waiting: int = 3) -> None:
        self.move_task = move_task
        self.waiting = waiting
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": f"arn:{QueueUrl}", "ApproximateNumberOfMessages": str(self.waiting)}}

    def list_dead_letter_source_queues(self, QueueUrl: str) -> dict[str, Any]:
        return {"queueUrls": ["https://q/source"]}

    def start_message_move_task(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("start_message_move_task", kwargs))
        if not self.move_task:
            raise NotImplementedError("start_message_move_task")
        return {"TaskHandle": "handle-1"}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("receive_message", kwargs))
        return {}


def test_redrive_uses_the_sqs_move_task_where_available() -> None:
    sqs = _Sqs(move_task=True)
    result = redrive(sqs, "https://q/dlq")
    assert (result.method, result.moved, result.task_handle, result.source_url) == (
        METHOD_MOVE_TASK,
        3,
        "handle-1",
        "https://q/source",
    )
    assert sqs.calls == [
        ("start_message_move_task", {"SourceArn": "arn:https://q/dlq", "DestinationArn": "arn:https://q/source"})
    ]


def test_redrive_falls_back_to_receive_send_delete() -> None:
    sqs = _Sqs(move_task=False)
    result = redrive(sqs, "https://q/dlq", "https://q/explicit")
    assert (result.method, result.moved, result.source_url) == (METHOD_COPY, 0, "https://q/explicit")
    assert [name for name, _ in sqs.calls] == ["start_message_move_task", "receive_message"]


def test_redrive_needs_one_source_queue() -> None:
    sqs = _Sqs(move_task=False)
    sqs.list_dead_letter_source_queues = lambda QueueUrl: {"queueUrls": []}  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match="expected one source queue, found 0"):
        redrive(sqs, "https://q/dlq")


def test_report_lookup_and_console_link(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(Exception, match="no reports yet"):
        find_report(store, "churn")
    store.put("reports/model=churn/run=r1/report.html", b"x")
    assert find_report(store, "churn").run_id == "r1"
    link = console_link("lake", "reports/model=churn/run=r1/report.html", "eu-west-1")
    assert link == (
        "https://s3.console.aws.amazon.com/s3/object/lake?region=eu-west-1&"
        "prefix=reports%2Fmodel%3Dchurn%2Frun%3Dr1%2Freport.html"
    )
