"""`modelwatch demo`: three nannyml synthetic models streamed as SageMaker captures through the local stack, each
telling one story: healthy, degraded for a while, recovered; an A/B test whose challenger variant is broken for one
region only; then a fire drill of the alert path."""

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
from modelwatch.lake.layout import model_prefix, report_key
from modelwatch.lake.store import S3Store
from modelwatch.monitors.results import ResultRow
from modelwatch.monitors.segments import segment_dimension, segment_label, who_is_hurt
from modelwatch.monitors.variants import Verdict, compare_variants, latest_results
from modelwatch.registry.store import Registry
from modelwatch.units import unit_name
from modelwatch.workflow.lifecycle import ReferenceData, register_model
from modelwatch_cli.local.drill import DrillReport, local_target, run_fire_drill
from modelwatch_cli.local.snapshot import export_snapshot
from modelwatch_cli.local.stack import DEFAULT_TEMPLATE, LocalStack, Notification
from modelwatch_cli.local.story import ModelStory, export_report_folder, lake_reader, latest_runs, model_story

DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class AbTest:
    """A model's traffic split between a champion and a challenger variant (each request served by one), with a
    segment column the model does not use; the challenger is broken for one of its values: its scores there are
    blurred, each averaged (weight `blur`) with the score of a random other request of that value, so they rank
    worse and crowd towards the middle (CBPE sees it without labels; the labels confirm it)."""

    column: str
    values: tuple[str, ...]
    weights: tuple[float, ...]
    hurt: str
    champion: str = "champion"
    challenger: str = "challenger"
    challenger_share: float = 0.5
    blur: float = 0.5

    @property
    def variants(self) -> tuple[str, str]:
        return self.champion, self.challenger


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
    # healthy rows and scales the model's predictions (a bad deploy: the dataset's own shift is an improvement);
    # "none": every hour healthy (the A/B test's story is its challenger's, not the hours').
    degradation: str = "shift"
    ab_test: AbTest | None = None

    @property
    def variants(self) -> tuple[str, ...]:
        """The endpoint's variants its captures are filed under."""
        return self.ab_test.variants if self.ab_test else (str(self.config.get("variant", "AllTraffic")),)

    @property
    def units(self) -> list[str]:
        """What the pipeline monitors: the model, or one unit per variant of its A/B test."""
        return [unit_name(self.name, v) for v in self.ab_test.variants] if self.ab_test else [self.name]


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


