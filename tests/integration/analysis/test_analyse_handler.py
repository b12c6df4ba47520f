"""AnalyseFunction on moto S3: each monitor's step, then the run assembled; results, report and baselines in the
lake; the run's config comes with its input."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from modelwatch.errors import ConfigError, EmptyWindowError
from modelwatch.lake.store import S3Store
from modelwatch.registry import Registry
from modelwatch.state import CounterDelta, ObjectRecord, State
from tests.helpers import create_state_table, load_event, load_handler
from tests.unit.analysis.cases import LATE, Case, binary_case_data

BUCKET = "modelwatch-lake-test"


@pytest.fixture(scope="module")
def case() -> Case:
    return binary_case_data()


@pytest.fixture
def lake(case: Case, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Store]:
    monkeypatch.setenv("LAKE_BUCKET", BUCKET)
    monkeypatch.setenv("STATE_TABLE", "modelwatch-state")
    monkeypatch.setenv("MODELWATCH_CLOCK", LATE.isoformat())
    with mock_aws():
        # the function's signing key, as the template creates it (an HMAC key for GenerateMac/VerifyMac)
        key = boto3.client("kms", region_name="us-east-1").create_key(
            KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"
        )
        monkeypatch.setenv("ARTIFACT_KEY_ID", key["KeyMetadata"]["Arn"])
        create_state_table(boto3.client("dynamodb", region_name="us-east-1"), "modelwatch-state")
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        store = S3Store(client, BUCKET)
        buffer = io.BytesIO()
        case.reference.to_parquet(buffer, index=False)
        Registry(store).register(case.config, buffer.getvalue())
        yield store


@pytest.fixture
def lake_rows(lake: S3Store, case: Case) -> None:
    """The case's captures and labels written into the lake by the real partitioned writer (read back by the real
    reader inside the handler)."""
    import polars as pl

    from modelwatch.lake.writer import PartitionedWriter

    captures = PartitionedWriter(lake, "captures", case.config.name, "inference_time", "capture-file-1")
    captures.add(pl.from_pandas(case.captures))
    captures.write()
    labels = case.labels.astype({"y_true": "int64", "row_in_request": "int32"})
    ground_truth = PartitionedWriter(lake, "ground_truth", case.config.name, "label_time", "labels-file-1")
    ground_truth.add(pl.from_pandas(labels))
    ground_truth.write()
    # and the hour counters ingestion keeps with them (one source object each)
    hours = case.captures["inference_time"].dt.floor("h")
    _count(
        case,
        "capture-file-1",
        [CounterDelta(case.config.name, h, rows=int(n), data_version=1) for h, n in hours.value_counts().items()],
    )
    _count(
        case,
        "labels-file-1",
        [CounterDelta(case.config.name, h, labels=int(n), label_version=1) for h, n in hours.value_counts().items()],
    )


def _count(case: Case, source: str, deltas: list[CounterDelta]) -> None:
    state = State(boto3.client("dynamodb", region_name="us-east-1"), "modelwatch-state")
    record = ObjectRecord("capture-bucket", source, "v1", "capture", "ingested", [case.config.name])
    state.objects.record(record, deltas, LATE)


def _run(handler: Any, run: dict[str, Any]) -> dict[str, Any]:
    """One run the way the Monitor state machine makes it: every monitor's step, then the assembly."""
    outcomes = [
        handler.lambda_handler({"action": "analyse", "monitor": m, "run": run}, _context()) for m in run["monitors"]
    ]
    return handler.lambda_handler({"action": "assemble", "run": run, "monitors": outcomes}, _context())


def _spec(lake: S3Store, case: Case, run_id: str) -> dict[str, Any]:
    run = dict(load_event("analysis/analyse")["run"])
    config = Registry(lake).get(case.config.name)
    return {**run, "run_id": run_id, "monitors": ["performance", "drift"], "config": config.model_dump(mode="json")}


