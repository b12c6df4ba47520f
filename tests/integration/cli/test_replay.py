"""`modelwatch replay` on moto: quarantined records re-decoded with the fixed config (once), DLQ redrive."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelwatch.lake.reader import read_rows
from modelwatch.lake.store import LocalStore
from modelwatch.registry.store import Registry
from modelwatch_cli.commands.backfill import backfill
from modelwatch_cli.commands.decode import decode
from modelwatch_cli.commands.replay import replay
from modelwatch_cli.main import main
from tests.integration.cli.conftest import Stack, invoke
from tests.unit.ingest.helpers import capture_file, capture_key, capture_line, churn_config

T = datetime(2026, 3, 1, 10, tzinfo=UTC)
# The fix: the model now answers with its label after the probability. (A request that gained a feature is no
# longer quarantined: its row keeps its prediction, the features missing and the column count recorded.)
LABEL_TOO = {"format": "csv", "columns": ["y_pred_proba", "y_pred"]}


def _two_output_columns_line(event_id: str) -> str:
    record = json.loads(capture_line(event_id, T, [(1.0, 2.0)], [0.4]))
    record["captureData"]["endpointOutput"]["data"] = "0.4,1\n"
    return json.dumps(record)


def _file_with_bad_records() -> bytes:
    """Three good records, then one whose output has a second column (the model now returns its label too), then
    one broken line."""
    return capture_file(T, 3) + (_two_output_columns_line("new-0") + "\n{not json\n").encode()


def _quarantined(keys: list[str], read: Callable[[str], bytes]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for key in keys:
        body = read(key)
        records.extend(json.loads(line) for line in body.decode().splitlines() if line.strip())
    return records


def test_replay_writes_rows_that_now_decode_once_and_keeps_the_rest(stack: Stack) -> None:
    # Given a capture file ingested with two records quarantined
    key = capture_key(T, "f.jsonl")
    stack.put_capture(key, _file_with_bad_records())
    assert invoke(backfill).exit_code == 3
    original = stack.lake_keys("quarantine/")
    assert len(original) == 1

    # When replayed before any fix: nothing decodes, nothing new is written, exit 3
    unchanged = invoke(replay, "--quarantine", "--model", "churn")
    assert unchanged.exit_code == 3, unchanged.output
    assert "0 rows written, 2 still quarantined" in unchanged.output
    assert stack.lake_keys("quarantine/") == original

    # When the config is fixed (the second output column) and the quarantine replayed
    stack.register(churn_config(output=LABEL_TOO))
    fixed = invoke(replay, "--quarantine", "--model", "churn", "--json")
    # Then the now-decodable record is in the lake and counted; the broken line is still quarantined
    assert fixed.exit_code == 3, fixed.output
    summary = json.loads(fixed.output)
    assert (summary["replayed_files"], summary["rows"], summary["still_quarantined"]) == (1, 1, 1)
    rows = read_rows(stack.lake, "captures", "churn")
    assert rows.height == 4
    assert rows.filter(rows["event_id"] == "new-0")["y_pred"].to_list() == [1]
    assert sum(c.rows for c in stack.state.counters.hours("churn")) == 4
    # And the record still quarantined names its original source and line
    new_files = [k for k in stack.lake_keys("quarantine/") if k not in original and k.endswith(".jsonl")]
    again = _quarantined(new_files, stack.lake.get)
    assert [(r["source"], r["line"]) for r in again] == [(f"s3://mw-verbs-capture/{key}", 5)]
    files = stack.lake_keys()

    # When replayed again: the replayed file is skipped, nothing is duplicated
    twice = invoke(replay, "--quarantine", "--model", "churn", "--json")
    assert twice.exit_code == 3, twice.output
    summary = json.loads(twice.output)
    assert (summary["skipped_files"], summary["unchanged_files"], summary["rows"]) == (1, 1, 0)
    assert summary["still_quarantined"] == 1
    assert read_rows(stack.lake, "captures", "churn").height == 4
    assert sum(c.rows for c in stack.state.counters.hours("churn")) == 4
    assert stack.lake_keys() == files


def test_replay_with_nothing_quarantined_exits_0(stack: Stack) -> None:
    result = invoke(replay, "--quarantine", "--model", "churn", "--since", "2026-01-01")
    assert result.exit_code == 0, result.output
    assert "ok: churn: 0 quarantine file(s) replayed" in result.output


def test_replay_on_a_local_lake_folder_is_idempotent(tmp_path: Path) -> None:
    # Given a lake folder written by `modelwatch decode` with the old config, and the fixed config registered there
    lake = tmp_path / "lake"
    (tmp_path / "model.yaml").write_text(churn_config().to_yaml())
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(_file_with_bad_records())
    decoded = CliRunner().invoke(decode, ["--model", str(tmp_path / "model.yaml"), "--output", str(lake), str(capture)])
    assert decoded.exit_code == 3, decoded.output
    Registry(LocalStore(lake)).register(churn_config(output=LABEL_TOO), b"PAR1")
    # When replayed twice
    first = invoke(replay, "--quarantine", "--model", "churn", "--local", str(lake))
    second = invoke(replay, "--quarantine", "--model", "churn", "--local", str(lake))
    # Then the fixed record is written once
    assert "1 rows written, 1 still quarantined" in first.output, first.output
    assert "0 rows written, 1 still quarantined" in second.output, second.output
    assert read_rows(LocalStore(lake), "captures", "churn").height == 4


def test_unknown_model_is_one_clear_line(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.integration.cli.conftest import STACK

    with pytest.raises(SystemExit) as exited:
        main(["replay", "--quarantine", "--model", "nope", "--stack", STACK])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == ["error: model 'nope' is not registered"]


def test_replay_needs_exactly_one_mode(stack: Stack) -> None:
    assert invoke(replay).exit_code == 2
    assert invoke(replay, "--quarantine", "--model", "churn", "--dlq", "capture").exit_code == 2
    assert invoke(replay, "--quarantine").exit_code == 2


def _bodies(stack: Stack, url: str) -> list[str]:
    bodies: list[str] = []
    while batch := stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies.extend(m["Body"] for m in batch)
        stack.sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return bodies


@pytest.mark.parametrize(
    ("which", "dlq_output", "source_queue"),
    [
        ("capture", "CaptureDeadLetterQueueUrl", "CaptureQueue"),
        ("ground-truth", "GroundTruthDeadLetterQueueUrl", "GroundTruthQueue"),
    ],
)
def test_dlq_messages_move_back_to_their_source_queue(
    stack: Stack, which: str, dlq_output: str, source_queue: str
) -> None:
    # Given 12 messages in the dead-letter queue (more than one batch)
    dlq = stack.outputs[dlq_output]
    sent = [json.dumps({"n": i}) for i in range(12)]
    for body in sent:
        stack.sqs.send_message(QueueUrl=dlq, MessageBody=body)
    # When they are replayed
    result = invoke(replay, "--dlq", which)
    # Then all of them are on the source queue and none is left in the DLQ
    assert result.exit_code == 0, result.output
    assert f"moved 12 message(s) from {which} dead-letter queue" in result.output
    source = stack.sqs.get_queue_url(QueueName=_queue_name(stack, source_queue))["QueueUrl"]
    assert sorted(_bodies(stack, source)) == sorted(sent)
    assert _bodies(stack, dlq) == []
    # And replaying an empty DLQ moves nothing
    assert "moved 0 message(s)" in invoke(replay, "--dlq", which).output


def _queue_name(stack: Stack, logical: str) -> str:
    urls = stack.sqs.list_queues()["QueueUrls"]
    return next(u for u in urls if logical in u and "DeadLetter" not in u).rsplit("/", 1)[1]


def test_dlq_without_a_value_is_the_capture_dlq(stack: Stack) -> None:
    stack.sqs.send_message(QueueUrl=stack.outputs["CaptureDeadLetterQueueUrl"], MessageBody="{}")
    result = invoke(replay, "--dlq")
    assert result.exit_code == 0, result.output
    assert f"moved 1 message(s) from capture dead-letter queue to {stack.outputs['CaptureQueueUrl']}" in result.output


def _dead_letter(stack: Stack, target_arn: str, body: str) -> None:
    """What EventBridge puts on a target's DLQ: the event, tagged with the target it could not reach."""
    attributes = {
        "TARGET_ARN": {"DataType": "String", "StringValue": target_arn},
        "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
    }
    stack.sqs.send_message(
        QueueUrl=stack.outputs["EventsDeadLetterQueueUrl"], MessageBody=body, MessageAttributes=attributes
    )


