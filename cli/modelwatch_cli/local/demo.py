"""`modelwatch demo`: three nannyml synthetic models streamed as SageMaker captures through the local stack, each
telling one story: healthy, degraded for a while, recovered; then a fire drill of the alert path."""

from __future__ import annotations

import base64
import io
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from modelwatch.clock import SimulatedClock, to_utc
from modelwatch.config.model import ModelConfig, parse_model_config
from modelwatch.constants import LAKE_REPORTS, LAKE_RESULTS
from modelwatch.errors import ConfigError
from modelwatch.lake.layout import model_prefix
from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch.workflow.lifecycle import ReferenceData, register_model
from modelwatch_cli.local.drill import DrillReport, local_target, run_fire_drill
from modelwatch_cli.local.snapshot import export_snapshot
from modelwatch_cli.local.stack import DEFAULT_TEMPLATE, LocalStack, Notification
from modelwatch_cli.local.story import ModelStory, export_report_folder, lake_reader, model_story

DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class DemoModel:
    """One demo model: a nannyml dataset, its config, how its captures are written."""

    name: str
    loader: str  # nannyml loader function
    config: dict[str, Any]
    features: list[str]
    target: str
    primary_metric: str
    output: Callable[[Any], str]  # rows -> output body
    output_type: str
    label: Callable[[Any], str]
    # How the degraded hours are made: "shift" takes the rows of the dataset's shifted second half; "broken" keeps
    # healthy rows and scales the model's predictions (a bad deploy: the dataset's own shift is an improvement).
    degradation: str = "shift"


def _csv_proba_pred(rows: Any) -> str:
    return "".join(f"{p!r},{int(y)}\n" for p, y in zip(rows["y_pred_proba"], rows["y_pred"], strict=True))


_CLASSES = ["prepaid_card", "highstreet_card", "upmarket_card"]


def _json_multiclass(rows: Any) -> str:
    predictions = [
        {"probabilities": [float(row[f"y_pred_proba_{c}"]) for c in _CLASSES], "label": str(row["y_pred"])}
        for _, row in rows.iterrows()
    ]
    return json.dumps({"predictions": predictions})


def _csv_regression(rows: Any) -> str:
    return "".join(f"{float(y)!r}\n" for y in rows["y_pred"])


def demo_models() -> list[DemoModel]:
    car_loan_features = [
        ("car_value", "numeric"), ("salary_range", "categorical"), ("debt_to_income_ratio", "numeric"),
        ("loan_length", "numeric"), ("repaid_loan_on_prev_car", "categorical"),
        ("size_of_downpayment", "categorical"), ("driver_tenure", "numeric"),
    ]  # fmt: skip
    card_features = [
        ("acq_channel", "categorical"), ("app_behavioral_score", "numeric"), ("requested_credit_limit", "numeric"),
        ("app_channel", "categorical"), ("credit_bureau_score", "numeric"), ("stated_income", "numeric"),
        ("is_customer", "categorical"),
    ]  # fmt: skip
    price_features = [
        ("car_age", "numeric"), ("km_driven", "numeric"), ("price_new", "numeric"), ("accident_count", "numeric"),
        ("door_count", "numeric"), ("fuel", "categorical"), ("transmission", "categorical"),
    ]  # fmt: skip

    def config(name: str, problem: str, features: list[tuple[str, str]], target: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "endpoint": f"{name}-endpoint",
            "variant": "AllTraffic",
            "problem_type": problem,
            "features": [{"name": n, "type": t} for n, t in features],
            "target": target,
            "timestamp": "timestamp",
            "chunking": {"period": "1h"},
            "ground_truth": {"prefix": f"ground-truth/{name}/"},
            **extra,
        }

    return [
        DemoModel(
            name="car-loan",
            loader="load_synthetic_car_loan_dataset",
            config=config(
                "car-loan", "binary_classification", car_loan_features, "repaid",
                output={"format": "csv", "columns": ["y_pred_proba", "y_pred"]},
                estimation={"metrics": ["roc_auc", "f1", "accuracy"]},
            ),
            features=[n for n, _ in car_loan_features],
            target="repaid",
            primary_metric="f1",
            output=_csv_proba_pred,
            output_type="text/csv",
            label=lambda v: str(int(v)),
        ),
        DemoModel(
            name="credit-card",
            loader="load_synthetic_multiclass_classification_dataset",
            config=config(
                "credit-card", "multiclass_classification", card_features, "y_true",
                classes=_CLASSES,
                output={"format": "json", "probabilities": "$.predictions[*].probabilities",
                        "prediction": "$.predictions[*].label"},
                estimation={"metrics": ["roc_auc", "f1"]},
            ),
            features=[n for n, _ in card_features],
            target="y_true",
            primary_metric="roc_auc",
            output=_json_multiclass,
            output_type="application/json",
            label=str,
        ),
        DemoModel(
            name="car-price",
            loader="load_synthetic_car_price_dataset",
            config=config(
                "car-price", "regression", price_features, "y_true",
                output={"format": "csv", "columns": ["y_pred"]},
                estimation={"metrics": ["mae", "rmse"]},
            ),
            features=[n for n, _ in price_features],
            target="y_true",
            primary_metric="mae",
            output=_csv_regression,
            output_type="text/csv",
            label=lambda v: repr(float(v)),
            degradation="broken",
        ),
    ]  # fmt: skip


