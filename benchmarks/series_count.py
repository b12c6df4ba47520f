"""CloudWatch series one model sends per metrics profile, counted by running each monitor's real `publish` (#15).

The cost model prices series; this counts them from the code instead of a formula that can drift: one labelled
chunk's rows of every monitor (every kind `publish` turns into datapoints) for the benchmark's model (binary, 30
features, the shipped defaults, bias on one facet with every Clarify method, attribution on), through
`publishing.datapoints.candidates` under `lean` and `full`. The per-model series that are not a monitor's (ingest's
counts, the model's state for its alarms) and the alarms' metrics are counted from their code too.

Segments (`segments: [{column, top: 5}]`) add series with a `Segment` dimension: the segments are the real
`monitors.segments.slices` of a reference with more values than `top` (the top five and `other`), each segmentable
monitor's rows repeated per segment as the analysis step writes them, through the same `candidates`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from modelwatch.config.model import (
    AttributionConfig,
    BiasConfig,
    MetricsConfig,
    MetricsProfile,
    ModelConfig,
    Segment,
    load_model_config_text,
)
from modelwatch.constants import (
    DIM_SEGMENT,
    METRIC_ALERT_STATE,
    METRIC_CAPTURED_ROWS,
    METRIC_INGEST_LAG,
    METRIC_LABEL_COVERAGE,
    METRIC_RECORDS_DECODED,
    METRIC_RECORDS_QUARANTINED,
    METRIC_ROWS_WITHOUT_PREDICTION,
    METRIC_RUN_HEARTBEAT,
    METRIC_UNMATCHED_LABELS,
    METRIC_WORKFLOW_DURATION,
)
from modelwatch.monitors import MONITORS, configured
from modelwatch.monitors.clarify import DESCRIPTIONS, ESTIMABLE
from modelwatch.monitors.mm_checks import BASELINE_DRIFT_CHECK
from modelwatch.monitors.results import ResultRow
from modelwatch.monitors.segments import slices
from modelwatch.publishing.alarms import AlarmSettings, model_alarms
from modelwatch.publishing.datapoints import candidates

FEATURES = 30
START = datetime(2026, 3, 2, tzinfo=UTC)
SEGMENT_TOP = 5  # segments: [{column: f0, top: 5}] - the README's example
SEGMENT_VALUES = 8  # values of the segment column in the reference: more than the top, so `other` is a segment
# Per-model series that are no monitor's, sent every hour with traffic whatever the profile: ingest's counts (EMF,
# ingest/service.py emit_outcome_metrics) and the model's state after each run (publishing/alerting.py,
# publishing/service.py). Event-only series (WorkflowFailures, DuplicateRows) are left out.
OPERATIONAL = (
    METRIC_RECORDS_DECODED,
    METRIC_RECORDS_QUARANTINED,
    METRIC_CAPTURED_ROWS,
    METRIC_ROWS_WITHOUT_PREDICTION,
    METRIC_INGEST_LAG,
    METRIC_UNMATCHED_LABELS,
    METRIC_ALERT_STATE,
    METRIC_RUN_HEARTBEAT,
    METRIC_LABEL_COVERAGE,
    METRIC_WORKFLOW_DURATION,
)

CONFIG = """
name: bench
endpoint: ep-bench
problem_type: binary_classification
features: [{features}]
output: {{format: csv, columns: [y_pred_proba, y_pred]}}
ground_truth: {{expected_delay: 1d}}
"""


def model(profile: MetricsProfile) -> ModelConfig:
    """The benchmark's model with every monitor of this round on."""
    features = ", ".join(f"{{name: f{i}}}" for i in range(FEATURES))
    config = load_model_config_text(CONFIG.format(features=features), "bench.yaml")
    return config.model_copy(
        update={
            "bias": BiasConfig.model_validate({"facets": [{"name_or_index": "f0", "value_or_threshold": [1]}]}),
            "attribution": AttributionConfig(),
            "cloudwatch": MetricsConfig(profile=profile),
        }
    )


def _row(monitor: str, metric: str, kind: str, value: float, **extra: Any) -> ResultRow:
    fields: dict[str, Any] = {
        "monitor": monitor,
        "metric": metric,
        "kind": kind,
        "chunk_start": START,
        "chunk_end": START + timedelta(hours=1),
        "value": value,
        "lower_bound": value - 0.01,
        "upper_bound": value + 0.01,
        "lower_threshold": 0.5,
        "upper_threshold": 1.0,
        "alert": False,
        "label_coverage": 1.0,
        "rows": 41_666,
        **extra,
    }
    return ResultRow(**fields)