def test_events_dlq_sends_each_event_back_to_the_queue_it_missed(stack: Stack) -> None:
    def arn(url: str) -> str:
        return stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    capture, ground_truth = stack.outputs["CaptureQueueUrl"], stack.outputs["GroundTruthQueueUrl"]
    # Given EventBridge could not deliver 11 capture events, 2 ground-truth events and one scheduled run
    captures = [json.dumps({"detail": {"object": {"key": f"captures/{i}.jsonl"}}}) for i in range(11)]
    labels = [json.dumps({"detail": {"object": {"key": f"ground-truth/{i}.jsonl"}}}) for i in range(2)]
    for body in captures:
        _dead_letter(stack, arn(capture), body)
    for body in labels:
        _dead_letter(stack, arn(ground_truth), body)
    _dead_letter(
        stack, "arn:aws:states:us-east-1:123456789012:stateMachine:modelwatch-fleet", '{"trigger": "schedule"}'
    )
    # When the events DLQ is replayed
    result = invoke(replay, "--dlq", "events")
    # Then each ingest event is back on the queue it missed, and the schedule delivery is left and reported
    assert result.exit_code == 0, result.output
    assert (
        "moved 13 message(s) from events dead-letter queue (11 to the capture queue, 2 to the ground-truth queue)"
        in (result.output)
    )
    assert "1 message(s) left" in result.output
    assert sorted(_bodies(stack, capture)) == sorted(captures)
    assert sorted(_bodies(stack, ground_truth)) == sorted(labels)