@dataclass
class ChunkRow:
    model: str
    metric: str
    chunk_start: datetime
    estimated: float | None = None
    estimated_alert: bool = False
    realized: float | None = None
    realized_alert: bool = False


BROKEN_PREDICTION_SCALE = 1.3  # car-price's degraded hours: every price predicted 30% too high


@dataclass(frozen=True)
class Story:
    """Which streamed hours are healthy, degraded and recovered (hours from DEMO_START)."""

    hours: int
    degraded_from: int
    recovered_from: int

    @classmethod
    def of(cls, hours: int) -> Story:
        """About 2/7 healthy, 3/7 degraded, the rest recovered; at least one hour of each."""
        if hours < 3:
            raise ValueError("the demo needs at least 3 hours: healthy, degraded, recovered")
        degraded = max(1, hours * 2 // 7)
        recovered = min(hours - 1, max(degraded + 1, hours * 5 // 7))
        return cls(hours, degraded, recovered)

    def phase(self, hour: int) -> str:
        if hour < self.degraded_from:
            return "healthy"
        return "degraded" if hour < self.recovered_from else "recovered"


@dataclass
class DemoResult:
    chunks: list[ChunkRow] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)  # ALARM transitions received on the alarms topic
    alarm_messages: list[dict[str, Any]] = field(default_factory=list)  # every alarms-topic message (ALARM and OK)
    notifications: list[Notification] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    executions: dict[str, int] = field(default_factory=dict)  # status -> count
    story: Story | None = None
    drill: DrillReport | None = None
    output: Path = Path()
    stories: list[ModelStory] = field(default_factory=list)  # where each model stands at the end (#20)


def _prepare(model: DemoModel, story: Story, rows_per_hour: int) -> tuple[Any, Any, ModelConfig]:
    """Reference and analysis frames rebased onto the simulated clock: each hour's rows drawn from the dataset's
    first (healthy) half, or for degraded hours its shifted second half (or healthy rows with broken predictions)."""
    import nannyml as nml
    import pandas as pd

    reference, analysis, targets = getattr(nml, model.loader)()
    analysis = analysis.merge(targets, on="id")
    middle = len(analysis) // 2
    pools = {"healthy": analysis.iloc[:middle], "shifted": analysis.iloc[middle:]}
    taken = {"healthy": 0, "shifted": 0}
    hours = []
    for hour in range(story.hours):
        degraded = story.phase(hour) == "degraded"
        pool = "shifted" if degraded and model.degradation == "shift" else "healthy"
        rows = pools[pool].iloc[taken[pool] : taken[pool] + rows_per_hour].copy()
        taken[pool] += len(rows)
        if degraded and model.degradation == "broken":
            rows["y_pred"] = rows["y_pred"] * BROKEN_PREDICTION_SCALE
        hours.append(rows)
    analysis = pd.concat(hours, ignore_index=True)
    step = timedelta(hours=1) / rows_per_hour
    analysis["timestamp"] = [DEMO_START + step * i for i in range(len(analysis))]
    reference = reference.reset_index(drop=True)
    ref_start = DEMO_START - step * len(reference) - timedelta(days=1)
    reference["timestamp"] = [ref_start + step * i for i in range(len(reference))]
    for frame in (reference, analysis):
        for column in frame.columns:
            if frame[column].dtype == bool:  # captured CSV carries True/False text: keep the reference the same
                frame[column] = frame[column].map({True: "True", False: "False"})
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    config = parse_model_config(model.config, f"demo:{model.name}")
    return reference, analysis, config


def _capture_files(model: DemoModel, hour_rows: Any, rng: random.Random) -> tuple[list[tuple[str, bytes]], list[str]]:
    """SageMaker capture files (≤1000 requests each) for one hour, and the ground-truth merge records for them."""
    files: list[tuple[str, bytes]] = []
    lines: list[str] = []
    labels: list[str] = []
    index = 0
    while index < len(hour_rows):
        size = rng.randint(1, 4)
        rows = hour_rows.iloc[index : index + size]
        index += size
        body = "".join(",".join(str(v) for v in values) + "\n" for values in rows[model.features].to_numpy())
        output = model.output(rows)
        in_encoding = "BASE64" if rng.random() < 0.5 else "CSV"
        out_encoding = "JSON" if model.output_type == "application/json" else in_encoding

        def side(text: str, content_type: str, encoding: str, mode: str) -> dict[str, str]:
            data = base64.b64encode(text.encode()).decode() if encoding == "BASE64" else text
            return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}

        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        when = to_utc(rows["timestamp"].iloc[0].to_pydatetime())
        record = {
            "captureData": {
                "endpointInput": side(body, "text/csv", in_encoding, "INPUT"),
                "endpointOutput": side(output, model.output_type, out_encoding, "OUTPUT"),
            },
            "eventMetadata": {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"},
            "eventVersion": "0",
        }
        lines.append(json.dumps(record, separators=(",", ":")))
        # One ground-truth record per request: its k labels one per line, in request order.
        truth = "\n".join(model.label(v) for v in rows[model.target])
        labels.append(json.dumps({"groundTruthData": {"data": truth, "encoding": "CSV"},
                                  "eventMetadata": {"eventId": event_id}, "eventVersion": "0"}))  # fmt: skip
        if len(lines) >= 1000 or index >= len(hour_rows):
            name = f"{uuid.UUID(int=rng.getrandbits(128), version=4)}.jsonl"
            files.append((name, ("\n".join(lines) + "\n").encode()))
            lines = []
    return files, labels


def _register(
    stack: LocalStack, registry: Registry, models: list[DemoModel], prepared: dict[str, Any], label_root: str
) -> None:
    """Register each model the way `modelwatch register` does (config, reference, per-model alarms)."""
    for model in models:
        reference, _, config = prepared[model.name]
        config = config.model_copy(
            update={"ground_truth": config.ground_truth.model_copy(update={"prefix": f"{label_root}{model.name}/"})}
        )
        buffer = io.BytesIO()
        reference.to_parquet(buffer, index=False)
        register_model(
            registry,
            config,
            ReferenceData(buffer.getvalue(), ".parquet", f"nannyml:{model.loader}"),
            cloudwatch=stack.clients["cloudwatch"],
            alarms=stack.alarm_settings(),
            clock=stack.clock,
        )


def register_demo_models(stack: LocalStack, names: list[str]) -> list[str]:
    """Register demo models by name on a running stack (`modelwatch fire-drill --local`); ConfigError for a name
    that is not a demo model."""
    models = {m.name: m for m in demo_models()}
    unknown = sorted(set(names) - set(models))
    if unknown:
        raise ConfigError(f"{', '.join(unknown)}: not a demo model; use one of {sorted(models)}")
    chosen = [models[n] for n in names]
    story = Story.of(3)
    prepared = {m.name: _prepare(m, story, 100) for m in chosen}
    registry = Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0)
    with stack.quiet():
        _register(stack, registry, chosen, prepared, stack.template.parameters.get("GroundTruthPrefix", ""))
    return [m.name for m in chosen]


def run_demo(
    output: Path,
    hours: int = 7,
    rows_per_hour: int = 3000,
    label_hours: int | None = None,
    label_delay_hours: int = 2,
    template_path: Path = DEFAULT_TEMPLATE,
    progress: Progress | None = None,
    log_stream: IO[str] | None = None,
    drill: bool = True,
) -> DemoResult:
    """Stream `hours` of captures per model through the stack hour by hour (healthy, degraded, recovered), labels
    late for `label_hours`; drain until the last chunk is analysed, then run a fire drill of the alert path."""
    label_hours = hours if label_hours is None else label_hours
    story = Story.of(hours)
    rng = random.Random(20260105)  # noqa: S311 - reproducible demo data, not security
    models = demo_models()
    prepared = {m.name: _prepare(m, story, rows_per_hour) for m in models}
    output.mkdir(parents=True, exist_ok=True)
    logs = log_stream or (output / "functions.log").open("w", encoding="utf-8")
    stack = LocalStack(template_path, clock=SimulatedClock(DEMO_START), log_stream=logs)
    result = DemoResult(output=output, story=story)
    with stack:
        params = stack.template.parameters
        capture_prefix, label_root = (
            params.get("CapturePrefix", "datacapture/"),
            params.get("GroundTruthPrefix", "ground-truth/"),
        )
        registry = Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0)
        with stack.quiet():
            _register(stack, registry, models, prepared, label_root)
        if progress:
            progress("models registered", len(models), len(models))
        pending_labels: dict[int, list[tuple[DemoModel, list[str]]]] = {}
        for hour in range(hours):
            start = DEMO_START + timedelta(hours=hour)
            for model in models:
                analysis = prepared[model.name][1]
                hour_rows = analysis[
                    (analysis["timestamp"] >= start) & (analysis["timestamp"] < start + timedelta(hours=1))
                ]
                folder = f"{capture_prefix}{model.name}-endpoint/AllTraffic/{start:%Y/%m/%d/%H}/"
                files, labels = _capture_files(model, hour_rows, rng)
                for suffix, body in files:
                    stack.put_capture(folder + suffix, body)
                if hour < label_hours:
                    pending_labels.setdefault(hour + label_delay_hours, []).append((model, labels))
            # Data arrives during the hour: ingest before the hour ends, then let the schedule fire on the hour.
            stack.advance(timedelta(minutes=50))
            _deliver_labels(stack, pending_labels.pop(hour, []), label_root, rng, start)
            stack.advance(timedelta(minutes=10))
            if progress:
                progress("hours streamed", hour + 1, hours)
        # Late labels still owed, then one more schedule: the last chunk completes (end + lateness) and is analysed.
        for due in sorted(pending_labels):
            _deliver_labels(stack, pending_labels[due], label_root, rng, DEMO_START + timedelta(hours=due))
        stack.advance(timedelta(hours=1))
        if progress:
            progress("drained", 1, 1)
        if drill:
            with stack.quiet():
                result.drill = run_fire_drill(local_target(stack), models[0].name, drill_id="demo")
            if progress:
                progress("fire drill", 1, 1)
        _collect(stack, models, result)
        export_snapshot(stack, output)  # for `modelwatch status/models/report --local OUTPUT`
    if log_stream is None:
        logs.close()
    return result


