"""Poisons a careless or hostile user can upload, through the embedded stack (#12): bad outputs, an impossible time,
a copied capture file, an overwritten capture object and a bad label file next to good ones leave every run of the
model succeeding with exactly the values nannyml computes on the clean data, and are counted where operators look."""

from __future__ import annotations

import io
import json
import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelwatch.clock import SimulatedClock, parse_iso
from modelwatch.config.model import load_model_config
from modelwatch.ingest.replay import parse_quarantine
from modelwatch.lake.reader import read_rows
from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch_cli.local.stack import LocalStack
from modelwatch_cli.main import main
from tests.e2e.breast_cancer import HOURS, METRICS, START, Generated, generate, nannyml_direct

pytestmark = pytest.mark.slow

Values = dict[tuple[str, str, datetime], float]
FEATURES = 30
POISONED_OUTPUTS = ("1.5", "-0.2", "Infinity", "nan")  # out of range, non-finite: each quarantines its record
CAPTURE_POISONS = len(POISONED_OUTPUTS) + 1  # and one record timed where no lake or pandas can hold it


def _record(event_id: str, when: str, output: str) -> str:
    def side(text: str, mode: str) -> dict[str, str]:
        return {"observedContentType": "text/csv", "mode": mode, "data": text, "encoding": "CSV"}

    features = ",".join(["1.0"] * FEATURES) + "\n"
    record = {
        "captureData": {"endpointInput": side(features, "INPUT"), "endpointOutput": side(output + "\n", "OUTPUT")},
        "eventMetadata": {"eventId": event_id, "inferenceTime": when},
        "eventVersion": "0",
    }
    return json.dumps(record) + "\n"