def chunk_rows(config: ModelConfig) -> list[ResultRow]:
    """One labelled chunk's rows of every monitor, of each kind its `publish` reads."""
    rows = []
    for metric in config.metrics:
        rows += [_row("performance", metric, "estimated", 0.9), _row("performance", metric, "realized", 0.9)]
    method = config.drift.continuous_methods[0]
    for feature in config.feature_names:
        rows += [
            _row("drift", method, "univariate", 0.01, feature=feature),
            _row("drift", "missing_rate", "data_quality", 0.01, feature=feature),
            _row("data_quality", "non_null", "counts", 41_000.0, feature=feature),
            _row("data_quality", "null", "counts", 666.0, feature=feature),
            _row("data_quality", BASELINE_DRIFT_CHECK, "constraint_check", 0.01, feature=feature),
            _row("attribution", "global_shap", "realized", 0.1, feature=feature),
        ]
    rows.append(_row("drift", "reconstruction_error", "multivariate", 1.0))
    rows += [_row("drift", method, "prediction", 0.01, feature=c) for c in config.prediction_columns]
    for metric in DESCRIPTIONS:
        kinds = ("estimated", "realized") if metric in ESTIMABLE else ("realized",)
        rows += [_row("bias", metric, kind, 0.9, facet="f0", facet_value="1") for kind in kinds]
    rows += [_row("attribution", "expected_value", "realized", 0.5), _row("attribution", "ndcg", "realized", 0.95)]
    return rows


def series_by_monitor(profile: MetricsProfile) -> dict[str, int]:
    """Distinct series (namespace, name, dimensions) each monitor sends for one chunk under `profile`."""
    config = model(profile)
    rows = chunk_rows(config)
    top = {"drift": {"top_features": config.feature_names[: config.estimation.top_features]}}
    counts = {}
    for name in configured(config):
        points = candidates(config, [r for r in rows if r.monitor == name], top).points
        counts[name] = len({(p.namespace, p.metric_name, p.dimensions) for p in points})
    return counts


def with_segments(config: ModelConfig, top: int = SEGMENT_TOP) -> ModelConfig:
    """The model with one segment column (its first feature) and its `top` values."""
    return config.model_copy(update={"segments": [Segment(column=config.feature_names[0], top=top)]})


def segment_labels(config: ModelConfig, values: int = SEGMENT_VALUES) -> list[str]:
    """The segments' labels the analysis step writes: `slices` of a reference with `values` values of the column
    (value i held by more rows than value i + 1), so the column's top values and `other`."""
    import pandas as pd

    (segment,) = config.segments
    column = [f"v{i}" for i in range(values) for _ in range(values - i)]
    return [part.label for part in slices(config, pd.DataFrame({segment.column: column}))]


def segment_series_by_monitor(profile: MetricsProfile, top: int = SEGMENT_TOP) -> dict[str, int]:
    """Distinct series with a Segment dimension each segmentable monitor sends for one chunk under `profile`, with
    `segments: [{column, top}]`: every segment's rows (the whole model's rows of the monitor, labelled with the
    segment) beside the whole model's, through `publishing.datapoints.candidates`."""
    config = with_segments(model(profile), top)
    whole = chunk_rows(config)
    labels = segment_labels(config)
    top_features = {"drift": {"top_features": config.feature_names[: config.estimation.top_features]}}
    counts = {}
    for name in configured(config):
        if not MONITORS[name].segmentable:
            continue
        mine = [r for r in whole if r.monitor == name]
        rows = mine + [replace(r, segment=label) for label in labels for r in mine]
        points = candidates(config, rows, top_features).points
        segmented = {(p.namespace, p.metric_name, p.dimensions) for p in points if DIM_SEGMENT in dict(p.dimensions)}
        counts[name] = len(segmented)
    return counts


def alarm_metrics(config: ModelConfig) -> tuple[int, int]:
    """(alarms, metrics they read) of one model: CloudWatch bills a metric-math alarm per metric it reads."""
    alarms = model_alarms(AlarmSettings(stack="bench", reference_rows_per_hour=41_666.0), config)
    metrics = sum(max(1, sum(1 for q in a.get("Metrics", []) if "MetricStat" in q)) for a in alarms)
    return len(alarms), metrics


def counts() -> dict[str, Any]:
    """Everything the cost model needs about series and alarms, per profile."""
    lean = model(MetricsProfile.LEAN)
    alarms, alarm_metric_count = alarm_metrics(lean)
    return {
        "features": FEATURES,
        "profiles": {p.value: series_by_monitor(p) for p in MetricsProfile},
        "operational": list(OPERATIONAL),
        "alarms_per_model": alarms,
        "alarm_metrics_per_model": alarm_metric_count,
        "bias_methods": len(DESCRIPTIONS),
        "segments": {
            "top": SEGMENT_TOP,
            "values": len(segment_labels(with_segments(lean))),  # the top values and `other`
            "profiles": {p.value: segment_series_by_monitor(p) for p in MetricsProfile},
        },
    }
