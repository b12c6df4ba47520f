"""Registry verbs on moto: register (validate, upload, alarms, a named Model Monitor baseline), baseline, models,
status (open violations too), unregister; stack from outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result
from moto import mock_aws

from modelwatch.lake.layout import results_key
from modelwatch.monitors.mm_baseline import parse_baseline
from modelwatch.monitors.results import conform, to_parquet
from modelwatch.state import IncidentRecord, State
from modelwatch_cli.commands.baseline import baseline
from modelwatch_cli.commands.models import models
from modelwatch_cli.commands.register import register, unregister
from modelwatch_cli.commands.status import status

STACK = "mw-cli"
TEMPLATE = {
    "Resources": {
        "LakeBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "mw-cli-lake"}},
        "StateTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "mw-cli-state",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            },
        },
        "AlarmsTopic": {"Type": "AWS::SNS::Topic"},
    },
    "Outputs": {
        "LakeBucketName": {"Value": {"Ref": "LakeBucket"}},
        "StateTableName": {"Value": {"Ref": "StateTable"}},
        "AlarmsTopicArn": {"Value": {"Ref": "AlarmsTopic"}},
    },
}
CONFIG = {
    "name": "loans",
    "endpoint": "loans-endpoint",
    "problem_type": "binary_classification",
    "features": [{"name": "income"}, {"name": "region", "type": "categorical"}],
    "output": {"format": "csv", "columns": ["y_pred_proba", "y_pred"]},
    "target": "repaid",
    "timestamp": "ts",
    "reference": "reference.parquet",
    "estimation": {"metrics": ["roc_auc", "f1"]},
}


def reference_frame(rows: int = 200, classes: tuple[int, ...] = (0, 1)) -> pd.DataFrame:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pd.DataFrame(
        {
            "income": [1000.0 + i for i in range(rows)],
            "region": [["north", "south"][i % 2] for i in range(rows)],
            "y_pred_proba": [(i % 10) / 10 for i in range(rows)],
            "y_pred": [int(i % 10 >= 5) for i in range(rows)],
            "repaid": [classes[i % len(classes)] for i in range(rows)],
            "ts": [start + timedelta(minutes=i) for i in range(rows)],
        }
    )


@pytest.fixture
def stack() -> Iterator[dict[str, Any]]:
    with mock_aws():
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
        yield {
            "s3": boto3.client("s3"),
            "dynamodb": boto3.client("dynamodb"),
            "cloudwatch": boto3.client("cloudwatch"),
        }


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(CONFIG))
    reference_frame().to_parquet(tmp_path / "reference.parquet")
    return tmp_path


def _invoke(command: Any, *args: str) -> Result:
    return CliRunner().invoke(command, list(args), catch_exceptions=True)


def _alarm_names(cloudwatch: Any) -> list[str]:
    return sorted(a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"])


def test_register_uploads_config_and_reference_and_creates_alarms(stack: dict[str, Any], model_dir: Path) -> None:
    # When a model is registered against the deployed stack (resolved from its CloudFormation outputs)
    result = _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK, "--json")
    # Then the config and the reference are in the lake, the stored config pointing at the uploaded reference
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["reference"] == "s3://mw-cli-lake/models/loans/reference.parquet"
    assert summary["reference_rows"] == 200
    # And (#20) its 4 hourly chunks of ~60 rows are a warning on stderr, in the summary too (not an error)
    assert summary["reference_warnings"] == [
        "model loans: reference chunking: 4 chunk(s) (fewer than 6); 60 rows in the median chunk (fewer than "
        "min_rows_per_chunk 100): thresholds may be unreliable"
    ]
    assert result.stderr == f"warning: {summary['reference_warnings'][0]}\n"
    stored = yaml.safe_load(stack["s3"].get_object(Bucket="mw-cli-lake", Key="models/loans/config.yaml")["Body"].read())
    assert stored["reference"] == summary["reference"]
    uploaded = stack["s3"].get_object(Bucket="mw-cli-lake", Key="models/loans/reference.parquet")["Body"].read()
    assert uploaded == (model_dir / "reference.parquet").read_bytes()
    # And the model's alarms were created (changed by #19: one state alarm per model instead of one per metric,
    # and the silence alarms), the low-traffic one against the reference's 200 rows in 199 minutes
    assert _alarm_names(stack["cloudwatch"]) == [
        f"modelwatch-{STACK}-loans-{what}" for what in ("alert", "low-traffic", "no-data", "quarantine", "stalled")
    ]
    assert summary["reference_rows_per_hour"] == pytest.approx(200 / (199 / 60))
    # And `models` lists it
    listed = _invoke(models, "--stack", STACK, "--json")
    assert [json.loads(line)["name"] for line in listed.output.splitlines()] == ["loans"]
    assert "loans" in _invoke(models, "--stack", STACK).output


def test_reference_flag_overrides_the_config_field(stack: dict[str, Any], model_dir: Path) -> None:
    reference_frame(rows=120).to_csv(model_dir / "other.csv", index=False)
    result = _invoke(
        register, str(model_dir / "model.yaml"), "--reference", str(model_dir / "other.csv"), "--stack", STACK, "--json"
    )
    assert result.exit_code == 0, result.output
    # (#20: stdout alone, stderr has the reference's chunking warning)
    assert json.loads(result.stdout)["reference"] == "s3://mw-cli-lake/models/loans/reference.csv"
    assert json.loads(result.stdout)["reference_rows"] == 120


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (reference_frame(classes=(1,)), "single class"),
        (reference_frame().drop(columns=["income"]), "lacks column(s) ['income']"),
    ],
)
def test_bad_reference_is_refused_and_nothing_is_stored(
    stack: dict[str, Any], model_dir: Path, frame: pd.DataFrame, message: str
) -> None:
    frame.to_parquet(model_dir / "reference.parquet")
    result = _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK)
    assert result.exit_code != 0
    assert message in str(result.exception)
    assert "Contents" not in stack["s3"].list_objects_v2(Bucket="mw-cli-lake")
    assert _alarm_names(stack["cloudwatch"]) == []


def test_status_shows_last_chunk_lag_and_error(stack: dict[str, Any], model_dir: Path) -> None:
    _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK)
    now = datetime.now(UTC)
    State(stack["dynamodb"], "mw-cli-state").runs.record_success(
        "loans",
        run_id="loans-run-1",
        input_version="abc",
        last_chunk_end=(now - timedelta(hours=2)).isoformat(),
        now=now,
    )
    State(stack["dynamodb"], "mw-cli-state").runs.record_failure(
        "loans",
        run_id="loans-run-2",
        error="EmptyWindowError",
        cause="no rows",
        now=now,
    )
    result = _invoke(status, "--stack", STACK, "--json")
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["last_run"] == "loans-run-1"
    assert row["last_error"]["Error"] == "EmptyWindowError"
    assert 2 * 3600 - 60 < row["lag_seconds"] < 2 * 3600 + 60
    table = _invoke(status, "--stack", STACK).output
    assert "EmptyWindowError" in table and "loans-run-1" in table


def test_status_shows_what_the_last_run_left_out(stack: dict[str, Any], model_dir: Path) -> None:
    # Given a model whose last published run counted duplicates once and skipped two chunks, one of them deferred
    # to the next run, and two ground-truth objects with labels no captured request had
    _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK)
    runs = State(stack["dynamodb"], "mw-cli-state").runs
    counts = {"rows_superseded": 2, "rows_duplicate": 5, "chunks_skipped": 2, "chunks_deferred": 1}
    runs.record_run_data("loans", run_id="loans-run-3", counts=counts)
    runs.add_unmatched_labels("loans", 3, datetime.now(UTC))
    runs.add_unmatched_labels("loans", 1, datetime.now(UTC))
    # When the status is shown
    (row,) = [json.loads(line) for line in _invoke(status, "--stack", STACK, "--json").output.splitlines()]
    table = CliRunner(env={"COLUMNS": "200"}).invoke(status, ["--stack", STACK]).output  # one line per model
    # Then the counts are there, as JSON and in the table
    assert row["last_run_data"]["rows_duplicate"] == 5 and row["labels_unmatched"] == 4
    assert "7 duplicate" in table and "2 chunks" in table and "4 unmatched" in table
    assert "1 deferred" in table


def test_status_lists_open_incidents(stack: dict[str, Any], model_dir: Path) -> None:
    # Given a registered model with an open degradation incident and a closed improvement
    _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK)
    incidents = State(stack["dynamodb"], "mw-cli-state").incidents
    now = datetime.now(UTC)
    open_incident = {
        "id": "loans-degradation-1",
        "kind": "degradation",
        "status": "open",
        "since": "2026-01-05T03:00:00Z",
        "paging": True,
        "metrics": {"f1": {"in_alert": True}, "roc_auc": {"in_alert": False}},
    }
    closed = {"id": "loans-improvement-1", "kind": "improvement", "status": "closed", "since": "2026-01-04T00:00:00Z"}
    assert incidents.save(IncidentRecord("loans", "degradation"), open_incident, now)
    assert incidents.save(IncidentRecord("loans", "improvement"), closed, now)

    # When status is asked for
    result = _invoke(status, "--stack", STACK, "--json")

    # Then the open one is listed with the metrics still in alert, the closed one is not
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert [(i["id"], i["metrics"], i["paging"]) for i in row["open_incidents"]] == [
        ("loans-degradation-1", ["f1"], True)
    ]
    table = _invoke(status, "--stack", STACK).output
    assert "open incidents" in table and "degradation" in table and "improvement" not in table


def _items(dynamodb: Any, pk: str) -> list[dict[str, Any]]:
    response = dynamodb.query(
        TableName="mw-cli-state", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )
    return list(response["Items"])


def test_unregister_removes_config_reference_state_and_alarms(stack: dict[str, Any], model_dir: Path) -> None:
    # Given a registered model with run state, hour counters and a fitted estimator in the lake
    _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK)
    stack["s3"].put_object(Bucket="mw-cli-lake", Key="models/loans/estimator/manifest.json", Body=b"{}")
    dynamodb = stack["dynamodb"]
    for pk, sk in (
        ("model#loans", "hour#2024-01-01T00"),
        ("model#other", "hour#2024-01-01T00"),
        ("ledger#loans", "estimated#roc_auc#2024-01-01T00:00:00+00:00"),
        ("ledger#other", "estimated#roc_auc#2024-01-01T00:00:00+00:00"),
    ):
        dynamodb.put_item(TableName="mw-cli-state", Item={"pk": {"S": pk}, "sk": {"S": sk}, "v": {"N": "5"}})
    State(dynamodb, "mw-cli-state").runs.record_failure(
        "loans", run_id="r", error="E", cause="c", now=datetime.now(UTC)
    )
    # When it is unregistered
    result = _invoke(unregister, "loans", "--yes", "--stack", STACK)
    # Then its objects, state items and alarms are gone, other models' items stay
    assert result.exit_code == 0, result.output
    assert "3 object(s), 3 state item(s), 5 alarm(s)" in result.output
    assert "Contents" not in stack["s3"].list_objects_v2(Bucket="mw-cli-lake", Prefix="models/loans/")
    assert _items(dynamodb, "model#loans") == []
    assert _items(dynamodb, "ledger#loans") == []
    assert len(_items(dynamodb, "model#other")) == 1
    assert len(_items(dynamodb, "ledger#other")) == 1
    assert _alarm_names(stack["cloudwatch"]) == []
    # And unregistering it again is a clear error
    again = _invoke(unregister, "loans", "--yes", "--stack", STACK)
    assert again.exit_code != 0 and "'loans' is not registered" in str(again.exception)


def test_local_folder_registry(model_dir: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = _invoke(register, str(model_dir / "model.yaml"), "--local", str(lake), "--json")
    assert result.exit_code == 0, result.output
    assert (lake / "models/loans/reference.parquet").is_file()
    assert "loans" in _invoke(models, "--local", str(lake)).output
    assert json.loads(_invoke(status, "--local", str(lake), "--json").output)["lag_seconds"] is None


def test_missing_stack_is_one_clear_error(
    stack: dict[str, Any], model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model_dir)  # no samconfig.toml here
    result = _invoke(models)
    # (#20: no stack named is a usage error, exit 2)
    assert result.exit_code == 2 and "no stack: pass --stack NAME" in result.output
    result = _invoke(models, "--stack", "nope")
    assert "stack nope: cannot describe it" in str(result.exception)
    (model_dir / "samconfig.toml").write_text(f'version = 0.1\n[default.deploy.parameters]\nstack_name = "{STACK}"\n')
    assert _invoke(models).exit_code == 0


def test_verbs_are_registered_and_errors_are_one_line(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelwatch_cli.main import COMMANDS, main

    assert {"register", "unregister", "models", "status"} <= set(COMMANDS)
    monkeypatch.chdir(model_dir)
    with pytest.raises(SystemExit) as exited:
        main(["status"])
    # (#20: a usage error, exit 2, still one line, now naming a running `local up` too and where the help is)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: no stack: pass --stack NAME (or set stack_name in samconfig.toml), --local DIR, or --endpoint-url of "
        "a running `modelwatch local up` (see `modelwatch status --help`)"
    ]


def test_baseline_suggested_by_the_verb_is_named_and_registered(stack: dict[str, Any], model_dir: Path) -> None:
    # Given a baseline suggested from the model's reference by `modelwatch baseline`
    written = _invoke(baseline, "--model", str(model_dir / "model.yaml"), "--output", str(model_dir / "mm"))
    assert written.exit_code == 0, written.output
    statistics, constraints = (model_dir / "mm" / "statistics.json"), (model_dir / "mm" / "constraints.json")
    suggested = parse_baseline(statistics.read_bytes(), constraints.read_bytes())
    assert sorted(suggested.features) == ["income", "region"]
    assert suggested.statistics["dataset"] == {"item_count": 200}
    # When the config names it (paths relative to the config) and the model is registered
    config = {**CONFIG, "data_quality": {"statistics": "mm/statistics.json", "constraints": "mm/constraints.json"}}
    (model_dir / "model.yaml").write_text(yaml.safe_dump(config))
    result = _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK, "--json")
    # Then both files are copied to the model's data-quality baseline and the stored config names the copies
    assert result.exit_code == 0, result.output
    stored = yaml.safe_load(stack["s3"].get_object(Bucket="mw-cli-lake", Key="models/loans/config.yaml")["Body"].read())
    assert stored["data_quality"]["statistics"] == "s3://mw-cli-lake/models/loans/data_quality/statistics.json"
    assert stored["data_quality"]["constraints"] == "s3://mw-cli-lake/models/loans/data_quality/constraints.json"
    copied = stack["s3"].get_object(Bucket="mw-cli-lake", Key="models/loans/data_quality/constraints.json")
    assert json.loads(copied["Body"].read()) == json.loads(constraints.read_bytes())


def test_a_baseline_named_by_s3_uris_is_copied_at_registration(stack: dict[str, Any], model_dir: Path) -> None:
    # Given a Model Monitor baselining job's output in another bucket, named by s3:// URIs
    _invoke(baseline, "--model", str(model_dir / "model.yaml"), "--output", str(model_dir / "mm"))
    stack["s3"].create_bucket(Bucket="mm-baselines")
    for name in ("statistics.json", "constraints.json"):
        body = (model_dir / "mm" / name).read_bytes()
        stack["s3"].put_object(Bucket="mm-baselines", Key=f"job-1/{name}", Body=body)
    quality = {
        "statistics": "s3://mm-baselines/job-1/statistics.json",
        "constraints": "s3://mm-baselines/job-1/constraints.json",
    }
    (model_dir / "model.yaml").write_text(yaml.safe_dump({**CONFIG, "data_quality": quality}))
    # When the model is registered
    result = _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK, "--json")
    # Then the files are read through S3 and copied into the lake
    assert result.exit_code == 0, result.output
    copied = stack["s3"].get_object(Bucket="mw-cli-lake", Key="models/loans/data_quality/statistics.json")
    assert json.loads(copied["Body"].read()) == json.loads((model_dir / "mm" / "statistics.json").read_bytes())


def test_a_malformed_baseline_fails_the_registration_naming_file_and_field(
    stack: dict[str, Any], model_dir: Path
) -> None:
    # Given a named baseline whose constraints give a feature's completeness as text
    _invoke(baseline, "--model", str(model_dir / "model.yaml"), "--output", str(model_dir / "mm"))
    path = model_dir / "mm" / "constraints.json"
    document = json.loads(path.read_text())
    document["features"][1]["completeness"] = "high"
    path.write_text(json.dumps(document))
    config = {**CONFIG, "data_quality": {"statistics": "mm/statistics.json", "constraints": "mm/constraints.json"}}
    (model_dir / "model.yaml").write_text(yaml.safe_dump(config))
    # When the model is registered
    result = _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK)
    # Then it fails with one line naming the file and the field, and nothing is stored
    assert result.exit_code != 0
    message = str(result.exception)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{path}: invalid Model Monitor baseline: features[1].completeness: ")
    assert "Contents" not in stack["s3"].list_objects_v2(Bucket="mw-cli-lake")


def test_status_lists_the_open_violations_of_the_last_run(stack: dict[str, Any], model_dir: Path) -> None:
    # Given a registered model whose last run found violations in its latest chunk (and others before)
    _invoke(register, str(model_dir / "model.yaml"), "--stack", STACK)
    hour = pd.Timestamp("2024-03-01 02:00", tz="UTC")

    def check(start: pd.Timestamp, feature: str, metric: str, alert: bool) -> dict[str, Any]:
        return {
            "monitor": "data_quality",
            "kind": "constraint_check",
            "metric": metric,
            "feature": feature,
            "chunk_start": start,
            "chunk_end": start + pd.Timedelta(hours=1),
            "value": 0.5,
            "alert": alert,
            "chunk_index": 0,
            "rows": 100,
            "labelled_rows": 0,
        }

    table = conform(
        pd.DataFrame(
            [
                check(hour - pd.Timedelta(hours=1), "income", "completeness_check", True),  # an earlier chunk
                check(hour, "income", "data_type_check", True),
                check(hour, "region", "categorical_values_check", True),
                check(hour, "region", "completeness_check", False),
            ]
        )
    )
    stack["s3"].put_object(Bucket="mw-cli-lake", Key=results_key("loans", "loans-run-1"), Body=to_parquet(table))
    State(stack["dynamodb"], "mw-cli-state").runs.record_success(
        "loans",
        run_id="loans-run-1",
        input_version="abc",
        last_chunk_end="2024-03-01T03:00:00Z",
        now=datetime.now(UTC),
    )
    # When the status is shown
    (row,) = [json.loads(line) for line in _invoke(status, "--stack", STACK, "--json").output.splitlines()]
    text = _invoke(status, "--stack", STACK).output
    # Then the latest chunk's violations are listed, not the earlier one's nor the passed check
    assert row["open_violations"] == [
        {"feature_name": "income", "constraint_check_type": "data_type_check", "chunk_start": "2024-03-01T02:00:00Z"},
        {
            "feature_name": "region",
            "constraint_check_type": "categorical_values_check",
            "chunk_start": "2024-03-01T02:00:00Z",
        },
    ]
    assert "open data-quality violations" in text
    assert "data_type_check" in text and "categorical_values_check" in text and "completeness_check" not in text