def capture_poisons(hour: int, tag: str) -> str:
    """Records no run can survive: each is quarantined at the door with its reason."""
    when = (START + timedelta(hours=hour, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    lines = [_record(f"poison-{tag}-{n}", when, output) for n, output in enumerate(POISONED_OUTPUTS)]
    lines.append(_record(f"poison-{tag}-time", "9999-12-31T23:59:59Z", "0.5"))
    return "".join(lines)


def _labelled_requests(generated: Generated) -> list[tuple[str, int]]:
    """(eventId, rows) of every captured request, from the generated label files."""
    requests = []
    for path in sorted(generated.ground_truth.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            label = json.loads(line)
            requests.append((label["eventMetadata"]["eventId"], len(label["groundTruthData"]["data"].split("\n"))))
    return requests


def bad_labels(generated: Generated) -> str:
    """A later label file: a label outside the classes, a label list longer than its request, a line that is not
    JSON (three quarantined), and a label for a request never captured (unmatched, counted)."""
    requests = _labelled_requests(generated)
    single = next(event for event, rows in requests if rows == 1)
    multi, rows = next((event, rows) for event, rows in requests if rows > 1)

    def label(event: str, data: str) -> str:
        return json.dumps({"groundTruthData": {"data": data, "encoding": "CSV"}, "eventMetadata": {"eventId": event}})

    return "\n".join([label(single, "7"), label(multi, "\n".join(["1"] * (rows + 1))), "{oops", label("nobody", "1")])


def _hour_files(root: Path, hour: int, day_offset: int = 0) -> list[Path]:
    folder = (START + timedelta(days=day_offset, hours=hour)).strftime("%Y/%m/%d/%H")
    return sorted(p for p in root.rglob("*.jsonl") if folder in p.as_posix())


def _expected(generated: Generated, hours: range) -> Values:
    starts = {START + timedelta(hours=h) for h in hours}
    return {k: v for k, v in nannyml_direct(generated).items() if k[2] in starts}


def _assert_same(got: Values, expected: Values) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert math.isclose(got[key], value, rel_tol=0, abs_tol=1e-9), key


# ---------------------------------------------------------------- modelwatch run
def test_modelwatch_run_with_poisons_exits_0_and_publishes_the_clean_values(tmp_path: Path) -> None:
    # Given a model's captures and labels, and next to them: poisoned records in a file of their own, a copy of a
    # capture file under another name, and a bad label file filed a day after the good labels
    generated = generate(tmp_path / "input")
    (generated.captures / "breast-cancer-ep" / "AllTraffic").joinpath(
        (START + timedelta(hours=1)).strftime("%Y/%m/%d/%H"), "poison.jsonl"
    ).write_text(capture_poisons(1, "run"))
    original = _hour_files(generated.captures, 0)[0]
    shutil.copy(original, original.with_name("copy-" + original.name))
    copied_rows = sum(rows for event, rows in _labelled_requests(generated) if event in original.read_text())
    assert copied_rows > 0
    later = generated.ground_truth / (START + timedelta(days=2)).strftime("%Y/%m/%d/%H")
    later.mkdir(parents=True)
    (later / "bad-labels.jsonl").write_text(bad_labels(generated))
    output = tmp_path / "out"
    # When `modelwatch run` analyses them (it returns: exit 0)
    main(
        [
            "run",
            "--model", str(generated.config_path),
            "--captures", str(generated.captures),
            "--ground-truth", str(generated.ground_truth),
            "--output", str(output),
        ]
    )  # fmt: skip
    # Then it published exactly nannyml's values on the clean data, every hour, estimated and realized
    got: Values = {}
    for line in (output / "metrics.jsonl").read_text().splitlines():
        point = json.loads(line)
        if point["kind"] in ("estimated", "realized"):
            got[(point["metric"], point["kind"], parse_iso(point["chunk_start"]))] = point["value"]
    _assert_same(got, _expected(generated, range(HOURS)))
    # And summary.json counts what was left out: quarantined records, duplicate rows, the unmatched label
    summary = json.loads((output / "summary.json").read_text())
    assert summary["execution_status"] == "SUCCEEDED" and summary["error"] == ""
    assert summary["records_quarantined"] == CAPTURE_POISONS + 3
    assert (summary["rows_duplicate"], summary["rows_superseded"]) == (copied_rows, 0)
    assert summary["labels_unmatched"] == 1
    assert summary["chunks_analysed"] == HOURS and not summary["chunks_skipped"] and not summary["realized_skipped"]
    # And no notification quotes a poisoned value
    notifications = (output / "notifications.jsonl").read_text()
    assert "Infinity" not in notifications and "9999" not in notifications and "oops" not in notifications


# ---------------------------------------------------------------- the stack, run after run
def _run(stack: LocalStack, name: str, model: str) -> Values:
    arn = stack.start_execution("MonitorStateMachine", name, {"model": model, "input_complete": True})
    stack.run_until_idle()
    described = stack.clients["stepfunctions"].describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    key = str(output["results_uri"]).split("/", 3)[3]
    body = stack.clients["s3"].get_object(Bucket=stack.lake_bucket, Key=key)["Body"].read()
    table = pd.read_parquet(io.BytesIO(body))
    table = table.loc[table["kind"].isin(["estimated", "realized"]) & table["metric"].isin(METRICS)]
    return {(r.metric, r.kind, pd.Timestamp(r.chunk_start).to_pydatetime()): float(r.value) for r in table.itertuples()}


def _monitor_runs(stack: LocalStack) -> list[dict[str, Any]]:
    arn = stack.outputs["MonitorStateMachineArn"]
    return stack.clients["stepfunctions"].list_executions(stateMachineArn=arn)["executions"]


def test_poisons_uploaded_to_the_stack_leave_every_later_run_with_the_clean_values(tmp_path: Path) -> None:
    generated = generate(tmp_path / "input")
    config = load_model_config(generated.config_path)
    config = config.model_copy(
        update={"estimation": config.estimation.model_copy(update={"drift_metrics": False, "top_features": 0})}
    )
    with LocalStack(clock=SimulatedClock(START + timedelta(days=2)), log_stream=io.StringIO()) as stack:
        labels_prefix = f"{stack.template.parameters['GroundTruthPrefix']}{config.name}/"
        config = config.model_copy(
            update={"ground_truth": config.ground_truth.model_copy(update={"prefix": labels_prefix})}
        )
        Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0).register(
            config, reference=(tmp_path / "input" / "reference.parquet").read_bytes()
        )

        def capture(path: Path, body: str | bytes | None = None, name: str | None = None) -> None:
            relative = path.relative_to(generated.captures).with_name(name or path.name).as_posix()
            data = path.read_bytes() if body is None else body if isinstance(body, bytes) else body.encode()
            stack.put_capture(f"datacapture/{relative}", data)

        def labels(path: Path) -> None:
            stack.put_capture(labels_prefix + path.relative_to(generated.ground_truth).as_posix(), path.read_bytes())

        # Given the first two hours with their labels, poisoned records in hour 1, a copy of an hour-0 capture file
        # under another name, and a bad label file
        for hour in (0, 1):
            for path in _hour_files(generated.captures, hour):
                capture(path)
        hour_0, hour_1 = _hour_files(generated.captures, 0)[0], _hour_files(generated.captures, 1)[0]
        capture(hour_1, capture_poisons(1, "first"), name="poison.jsonl")
        capture(hour_0, name="copy-" + hour_0.name)
        stack.run_until_idle()
        for hour in (0, 1):
            for path in _hour_files(generated.ground_truth, hour, day_offset=1):
                labels(path)
        bad = tmp_path / "bad-labels.jsonl"
        bad.write_text(bad_labels(generated))
        later = (START + timedelta(days=1, hours=2)).strftime("%Y/%m/%d/%H")
        stack.put_capture(f"{labels_prefix}{later}/bad-labels.jsonl", bad.read_bytes())
        stack.run_until_idle()
        # When the model runs, then it has exactly the clean values of those hours
        _assert_same(_run(stack, "first", config.name), _expected(generated, range(2)))

        # Given the third hour and its labels, more poison, and an hour-1 capture object overwritten (a new version
        # with the same records and one more poisoned record)
        for path in _hour_files(generated.captures, 2):
            capture(path)
        capture(hour_1, hour_1.read_text() + capture_poisons(1, "again"))
        stack.run_until_idle()
        for path in _hour_files(generated.ground_truth, 2, day_offset=1):
            labels(path)
        stack.run_until_idle()
        # When the model runs again, then every hour has exactly the clean values
        _assert_same(_run(stack, "second", config.name), _expected(generated, range(HOURS)))
        # And every run of the model, those its ingestion started too, succeeded
        runs = _monitor_runs(stack)
        assert len(runs) >= 2 and {r["status"] for r in runs} == {"SUCCEEDED"}
        # And the poisons were there to be survived: quarantined at the door (both poison sets and three labels),
        # the copy and the overwritten object's two versions stored in the lake and read once
        lake = S3Store(stack.clients["s3"], stack.lake_bucket)
        quarantined = [e for key in lake.list("quarantine/") for e in parse_quarantine(lake.get(key))]
        assert len(quarantined) == 2 * CAPTURE_POISONS + 3
        stored = read_rows(lake, "captures", config.name)
        assert stored.height > len(generated.analysis) == stored.unique(["event_id", "row_in_request"]).height