AB_MODEL = "car-loan-ab"
AB_TEST = AbTest(column="region", values=("north", "east", "west"), weights=(0.4, 0.3, 0.3), hurt="east")


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
        # An A/B test (#16): the car loan model behind an endpoint of its own with a champion and a challenger variant,
        # each request from a region (captured with the request, not used by the model); the challenger is broken in
        # the east.
        DemoModel(
            name=AB_MODEL,
            loader="load_synthetic_car_loan_dataset",
            config=config(
                AB_MODEL, "binary_classification", [*car_loan_features, (AB_TEST.column, "categorical")], "repaid",
                output={"format": "csv", "columns": ["y_pred_proba", "y_pred"]},
                # Its story is performance per variant and region: drift and data quality (the other models'
                # stories) stay off, which keeps the demo's extra runtime small.
                estimation={"metrics": ["roc_auc"], "drift_metrics": False, "top_features": 0},
                data_quality={"enabled": False},
                variants=list(AB_TEST.variants),
                segments=[{"column": AB_TEST.column}],
            ),
            features=[*(n for n, _ in car_loan_features), AB_TEST.column],
            target="repaid",
            primary_metric="roc_auc",
            output=_csv_proba_pred,
            output_type="text/csv",
            label=lambda v: str(int(v)),
            degradation="none",
            ab_test=AB_TEST,
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


@dataclass(frozen=True)
class AbOutcome:
    """What the pipeline found about an A/B test, read from what its runs left in the lake: the comparison's
    verdicts (as `modelwatch compare` reads them), the challenger's who-is-hurt rows (as its report shows them), the
    same segments' values of the champion, the challenger-worse notification and where to look."""

    model: str
    test: AbTest
    verdicts: list[Verdict]
    hurt: list[dict[str, Any]]  # modelwatch.monitors.segments.who_is_hurt of the challenger's latest run
    champion_values: dict[tuple[str, str, str], float]  # (segment dimension, metric, kind) -> the champion's value
    notification: Notification | None
    report: Path | None  # the challenger's latest report, in the demo's output

    @property
    def worse(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.worse]

    def lines(self, output: Path) -> list[str]:
        """The A/B test's story in plain words: what the demo did, what the runs found, where to look."""
        test = self.test
        lines = [
            f"A/B test of {self.model}: each request served by variant {test.champion} or {test.challenger} "
            f"(about {test.challenger_share:.0%} to {test.challenger}), from one of the regions "
            f"{', '.join(test.values)} (column {test.column}, a segment of the model's config).",
            f"What the demo did: {test.challenger}'s scores for {test.column}={test.hurt} are blurred (each averaged "
            f"with a random other {test.hurt} request's); every other request is scored as well as {test.champion}.",
        ]
        if self.worse:
            lines.append(f"Comparison: {test.challenger} is significantly worse than {test.champion}:")
        else:
            lines.append(f"Comparison: no significant difference found between {test.challenger} and {test.champion}:")
        lines += [f"  {v.text()}" for v in self.verdicts]
        if self.hurt:
            when = f"{to_utc(self.hurt[0]['chunk_start']):%m-%d %H:%M}"
            lines.append(f"Who is hurt ({test.challenger}'s latest chunk, {when}): segments past their threshold:")
            for row in self.hurt:
                value, threshold = float(row["value"]), float(row["threshold"])
                side = "below" if value < threshold else "above"
                champion = self.champion_values.get((row["segment"], row["metric"], row["kind"]))
                than = f"; {test.champion} there: {champion:.3f}" if champion is not None else ""
                lines.append(
                    f"  {row['segment']}: {row['metric']} ({row['kind']}) {value:.3f}, {side} its threshold "
                    f"{threshold:.3f} by {float(row['beyond']):.3f}{than}"
                )
            named = {str(row["segment"]) for row in self.hurt}
            fine = [v for v in test.values if segment_dimension(segment_label(test.column, v)) not in named]
            if fine:
                lines.append(f"  {', '.join(f'{test.column}={v}' for v in fine)}: within their bands")
        else:
            lines.append(f"Who is hurt: no segment of {test.challenger} past its threshold in the latest chunk")
        if self.notification is not None:
            lines.append(f"Notification at {self.notification.received_at:%m-%d %H:%M}: {self.notification.subject}")
        else:
            lines.append(f"Notification: none said {test.challenger} is worse than {test.champion}")
        if self.report is not None:
            lines.append(f"{test.challenger}'s report (comparison and who is hurt): {self.report}")
        lines.append(f"Chunk by chunk: modelwatch compare --model {self.model} --local {output} --chunks")
        return lines


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
    stories: list[ModelStory] = field(default_factory=list)  # where each model (each unit) stands at the end (#20)
    ab_tests: list[AbOutcome] = field(default_factory=list)  # what each A/B test's runs found (#16)


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
        degraded = story.phase(hour) == "degraded" and model.degradation != "none"
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
    # The reference's hourly chunks as large as a monitored unit's (an A/B test's variants split the traffic, half
    # each): its thresholds then allow for the chunk-to-chunk spread of chunks that size.
    ref_step = step / model.ab_test.challenger_share if model.ab_test else step
    ref_start = DEMO_START - ref_step * len(reference) - timedelta(days=1)
    reference["timestamp"] = [ref_start + ref_step * i for i in range(len(reference))]
    config = parse_model_config(model.config, f"demo:{model.name}")
    if model.ab_test is not None:
        _ab_traffic(model.ab_test, reference, analysis, config.threshold)
    for frame in (reference, analysis):
        for column in frame.columns:
            if frame[column].dtype == bool:  # captured CSV carries True/False text: keep the reference the same
                frame[column] = frame[column].map({True: "True", False: "False"})
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return reference, analysis, config


VARIANT = "_variant"  # the analysis frame's column: which variant served the row (an A/B test's)


def _ab_traffic(test: AbTest, reference: Any, analysis: Any, threshold: float) -> None:
    """An A/B test's columns, in place: each row's segment value (reference and analysis alike, so the segment
    holds the same share of both), which variant served each analysed row, and the challenger's blurred scores (and
    the predictions they make) where the segment has the hurt value."""
    import numpy as np

    rng = np.random.default_rng(16)  # reproducible demo data
    for frame in (reference, analysis):
        frame[test.column] = rng.choice(list(test.values), size=len(frame), p=list(test.weights))
    served = np.where(rng.random(len(analysis)) < test.challenger_share, test.challenger, test.champion)
    analysis[VARIANT] = served
    broken = (served == test.challenger) & (analysis[test.column].to_numpy() == test.hurt)
    scores = analysis["y_pred_proba"].to_numpy(dtype=float)
    blurred = (1.0 - test.blur) * scores[broken] + test.blur * rng.permutation(scores[broken])
    analysis.loc[broken, "y_pred_proba"] = blurred
    analysis.loc[broken, "y_pred"] = (blurred >= threshold).astype(analysis["y_pred"].dtype)


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
                labels = []
                for variant in model.variants:  # each variant's captures in SageMaker's <endpoint>/<variant>/...
                    served = hour_rows if model.ab_test is None else hour_rows[hour_rows[VARIANT] == variant]
                    folder = f"{capture_prefix}{model.config['endpoint']}/{variant}/{start:%Y/%m/%d/%H}/"
                    files, variant_labels = _capture_files(model, served, rng)
                    for suffix, body in files:
                        stack.put_capture(folder + suffix, body)
                    labels += variant_labels
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


def ab_outcome(model: DemoModel, store: S3Store, read: Callable[[str], bytes | None], result: DemoResult) -> AbOutcome:
    """An A/B test's outcome from its units' latest results (the verdicts `modelwatch compare` gives, the
    challenger's who-is-hurt rows) and the notifications the stack received."""
    test = model.ab_test
    assert test is not None
    config = parse_model_config(model.config, f"demo:{model.name}")
    rows = {v: latest_results(store, unit_name(model.name, v)) for v in test.variants}
    compared = compare_variants(config, test.champion, test.challenger, rows[test.champion], rows[test.challenger])
    hurt = who_is_hurt(rows[test.challenger])
    champion_values = _segment_values(rows[test.champion], hurt)
    subject = f"modelwatch: {model.name}: variant {test.challenger} worse than {test.champion}"
    notes = [n for n in result.notifications if n.subject and n.subject.startswith(subject)]
    runs = latest_runs(read, unit_name(model.name, test.challenger))
    report = None
    if runs:
        path = result.output / report_key(unit_name(model.name, test.challenger), str(runs[0].get("run_id")))
        report = path if path.is_file() else None
    return AbOutcome(
        model.name, test, [c.verdict for c in compared], hurt, champion_values, notes[0] if notes else None, report
    )


def _segment_values(rows: list[ResultRow], hurt: list[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """The champion's value of each hurt segment's metric and kind in the same chunk."""
    wanted = {(h["segment"], h["metric"], h["kind"], h["chunk_start"]) for h in hurt}
    found = {}
    for row in rows:
        if row.monitor == "performance" and row.segment and row.value is not None:
            key = (segment_dimension(row.segment), row.metric, row.kind)
            if (*key, row.chunk_start) in wanted:
                found[key] = row.value
    return found


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
    for model, unit in ((m, u) for m in models for u in m.units):
        rows: dict[datetime, ChunkRow] = {}
        items: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=stack.lake_bucket, Prefix=model_prefix(LAKE_RESULTS, unit)
        ):
            items.extend(i for i in page.get("Contents", []) if i["Key"].endswith(".parquet"))
        for item in sorted(items, key=lambda i: (i["LastModified"], i["Key"])):
            body = s3.get_object(Bucket=stack.lake_bucket, Key=item["Key"])["Body"].read()
            table = pl.read_parquet(io.BytesIO(body)).filter(
                (pl.col("metric") == model.primary_metric) & pl.col("segment").is_null()  # the whole unit's
            )
            for row in table.iter_rows(named=True):
                start = to_utc(row["chunk_start"])
                chunk = rows.setdefault(start, ChunkRow(unit, model.primary_metric, start))
                value = None if row["value"] is None else float(row["value"])
                if row["kind"] == "estimated":
                    chunk.estimated, chunk.estimated_alert = value, bool(row["alert"])
                elif row["kind"] == "realized":
                    chunk.realized, chunk.realized_alert = value, bool(row["alert"])
        result.chunks.extend(rows[k] for k in sorted(rows))
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=stack.lake_bucket, Prefix=model_prefix(LAKE_REPORTS, unit)
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
        result.stories += [model_story(read, unit, metrics) for unit in model.units]
    result.notifications = list(stack.notifications)
    store = S3Store(s3, stack.lake_bucket)
    result.ab_tests = [ab_outcome(m, store, read, result) for m in models if m.ab_test is not None]
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
