"""Fixtures: a real run's results (nannyml CBPE on the synthetic car-loan data via run_monitor) and moto AWS."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from modelwatch.config.model import ModelConfig, parse_model_config
from modelwatch.config.settings import Settings
from modelwatch.lake.layout import report_key, results_key
from modelwatch.lake.store import LocalStore, S3Store
from modelwatch.state import Ledger, State
from tests.helpers import create_state_table

ROWS = 20_000
ROWS_PER_HOUR = 2_500
ANALYSIS_START = datetime(2026, 3, 2, tzinfo=UTC)
# The day after the window: every chunk is complete and within CloudWatch's two weeks.
NOW = ANALYSIS_START + timedelta(days=1)
LAKE_BUCKET = "modelwatch-lake"
STATE_TABLE = "state"
STACK = "mw-test"
MODEL = "car-loan"
FEATURES = {
    "numeric": ["car_value", "debt_to_income_ratio", "loan_length", "driver_tenure"],
    "categorical": ["salary_range", "repaid_loan_on_prev_car", "size_of_downpayment"],
}


@dataclass(frozen=True)
class RunFixture:
    """One finished estimation run: its config, RunOutcome dict and the results/report files it wrote."""

    config: ModelConfig
    outcome: dict[str, Any]
    results: bytes
    report: bytes


def car_loan_config(profile: str = "full", **estimation: Any) -> ModelConfig:
    """The car-loan model; `metrics.profile` full by default (#15 made lean the default): these tests check every
    datapoint, bounds, estimation error and per-feature series included."""
    return parse_model_config(
        {
            "metrics": {"profile": profile},
            "name": MODEL,
            "endpoint": "car-loan-endpoint",
            "problem_type": "binary_classification",
            "features": [{"name": n, "type": "numeric"} for n in FEATURES["numeric"]]
            + [{"name": n, "type": "categorical"} for n in FEATURES["categorical"]],
            "output": {"columns": ["y_pred_proba", "y_pred"]},
            "target": "repaid",
            "estimation": {"metrics": ["roc_auc", "f1", "accuracy"], "top_features": 3, **estimation},
        }
    )


def _rebase(frame: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    frame = frame.reset_index(drop=True).copy()
    frame["timestamp"] = start + (pd.Timedelta(hours=1) / ROWS_PER_HOUR) * np.arange(len(frame))
    return frame


@pytest.fixture(scope="session")
def car_loan_run(tmp_path_factory: pytest.TempPathFactory) -> RunFixture:
    """Eight hourly chunks across the dataset's shift (alerts in the later chunks); labels: full for the first six
    chunks, 30% of the seventh (below the 50% coverage gate), none for the last."""
    import nannyml as nml

    from modelwatch.analysis import RunRequest, run_monitor

    config = car_loan_config()
    reference, analysis, targets = nml.load_synthetic_car_loan_dataset()
    reference = _rebase(reference.iloc[:ROWS], pd.Timestamp("2026-03-01"))
    analysis = _rebase(analysis.iloc[15_000 : 15_000 + ROWS], pd.Timestamp(ANALYSIS_START.replace(tzinfo=None)))
    captures = pd.DataFrame({name: analysis[name].astype("float64") for name in FEATURES["numeric"]})
    for name in FEATURES["categorical"]:
        captures[name] = analysis[name].map(lambda v: None if pd.isna(v) else str(v)).astype("object")
    captures["y_pred_proba"] = analysis["y_pred_proba"]
    captures["y_pred"] = analysis["y_pred"]
    captures["event_id"] = "evt-" + analysis["id"].astype(str)
    captures["inference_id"] = "inf-" + analysis["id"].astype(str)
    captures["row_in_request"] = np.zeros(len(analysis), dtype="int64")
    captures["inference_time"] = analysis["timestamp"].dt.tz_localize("UTC")
    labelled = pd.concat(
        [analysis["id"].iloc[: 6 * ROWS_PER_HOUR], analysis["id"].iloc[6 * ROWS_PER_HOUR : 6 * ROWS_PER_HOUR + 750]]
    )
    truth = targets[targets["id"].isin(labelled)]
    labels = pd.DataFrame(
        {
            "inference_id": "inf-" + truth["id"].astype(str),
            "row_in_request": np.zeros(len(truth), dtype="int64"),
            "y_true": truth["repaid"].to_numpy(),
            "label_time": pd.Timestamp(NOW),
            "source_key": "gt/labels.csv",
            "source_line": np.arange(len(truth), dtype="int64"),
        }
    )
    root = tmp_path_factory.mktemp("car-loan-run")
    store = LocalStore(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = run_monitor(config, reference, captures, labels, RunRequest(MODEL, "run-1"), store, NOW)
    results = store.get(results_key(MODEL, "run-1"))
    report = store.get(report_key(MODEL, "run-1"))
    shutil.rmtree(root, ignore_errors=True)
    # The outcome travels through Step Functions as JSON.
    return RunFixture(config=config, outcome=json.loads(json.dumps(outcome.to_dict())), results=results, report=report)


@dataclass
class Aws:
    """moto clients and the resources publishing uses."""

    s3: Any
    cloudwatch: Any
    sns: Any
    sqs: Any
    dynamodb: Any
    store: S3Store
    state: State
    notifications_topic_arn: str
    alarms_topic_arn: str
    queue_url: str

    def settings(self, **overrides: str) -> Settings:
        env = {
            "LAKE_BUCKET": LAKE_BUCKET,
            "STATE_TABLE": STATE_TABLE,
            "METRIC_NAMESPACE": "ModelWatch",
            "STACK_NAME": STACK,
            "NOTIFICATIONS_TOPIC_ARN": self.notifications_topic_arn,
            "ALARMS_TOPIC_ARN": self.alarms_topic_arn,
            **overrides,
        }
        return Settings.model_validate(env)

    @property
    def ledger(self) -> Ledger:
        return self.state.ledger

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS envelope delivered to the queue subscribed to the notifications topic."""
        messages = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            batch = response.get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def datapoints(self) -> list[dict[str, Any]]:
        """Every datapoint CloudWatch (moto) received, as {namespace, name, dimensions, timestamp, value}."""
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends["123456789012"]["us-east-1"]
        points = []
        for datum in backend.metric_data:
            stamp = datum.timestamp
            if isinstance(stamp, str):
                stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            points.append(
                {
                    "namespace": datum.namespace,
                    "name": datum.name,
                    "dimensions": {d.name: d.value for d in datum.dimensions},
                    "timestamp": stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC),
                    "value": float(datum.value),
                }
            )
        return points


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        region = "us-east-1"
        s3 = boto3.client("s3", region_name=region)
        s3.create_bucket(Bucket=LAKE_BUCKET)
        dynamodb = boto3.client("dynamodb", region_name=region)
        create_state_table(dynamodb, STATE_TABLE)
        sns = boto3.client("sns", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        notifications = sns.create_topic(Name="notifications")["TopicArn"]
        alarms = sns.create_topic(Name="alarms")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=notifications, Protocol="sqs", Endpoint=queue_arn)
        yield Aws(
            s3=s3,
            cloudwatch=boto3.client("cloudwatch", region_name=region),
            sns=sns,
            sqs=sqs,
            dynamodb=dynamodb,
            store=S3Store(s3, LAKE_BUCKET),
            state=State(dynamodb, STATE_TABLE, sleep=lambda _: None),
            notifications_topic_arn=notifications,
            alarms_topic_arn=alarms,
            queue_url=queue_url,
        )


def stage_run(aws: Aws, run: RunFixture, run_id: str = "run-1") -> dict[str, Any]:
    """Put the run's results and report into the moto lake; the outcome's URIs point there."""
    aws.store.put(results_key(MODEL, run_id), run.results)
    aws.store.put(report_key(MODEL, run_id), run.report, "text/html")
    return {
        **run.outcome,
        "run_id": run_id,
        "results_uri": aws.store.uri(results_key(MODEL, run_id)),
        "report_uri": aws.store.uri(report_key(MODEL, run_id)),
    }
