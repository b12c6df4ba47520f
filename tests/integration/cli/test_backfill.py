"""`modelwatch backfill` on moto: the ingest domain function over an existing prefix, safe to re-run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.errors import CaptureReadError
from modelwatch.lake.reader import read_rows
from modelwatch_cli.commands import backfill as backfill_module
from modelwatch_cli.commands.backfill import backfill
from modelwatch_cli.main import main
from tests.integration.cli.conftest import Stack, invoke
from tests.unit.ingest.helpers import capture_file, capture_key, ground_truth_file, ground_truth_key

DAY1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 14, tzinfo=UTC)


def _seed(stack: Stack, bad_line: bool = True) -> None:
    stack.put_capture(capture_key(DAY1, "a.jsonl"), capture_file(DAY1, 3, prefix="a"))
    body = capture_file(DAY2, 4, prefix="b") + (b"{not json\n" if bad_line else b"")
    stack.put_capture(capture_key(DAY2, "b.jsonl"), body)


def test_backfill_ingests_a_prefix_once_and_rerun_skips_everything(stack: Stack) -> None:
    # Given two capture files already in the bucket, one with a record that cannot be decoded
    _seed(stack)
    # When they are backfilled
    first = invoke(backfill)
    # Then every row is in the lake, the bad record quarantined (exit 3) and the summary says so
    assert first.exit_code == 3, first.output
    assert (
        first.output.strip()
        .splitlines()[-1]
        .startswith("quarantined: 2 objects, 7 rows, 1 quarantined, 0 skipped, 0 failed")
    )
    assert read_rows(stack.lake, "captures", "churn").height == 7
    assert len(stack.lake_keys("quarantine/model=churn/")) == 1
    files = stack.lake_keys()
    counters = {(c.hour, c.rows) for c in stack.state.counters.hours("churn")}
    assert sum(rows for _, rows in counters) == 7
    # When it runs again
    second = invoke(backfill)
    # Then both objects are skipped by the state table: same files, same counters, exit 0
    assert second.exit_code == 0, second.output
    assert "ok: 2 objects, 0 rows, 0 quarantined, 2 skipped, 0 failed" in second.output
    assert stack.lake_keys() == files
    assert {(c.hour, c.rows) for c in stack.state.counters.hours("churn")} == counters


def test_backfill_dry_run_changes_nothing_and_since_filters_by_hour_folder(stack: Stack) -> None:
    _seed(stack, bad_line=False)
    dry = invoke(backfill, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: 2 objects under s3://mw-verbs-capture/datacapture/, 0 already processed, 2 to ingest" in dry.output
    assert stack.lake_keys("captures/") == []
    # Only the second day's file is on or after 2026-03-02
    since = invoke(backfill, "--since", "2026-03-02", "--json")
    assert since.exit_code == 0, since.output
    # (stdout is the summary alone: the ingest code's logs and EMF metric lines are kept off it)
    summary = json.loads(since.output)
    assert (summary["objects"], summary["rows"], summary["failed"]) == (1, 4, 0)
    assert read_rows(stack.lake, "captures", "churn").height == 4
    assert "1 already processed, 1 to ingest" in invoke(backfill, "--dry-run").output


def test_backfill_ground_truth_prefix(stack: Stack) -> None:
    # Captures first (labels are matched to their inference hours), then the labels of the same ids
    stack.put_capture(capture_key(DAY1, "a.jsonl"), capture_file(DAY1, 3, prefix="a"))
    assert invoke(backfill).exit_code == 0
    stack.put_capture(ground_truth_key(DAY2), ground_truth_file({"a-0": 1, "a-1": 0, "a-2": 1}))
    result = invoke(backfill, "--ground-truth")
    assert result.exit_code == 0, result.output
    assert "ok: 1 objects, 3 rows" in result.output
    assert read_rows(stack.lake, "ground_truth", "churn").height == 3
    assert sum(c.labels for c in stack.state.counters.hours("churn")) == 3


def test_a_failing_object_is_reported_and_counted_not_fatal(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(stack, bad_line=False)
    real = backfill_module.ingest_capture_object

    def flaky(ref: Any, **kwargs: Any) -> Any:
        if ref.key.endswith("a.jsonl"):
            raise CaptureReadError(f"{ref.uri}: cannot read object: AccessDenied")
        return real(ref, **kwargs)

    monkeypatch.setattr(backfill_module, "ingest_capture_object", flaky)
    result = invoke(backfill)
    assert result.exit_code == 1, result.output
    assert "error: datacapture/churn-endpoint/AllTraffic/2026/03/01/10/a.jsonl: CaptureReadError" in result.output
    assert "failed: 2 objects, 4 rows, 0 quarantined, 0 skipped, 1 failed" in result.output
    # The failed object is not recorded: a later backfill ingests it
    monkeypatch.setattr(backfill_module, "ingest_capture_object", real)
    again = invoke(backfill)
    assert again.exit_code == 0 and "ok: 2 objects, 3 rows, 0 quarantined, 1 skipped, 0 failed" in again.output


def test_backfill_needs_a_stack_one_clear_line(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backfill", "--stack", "no-such-stack"])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: stack no-such-stack: cannot describe it")


def test_objects_the_ingest_function_already_took_by_version_are_skipped(stack: Stack) -> None:
    # Given an object the ingest function processed from its event (versioned bucket: named by VersionId)
    from modelwatch.clock import SimulatedClock
    from modelwatch.ingest.events import ObjectRef
    from modelwatch.ingest.service import ingest_capture_object
    from tests.integration.cli.conftest import CAPTURE_BUCKET

    key = capture_key(DAY1, "a.jsonl")
    stack.put_capture(key, capture_file(DAY1, 3, prefix="a"))
    head = stack.s3.head_object(Bucket=CAPTURE_BUCKET, Key=key)
    ref = ObjectRef(CAPTURE_BUCKET, key, etag=head["ETag"].strip('"'), version_id=head["VersionId"])
    clock = SimulatedClock(DAY2)
    ingest_capture_object(
        ref, s3_client=stack.s3, store=stack.lake, state=stack.state, registry=stack.registry, clock=clock
    )
    # When the prefix is backfilled, the object is found as processed and skipped
    result = invoke(backfill)
    assert result.exit_code == 0, result.output
    assert "ok: 1 objects, 0 rows, 0 quarantined, 1 skipped" in result.output
    assert read_rows(stack.lake, "captures", "churn").height == 3