def _deliver_labels(
    stack: LocalStack, batches: list[tuple[DemoModel, list[str]]], label_root: str, rng: random.Random, when: datetime
) -> None:
    """Ground-truth merge files land under the model's prefix, dated by collection time (not inference time)."""
    for model, records in batches:
        if records:
            key = f"{label_root}{model.name}/{when:%Y/%m/%d/%H}/{uuid.UUID(int=rng.getrandbits(128), version=4)}.jsonl"
            stack.put_capture(key, ("\n".join(records) + "\n").encode())


def _collect(stack: LocalStack, models: list[DemoModel], result: DemoResult) -> None:
    import polars as pl

    s3 = stack.clients["s3"]
    for model in models:
        rows: dict[datetime, ChunkRow] = {}
        items: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=stack.lake_bucket, Prefix=model_prefix(LAKE_RESULTS, model.name)
        ):
            items.extend(i for i in page.get("Contents", []) if i["Key"].endswith(".parquet"))
        for item in sorted(items, key=lambda i: (i["LastModified"], i["Key"])):
            body = s3.get_object(Bucket=stack.lake_bucket, Key=item["Key"])["Body"].read()
            table = pl.read_parquet(io.BytesIO(body)).filter(pl.col("metric") == model.primary_metric)
            for row in table.iter_rows(named=True):
                start = to_utc(row["chunk_start"])
                chunk = rows.setdefault(start, ChunkRow(model.name, model.primary_metric, start))
                value = None if row["value"] is None else float(row["value"])
                if row["kind"] == "estimated":
                    chunk.estimated, chunk.estimated_alert = value, bool(row["alert"])
                elif row["kind"] == "realized":
                    chunk.realized, chunk.realized_alert = value, bool(row["alert"])
        result.chunks.extend(rows[k] for k in sorted(rows))
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=stack.lake_bucket, Prefix=model_prefix(LAKE_REPORTS, model.name)
        ):
            for item in page.get("Contents", []):
                target = result.output / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=stack.lake_bucket, Key=item["Key"])["Body"].read())
                if target.name == "report.html":  # beside them: the model's index.html and runs.json
                    result.reports.append(target)
    export_report_folder(s3, stack.lake_bucket, result.output)  # the shared plotly.js and the fleet's index
    read = lake_reader(s3, stack.lake_bucket)
    for model in models:
        metrics = list(model.config.get("estimation", {}).get("metrics", [model.primary_metric]))
        result.stories.append(model_story(read, model.name, metrics))
    result.notifications = list(stack.notifications)
    alarms_topic = stack.outputs.get("AlarmsTopicArn", "")
    for note in stack.notifications:
        message = note.json()
        if note.topic_arn == alarms_topic and isinstance(message, dict):
            result.alarm_messages.append(message)
            if message.get("NewStateValue") == "ALARM":
                result.alarms.append(message)
    sfn = stack.clients["stepfunctions"]
    for arn in stack.resources.state_machines.values():
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for execution in page["executions"]:
                result.executions[execution["status"]] = result.executions.get(execution["status"], 0) + 1
    with (result.output / "notifications.jsonl").open("w", encoding="utf-8") as handle:
        for note in stack.notifications:
            handle.write(json.dumps({"topic_arn": note.topic_arn, "subject": note.subject,
                                     "message": note.json()}, default=str) + "\n")  # fmt: skip