def test_handler_runs_the_monitors_and_returns_small_summaries(lake: S3Store, lake_rows, case: Case) -> None:
    # Given a registered model's run as PrepareRun hands it on (window, monitors, the config)
    handler = load_handler("analyse")
    run = _spec(lake, case, "first")

    # When each monitor's step runs, then the assembly
    output = _run(handler, run)

    # Then results, report and the fitted baselines are in the lake, and the output is small and JSON-able
    assert output["chunks_analysed"] == 8 and output["estimator_cache"] == "fit"
    assert output["results_uri"] == f"s3://{BUCKET}/results/model=car-loan/run=first/results.parquet"
    assert output["report_uri"].startswith(f"s3://{BUCKET}/reports/model=car-loan/")
    assert set(output["monitors"]) == {"performance", "drift"}
    assert len(json.dumps(output)) < 256 * 1024
    results = pd.read_parquet(io.BytesIO(lake.get(output["results_uri"].removeprefix(f"s3://{BUCKET}/"))))
    assert set(results.loc[results["monitor"] == "performance", "kind"]) == {"estimated", "realized"}
    assert set(results["monitor"]) == {"performance", "drift"}
    for monitor in ("performance", "drift"):
        manifest = json.loads(lake.get(f"models/car-loan/{monitor}/baseline.json"))
        assert manifest["proof"]["key"] == os.environ["ARTIFACT_KEY_ID"]  # signed with the function's KMS key
    # and a second run with nothing changed reuses every chunk's stored results (no baseline needed)
    again = _run(handler, {**run, "run_id": "again"})
    assert again["chunks_analysed"] == 8 and again["chunks_reused"] == 8 and again["estimator_cache"] == "unused"
    # while new labels for one hour re-analyse that chunk alone, with the cached baselines
    first_hour = case.captures["inference_time"].min().floor("h")
    _count(case, "labels-file-2", [CounterDelta(case.config.name, first_hour, labels=1, label_version=1)])
    third = _run(handler, {**run, "run_id": "third"})
    assert third["chunks_reused"] == 7 and third["estimator_cache"] == "hit"  # the KMS proof verified


def test_handler_raises_named_errors(lake: S3Store, lake_rows, case: Case) -> None:
    handler = load_handler("analyse")
    run = _spec(lake, case, "named")
    with pytest.raises(EmptyWindowError):
        window = {"window_start": "2027-01-01T00:00:00Z", "window_end": "2027-01-02T00:00:00Z"}
        handler.lambda_handler({"action": "analyse", "monitor": "performance", "run": {**run, **window}}, _context())
    with pytest.raises(ConfigError, match="carries no model config"):
        handler.lambda_handler(
            {"action": "analyse", "monitor": "performance", "run": {**run, "config": None}}, _context()
        )
    with pytest.raises(ConfigError, match="no monitor named 'oracle'"):
        handler.lambda_handler({"action": "analyse", "monitor": "oracle", "run": run}, _context())


def test_a_step_short_of_time_defers_the_chunks_it_cannot_finish(
    lake: S3Store, lake_rows, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given steps that read one hour at a time, and an invocation with 10 s left (less than the margin a step keeps)
    from modelwatch.analysis import run as analysis_run

    monkeypatch.setattr(analysis_run, "BATCH_ROWS", 2_500)
    handler = load_handler("analyse")
    run = _spec(lake, case, "short")

    # When the performance step runs
    output = handler.lambda_handler({"action": "analyse", "monitor": "performance", "run": run}, _context(10_000))

    # Then it analysed its first hour and deferred the seven others to the next run, saying why
    assert output["chunks_analysed"] == 1
    reasons = {e["reason"] for e in output["chunks_skipped"]}
    assert len(output["chunks_skipped"]) == 7
    assert reasons == {"deferred to the next run: the performance step's time ran out after 1 of 8 batches"}
    # and with the function's whole timeout the next run analyses those seven and reuses the first
    again = handler.lambda_handler({"action": "analyse", "monitor": "performance", "run": run}, _context())
    assert again["chunks_analysed"] == 8 and again["chunks_reused"] == 1 and not again["chunks_skipped"]


class _Context:
    function_name = "AnalyseFunction"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AnalyseFunction"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _context(remaining_ms: int = 900_000) -> _Context:
    return _Context(remaining_ms)
