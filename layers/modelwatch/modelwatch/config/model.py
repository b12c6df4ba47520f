"""The model config: how to read a model's captures and how to monitor it (YAML, validated with pydantic)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelwatch.clock import to_utc
from modelwatch.config.model_quality import (
    GREATER_THAN,
    SCALAR_METRICS,
    ComparisonOperator,
    constraints_from_document,
    load_json,
    map_metric,
)
from modelwatch.constants import DIM_ENDPOINT, DIM_MONITORING_SCHEDULE
from modelwatch.errors import ConfigError
from modelwatch.jsonpath import JsonPathError, compile_path
from modelwatch.units import SEPARATOR, split_unit, unit_name

MAX_CONFIG_BYTES = 1_000_000
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,62}$")
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")  # SageMaker's ProductionVariant VariantName
ALL_VARIANTS = "*"
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,62}$")  # a CloudWatch `Version` value and a lake key part
FIRST_VERSION = "v1"  # the name `register --version` gives a model's versions so far when it declared none


def parse_duration(text: str) -> timedelta:
    """Parse `30m`, `1h`, `2d` into a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and one of s, m, h, d, w (e.g. 1h)")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{_DURATION_UNITS[unit]: amount})


def _check_json_path(path: str) -> str:
    """A path of the one grammar the decoders compile (`modelwatch.jsonpath`)."""
    try:
        compile_path(path)
    except JsonPathError as exc:
        raise ValueError(f"{exc}; use $.field, $.list[*].field, $.list[0], $['any key'] or $[\"any key\"]") from exc
    return path


JsonPath = Annotated[str, Field(description="JSONPath subset: $.a.b, $.a[*].b, $.a[0]")]


class ProblemType(StrEnum):
    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"
    REGRESSION = "regression"

    @property
    def nannyml(self) -> str:
        """The problem type as nannyml names it."""
        return {
            ProblemType.BINARY: "classification_binary",
            ProblemType.MULTICLASS: "classification_multiclass",
            ProblemType.REGRESSION: "regression",
        }[self]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Feature(_Strict):
    name: str = Field(min_length=1)
    type: Literal["numeric", "categorical"] = "numeric"


class InputFormat(_Strict):
    """How to read the request body. CSV: columns are `features` in order. JSON: rows at `instances`."""

    format: Literal["csv", "json"] = "csv"
    # JSON requests: path to the list of rows (or to a single row); rows are lists (positional) or objects (by name).
    instances: JsonPath = "$"
    # Optional per-feature paths inside each row object, when names differ from the feature names.
    feature_paths: dict[str, JsonPath] = Field(default_factory=dict)

    @field_validator("instances")
    @classmethod
    def _instances_path(cls, value: str) -> str:
        return _check_json_path(value)

    @field_validator("feature_paths")
    @classmethod
    def _feature_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value.values():
            _check_json_path(path)
        return value


class OutputFormat(_Strict):
    """How to read the response body.

    CSV: `columns` names each value of an output line, using `y_pred_proba`, `y_pred` or `y_pred_proba_<class>`
    (use `_` to ignore a column). JSON: `probabilities` and/or `prediction` are paths giving one value (or one
    list of class probabilities) per request row.
    """

    format: Literal["csv", "json"] = "csv"
    columns: list[str] = Field(default_factory=list)
    probabilities: JsonPath | None = None
    prediction: JsonPath | None = None

    @model_validator(mode="after")
    def _check(self) -> OutputFormat:
        if self.format == "csv":
            if not self.columns:
                raise ValueError("output.columns is required when output.format is csv")
            if self.probabilities or self.prediction:
                raise ValueError("output.probabilities/prediction are for format json; use output.columns for csv")
        else:
            if not (self.probabilities or self.prediction):
                raise ValueError("output.format json needs output.probabilities and/or output.prediction paths")
            for path in (self.probabilities, self.prediction):
                if path is not None:
                    _check_json_path(path)
        return self


class Chunking(_Strict):
    period: str | None = None
    size: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_of(self) -> Chunking:
        if (self.period is None) == (self.size is None):
            raise ValueError("chunking needs exactly one of period (e.g. 1h) or size (rows)")
        if self.period is not None:
            parse_duration(self.period)
        return self

    @property
    def period_delta(self) -> timedelta | None:
        return parse_duration(self.period) if self.period else None


class GroundTruth(_Strict):
    """Where this model's labels land (an s3:// prefix, or a local folder for `modelwatch run`) and how to read them.

    `csv` (default): one label per request row, a line each. `json`: the label data is a JSON document and `label`
    the path to the label (`$.label`) or to one label per request row (`$.instances[*].label`); default `$`.
    `encoding_hint` says how to read BASE64 label data in csv format.
    """

    prefix: str | None = None
    format: Literal["csv", "json"] = "csv"
    label: JsonPath | None = None
    encoding_hint: Literal["csv", "json"] = "csv"
    # How long after a chunk ends its labels are due; then a label coverage below estimation.min_label_coverage
    # raises the model's label-lag alarm. None: labels have no deadline (no alarm).
    expected_delay: str | None = None

    @field_validator("expected_delay")
    @classmethod
    def _delay(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def expected_delay_delta(self) -> timedelta | None:
        return parse_duration(self.expected_delay) if self.expected_delay else None

    @model_validator(mode="after")
    def _label_path(self) -> GroundTruth:
        if self.label is not None:
            if self.format != "json":
                raise ValueError("ground_truth.label is a JSON path: it needs ground_truth.format json")
            _check_json_path(self.label)
        return self


class BatchTransform(_Strict):
    """A SageMaker batch transform job (run again and again) with `DataCaptureConfig`, watched instead of an
    endpoint. `capture`: its `DestinationS3Uri` (`s3://<capture bucket>/<path>` under the stack's capture prefix, or
    the key path), whose `output/yyyy/mm/dd/hh/` manifests name the job's `.out` files. `join_source` and
    `generate_inference_id`: the job's `DataProcessing.JoinSource` (`input`: each output record holds its input,
    the features; `none`: outputs only, so no feature-based monitoring) and `DataCaptureConfig.GenerateInferenceId`
    (the inference id labels are joined by, and the job's start time)."""

    capture: str | None = Field(default=None, min_length=1)
    join_source: Literal["input", "none"] = "input"
    generate_inference_id: bool = True

    @property
    def capture_key_prefix(self) -> str | None:
        """The key prefix (bucket dropped) of the job's capture, ending with `/`."""
        if self.capture is None:
            return None
        path = self.capture[5:].partition("/")[2] if self.capture.startswith("s3://") else self.capture
        return path.strip("/") + "/"


class Validation(_Strict):
    """Checks at decoding; a record that fails one is quarantined with the reason."""

    # Multiclass: a row's class probabilities may sum to 1 plus or minus this (rounded outputs need some slack).
    probability_sum_tolerance: float = Field(default=0.01, ge=0.0, lt=1.0)
    # An inferenceTime later than the capture object's arrival (S3 LastModified) by more than this is quarantined.
    max_time_skew: str = "1d"

    @field_validator("max_time_skew")
    @classmethod
    def _skew(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def max_time_skew_delta(self) -> timedelta:
        return parse_duration(self.max_time_skew)


class Threshold(_Strict):
    """A nannyml threshold: `standard_deviation` (default, std_lower/upper_multiplier) or `constant` (lower/upper)."""

    type: Literal["standard_deviation", "constant"] = "standard_deviation"
    lower: float | None = None
    upper: float | None = None
    std_lower_multiplier: float | None = 3.0
    std_upper_multiplier: float | None = 3.0

    @model_validator(mode="after")
    def _bounds(self) -> Threshold:
        # nannyml accepts these and fails at fit, runs later and far from the config: refused here instead
        if self.type == "constant" and self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) is above upper ({self.upper})")
        if self.type == "standard_deviation" and (self.lower is not None or self.upper is not None):
            raise ValueError("lower/upper are for type constant; standard_deviation takes std_*_multiplier")
        for name in ("std_lower_multiplier", "std_upper_multiplier"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        return self


BINARY_METRICS = ("roc_auc", "f1", "precision", "recall", "specificity", "accuracy", "average_precision")
MULTICLASS_METRICS = ("roc_auc", "f1", "precision", "recall", "specificity", "accuracy")
REGRESSION_METRICS = ("mae", "mape", "mse", "msle", "rmse", "rmsle")
DEFAULT_METRICS = {
    ProblemType.BINARY: ["roc_auc", "f1"],
    ProblemType.MULTICLASS: ["roc_auc", "f1"],
    ProblemType.REGRESSION: ["mae", "rmse"],
}


# Model Monitor's model-quality namespaces, for endpoints and for batch transform (the template allows these two).
ModelQualityNamespace = Literal["aws/sagemaker/Endpoints/model-metrics", "aws/sagemaker/ModelMonitoring/model-metrics"]
MODEL_QUALITY_NAMESPACE: ModelQualityNamespace = "aws/sagemaker/Endpoints/model-metrics"
MODEL_QUALITY_BATCH_NAMESPACE: ModelQualityNamespace = "aws/sagemaker/ModelMonitoring/model-metrics"


class ModelMonitorConstraint(_Strict):
    """One metric of a Model Monitor model-quality constraints.json: a violation when `value <operator> threshold`."""

    threshold: float = Field(allow_inf_nan=False)
    comparison_operator: ComparisonOperator


class ModelMonitorQuality(_Strict):
    """Compatibility with SageMaker Model Monitor's model-quality monitor.

    `constraints`: its constraints.json entries (`{metric: {threshold, comparison_operator}}`), filled from
    `estimation.constraints` when the config is loaded or registered (write them here only to give constraints
    without a file). `metrics`: publish Model Monitor's bare metric names (`accuracy`, `f2`, `mae`, ...) with
    `Endpoint` and `MonitoringSchedule` dimensions (batch transform: `MonitoringSchedule`) in `namespace`
    (`metric_names`: only these; the cost lever).
    `files`: write its statistics.json and constraint violations of each labelled chunk to the lake.
    """

    constraints: dict[str, ModelMonitorConstraint] = Field(default_factory=dict)
    metrics: bool = False
    namespace: ModelQualityNamespace | None = None  # default: the endpoint one, the batch one for batch_transform
    monitoring_schedule: str | None = Field(default=None, min_length=1, max_length=255)  # default <name>-model-quality
    metric_names: list[str] | None = None
    files: bool = True

    @property
    def enabled(self) -> bool:
        """Model Monitor's statistics are computed per labelled chunk (constraints given, or its metrics asked)."""
        return bool(self.constraints) or self.metrics


class Estimation(_Strict):
    metrics: list[str] = Field(default_factory=list)
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    # A Model Monitor model-quality constraints.json (path relative to this file, or s3://): its thresholds and
    # operators become constant thresholds of the mapped metrics, estimated and realized (see model_monitor).
    constraints: str | None = Field(default=None, min_length=1)
    model_monitor: ModelMonitorQuality = Field(default_factory=ModelMonitorQuality)
    min_rows_per_chunk: int = Field(default=100, ge=1)
    lateness: str = "15m"
    min_label_coverage: float = Field(default=0.5, ge=0.0, le=1.0)
    # Drift and data-quality metrics (count of features in drift alert, missing rate of top features).
    drift_metrics: bool = True
    top_features: int = Field(default=3, ge=0)

    @field_validator("lateness")
    @classmethod
    def _lateness(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def uses_drift(self) -> bool:
        """Runs calculate univariate drift: for the drift metrics or the top-feature ranking."""
        return self.drift_metrics or self.top_features > 0

    @property
    def lateness_delta(self) -> timedelta:
        return parse_duration(self.lateness)


CONTINUOUS_DRIFT_METHODS = ("jensen_shannon", "kolmogorov_smirnov", "wasserstein", "hellinger")
CATEGORICAL_DRIFT_METHODS = ("jensen_shannon", "chi2", "l_infinity", "hellinger")
MODEL_MONITOR_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
ModelMonitorMetric = Literal["feature_baseline_drift", "feature_non_null", "feature_null", "feature_completeness"]


class Drift(_Strict):
    """Univariate drift methods (nannyml's names) per feature type, drift of the model's outputs (with per-chunk
    prediction statistics) and multivariate drift (PCA data reconstruction error)."""

    continuous_methods: list[str] = Field(default_factory=lambda: ["jensen_shannon"], min_length=1)
    categorical_methods: list[str] = Field(default_factory=lambda: ["jensen_shannon"], min_length=1)
    outputs: bool = True
    multivariate: bool = True

    @model_validator(mode="after")
    def _methods(self) -> Drift:
        for name, given, allowed in (
            ("continuous_methods", self.continuous_methods, CONTINUOUS_DRIFT_METHODS),
            ("categorical_methods", self.categorical_methods, CATEGORICAL_DRIFT_METHODS),
        ):
            bad = [m for m in given if m not in allowed]
            if bad or len(set(given)) != len(given):
                raise ValueError(f"drift.{name}: {bad or given} invalid or repeated; use some of {list(allowed)}")
        return self


def _default_model_monitor_metrics() -> list[ModelMonitorMetric]:
    return ["feature_baseline_drift", "feature_non_null"]


class DataQuality(_Strict):
    """Model Monitor's data-quality checks against a baseline (`statistics`/`constraints` of an existing baseline,
    paths relative to this file or s3:// URIs; none: suggested from the reference), nannyml's data-quality
    calculators, and CloudWatch metrics with Model Monitor's names and dimensions."""

    enabled: bool = True
    statistics: str | None = None
    constraints: str | None = None
    namespace: str = Field(default=MODEL_MONITOR_NAMESPACE, min_length=1, max_length=255)
    monitoring_schedule: str | None = Field(default=None, min_length=1)  # dimension value; default <name>-data-quality
    # Model Monitor's per-feature metric families to publish (each is one series per feature): the cost lever.
    metrics: list[ModelMonitorMetric] = Field(default_factory=_default_model_monitor_metrics)
    metric_features: list[str] | None = None  # features with per-feature metrics (None: all)

    @model_validator(mode="after")
    def _both(self) -> DataQuality:
        if (self.statistics is None) != (self.constraints is None):
            raise ValueError("data_quality: name both statistics and constraints of the baseline, or neither")
        return self


class ExtraColumn(_Strict):
    """A captured column the model does not use (a bias facet, a group variable), decoded into the lake like a
    feature: from a positional request row (a CSV line, a JSON list) at `csv_index` (0-based, counted over the whole
    row; the features take the other positions in order) and from a JSON request row object at `path` (default the
    key of its name). As for features, a damaged value or an object without the key is stored as missing and recorded
    in `feature_issues` under the column's name; positional rows without a `csv_index` for it simply lack it."""

    name: str = Field(min_length=1)
    type: Literal["numeric", "categorical"] = "categorical"
    csv_index: int | None = Field(default=None, ge=0)
    path: JsonPath | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else _check_json_path(value)


# Clarify's bias metrics by stage (smclarify's registry); `methods: all` means every one of both stages.
PRE_TRAINING_METRICS = ("CDDL", "CI", "DPL", "JS", "KL", "KS", "LP", "TVD")
POST_TRAINING_METRICS = ("AD", "CDDPL", "DAR", "DCA", "DCR", "DI", "DPPL", "DRR", "FT", "GE", "RD", "SD", "TE")
_POSITIVE_ONE: list[str | int | float] = [1]
DEFAULT_BIAS_NAMESPACE = "aws/sagemaker/Endpoints/bias-metrics"
DEFAULT_EXPLAINABILITY_NAMESPACE = "aws/sagemaker/Endpoints/explainability-metrics"


class BiasFacet(_Strict):
    """A sensitive attribute in Clarify's terms: a column (name, or index among the features) and its sensitive values
    (categorical: facet d is the rows with one of them; numeric: one threshold, facet d is (threshold, max])."""

    name_or_index: str | int
    value_or_threshold: list[str | int | float] = Field(min_length=1)


class BiasConfig(_Strict):
    """Clarify's bias analysis (`analysis_config.json` field names) per facet; `baseline`: a Clarify `analysis.json`
    to compare with instead of the one computed on the reference; `namespace`: the CloudWatch namespace of the
    `bias_metric_<NAME>` metrics (one the stack's BiasMetricNamespace parameter allows)."""

    label_values_or_threshold: list[str | int | float] = Field(
        default_factory=lambda: list(_POSITIVE_ONE), min_length=1
    )
    probability_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    facets: list[BiasFacet] = Field(min_length=1)
    group_variable: str | int | None = None
    methods: Literal["all"] | list[str] = "all"
    baseline: str | None = None
    namespace: str = Field(default=DEFAULT_BIAS_NAMESPACE, min_length=1, max_length=255)

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            known = (*PRE_TRAINING_METRICS, *POST_TRAINING_METRICS)
            unknown = [m for m in value if m not in known]
            if unknown:
                raise ValueError(f"unknown bias metrics {unknown}; use 'all' or some of {sorted(known)}")
        return value

    def positive_class(self, classes: list[str]) -> int:
        """The binary class (0 or 1) `label_values_or_threshold` names positive: 0/1, true/false or a class name."""
        found = set()
        for value in self.label_values_or_threshold:
            text = str(value).strip().lower()
            if text in ("1", "1.0", "true") or (classes and text == classes[1].lower()):
                found.add(1)
            elif text in ("0", "0.0", "false") or (classes and text == classes[0].lower()):
                found.add(0)
            else:
                raise ValueError(f"bias.label_values_or_threshold: {value!r} is not 0/1 or one of the classes")
        if len(found) != 1:
            raise ValueError("bias.label_values_or_threshold: names both classes; name the positive one")
        return found.pop()

    @property
    def label_value(self) -> str:
        """Clarify's label_value_or_threshold (the LabelValue dimension)."""
        return ",".join(str(v) for v in self.label_values_or_threshold)

    @property
    def metrics(self) -> list[str]:
        """The Clarify metrics to compute, pre-training then post-training, each in smclarify's order."""
        chosen = set(PRE_TRAINING_METRICS + POST_TRAINING_METRICS) if self.methods == "all" else set(self.methods)
        return [m for m in (*PRE_TRAINING_METRICS, *POST_TRAINING_METRICS) if m in chosen]


class AttributionConfig(_Strict):
    """Feature-attribution drift: a surrogate of the endpoint (LightGBM, features -> captured output) fitted on the
    reference and on each chunk, TreeSHAP global attributions (mean |SHAP|) compared by Clarify's nDCG. `baseline`:
    a Clarify `analysis.json` whose `explanations.kernel_shap.<label>.global_shap_values` replace the reference's;
    `min_faithfulness`: the held-out R² a surrogate needs before its attributions are compared."""

    enabled: bool = True
    ndcg_threshold: float = Field(default=0.9, gt=0.0, le=1.0)
    min_faithfulness: float = Field(default=0.8, ge=0.0, le=1.0)
    baseline: str | None = None
    label: str = Field(default="label0", min_length=1)
    namespace: str = Field(default=DEFAULT_EXPLAINABILITY_NAMESPACE, min_length=1, max_length=255)


class ChunksInAlert(_Strict):
    """Noise control: a metric is in alert when at least `chunks` of the last `of_last` complete chunks are."""

    chunks: int = Field(default=1, ge=1)
    of_last: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _m_of_n(self) -> ChunksInAlert:
        if self.chunks > self.of_last:
            raise ValueError(f"chunks ({self.chunks}) cannot exceed of_last ({self.of_last})")
        return self


class EndpointAlarms(_Strict):
    """Optional alarms on the endpoint's own metrics (AWS/SageMaker, per endpoint and variant)."""

    enabled: bool = False
    max_latency_ms: float | None = Field(default=None, gt=0)  # ModelLatency average over 5 minutes
    max_5xx: int | None = Field(default=1, ge=1)  # Invocation5XXErrors in 5 minutes, at or above
    max_4xx: int | None = Field(default=None, ge=1)  # Invocation4XXErrors in 5 minutes, at or above


class Alerts(_Strict):
    """What pages and how often: the direction that counts, reminders, noise control and the silence alarms."""

    # worse: crossings in the bad direction page; crossings in the good direction are an improvement notice only.
    direction: Literal["worse", "both"] = "worse"
    remind_every: str = "24h"  # at most one reminder per open incident in this interval
    band_beyond_threshold: bool = False  # an estimate alerts only when its whole confidence band is past the threshold
    in_alert: ChunksInAlert = Field(default_factory=ChunksInAlert)
    no_data_after: str | None = "2h"  # no captured rows for this long raises the no-data alarm (None: no alarm)
    min_traffic_share: float = Field(default=0.1, ge=0.0, le=1.0)  # of the reference's rows per hour; 0: off
    max_quarantine_share: float = Field(default=0.05, gt=0.0, le=1.0)  # of decoded + quarantined records, per hour
    endpoint: EndpointAlarms = Field(default_factory=EndpointAlarms)

    @field_validator("remind_every")
    @classmethod
    def _remind(cls, value: str) -> str:
        if parse_duration(value) < timedelta(minutes=1):
            raise ValueError("remind_every must be at least 1m")
        return value

    @field_validator("no_data_after")
    @classmethod
    def _no_data(cls, value: str | None) -> str | None:
        if value is not None:
            delta = parse_duration(value)
            # CloudWatch evaluates at most 7 days (Period x EvaluationPeriods) and in whole minutes.
            if not timedelta(minutes=5) <= delta <= timedelta(days=7) or delta.total_seconds() % 60:
                raise ValueError("no_data_after must be whole minutes between 5m and 7d")
        return value

    @property
    def remind_every_delta(self) -> timedelta:
        return parse_duration(self.remind_every)

    @property
    def no_data_after_delta(self) -> timedelta | None:
        return parse_duration(self.no_data_after) if self.no_data_after else None


class MetricsProfile(StrEnum):
    """Which datapoints go to CloudWatch (every series is billed per month): `lean` the ones the per-model alarms and
    the dashboard read; `full` every monitor's datapoints (confidence bounds, estimation error, per-feature and
    per-metric detail, Model Monitor's and Clarify's per-feature names too)."""

    LEAN = "lean"
    FULL = "full"


class MetricsConfig(_Strict):
    """`metrics:` what a run sends to CloudWatch; the results tables, the report and `modelwatch run`'s
    metrics.jsonl keep everything whatever the profile."""

    profile: MetricsProfile = MetricsProfile.LEAN


class VariantSpec(_Strict):
    """A production variant the model watches: `{name: challenger, reference: reference-challenger.parquet}` (its
    own reference data; the model's `reference` otherwise). A bare name is accepted too."""

    name: str
    reference: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _VARIANT_NAME.match(value):
            raise ValueError(f"{value!r} is not a SageMaker variant name (1-63 letters, digits and '-')")
        return value


class Segment(_Strict):
    """`segments:` a column (a feature or an extra captured column) whose values the performance and drift monitors
    also analyse apart: the `top` values by reference volume each, the rest together as `other`."""

    column: str = Field(min_length=1)
    top: int = Field(default=5, ge=1, le=50)


class Comparison(_Strict):
    """`comparison:` how the variants of a model watching several are compared (`modelwatch compare`, the report,
    the challenger notification): each challenger against the champion, on the difference of their estimated (and,
    where labelled, realized) metric per chunk, over the last `last_chunks` chunks both have."""

    champion: str | None = None  # a variant name; default the first listed (with "*": none, so nothing notifies)
    last_chunks: int = Field(default=24, ge=1, le=10_000)
    z: float = Field(default=1.96, gt=0.0, le=10.0)  # how many standard errors make a difference significant
    notify: bool = True  # a notification when a challenger is significantly worse than the champion


class VersionSpec(_Strict):
    """A version of the model behind the endpoint (`versions:`): live from `from` (the first from the start) until the
    next one's, with its own reference (the first may use the model's). A version without `from` is pending: it
    goes live at the endpoint's next update (a SageMaker endpoint state change on EventBridge)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    reference: str | None = None
    effective_from: datetime | None = Field(default=None, alias="from")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _VERSION_NAME.match(value):
            raise ValueError(f"{value!r} is not a version name (1-63 letters, digits, '-' or '_')")
        return value

    @field_validator("effective_from")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)


@dataclass(frozen=True)
class VersionSpan:
    """Where a live version's rows are: captured in [start, end) (None: open on that side)."""

    name: str
    reference: str | None
    start: datetime | None
    end: datetime | None

    def holds(self, when: datetime) -> bool:
        when = to_utc(when)
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)


class ModelConfig(_Strict):
    """One monitored model. `name` is the lake partition and the CloudWatch `Model` dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    endpoint: str = Field(min_length=1)
    variant: str = "AllTraffic"
    # Several production variants, each monitored as its own unit `<name>.<variant>` (modelwatch.units); "*" for
    # every variant found under the endpoint. None: the one `variant`.
    variants: list[VariantSpec] | Literal["*"] | None = None
    comparison: Comparison = Field(default_factory=Comparison)
    segments: list[Segment] = Field(default_factory=list, max_length=5)
    # Model versions behind the endpoint, in the order they went (or go) live; None: one version throughout.
    versions: list[VersionSpec] | None = None
    unit_of: str | None = None  # set on a unit: the model it belongs to (never written by users)
    problem_type: ProblemType
    features: list[Feature] = Field(min_length=1)
    input: InputFormat = Field(default_factory=InputFormat)
    output: OutputFormat
    classes: list[str] = Field(default_factory=list)
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    target: str = "target"
    timestamp: str = "timestamp"
    reference: str | None = None
    chunking: Chunking = Field(default_factory=lambda: Chunking(period="1h"))
    ground_truth: GroundTruth = Field(default_factory=GroundTruth)
    estimation: Estimation = Field(default_factory=Estimation)
    alerts: Alerts = Field(default_factory=Alerts)
    validation: Validation = Field(default_factory=Validation)
    drift: Drift = Field(default_factory=Drift)
    data_quality: DataQuality = Field(default_factory=DataQuality)
    batch_transform: BatchTransform | None = None
    extra_columns: list[ExtraColumn] = Field(default_factory=list)
    bias: BiasConfig | None = None
    attribution: AttributionConfig | None = None
    # YAML `metrics:` (the attribute `metrics` is the list of estimated metrics); dumped under the field's name and
    # read back by it (populate_by_name), written as `metrics:` by to_yaml.
    cloudwatch: MetricsConfig = Field(default_factory=MetricsConfig, alias="metrics")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        model, variant = split_unit(value)  # a unit's name: checked against unit_of below
        if not _MODEL_NAME.match(model) or (variant is not None and not _VARIANT_NAME.match(variant)):
            raise ValueError("name must be 1-63 letters, digits, '-' or '_', starting with a letter or digit")
        return value

    @field_validator("variants", mode="before")
    @classmethod
    def _variant_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    def _check_versions(self) -> None:
        if self.versions is None:
            return
        if not self.versions:
            raise ValueError("versions: name at least one version (or leave versions out)")
        if self.chunking.period is None:
            raise ValueError("versions: chunk by period (size chunks are numbered over every version's rows)")
        names = [v.name for v in self.versions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"versions: {twice} listed twice")
        if self.versions[0].effective_from is not None:
            raise ValueError(f"versions[0].from: the first version ({names[0]}) is live from the start; leave it out")
        previous: datetime | None = None
        for index, spec in enumerate(self.versions[1:], start=1):
            if spec.effective_from is None:
                if index != len(self.versions) - 1:
                    raise ValueError(
                        f"versions[{index}].from: only the last version may be pending (go live at the endpoint's "
                        "next update); give the others a time"
                    )
                continue
            if previous is not None and spec.effective_from <= previous:
                raise ValueError(f"versions[{index}].from: versions go live in the order listed, each after the last")
            previous = spec.effective_from

    def _check_variants(self) -> None:
        if self.unit_of is not None:
            if self.name != unit_name(self.unit_of, self.variant) or self.variants is not None:
                raise ValueError(f"unit_of: {self.name!r} is not the unit of model {self.unit_of!r} for {self.variant}")
            return
        if SEPARATOR in self.name:
            raise ValueError("name must be 1-63 letters, digits, '-' or '_', starting with a letter or digit")
        if isinstance(self.variants, list):
            if not self.variants:
                raise ValueError('variants: name at least one variant, or "*" for every variant of the endpoint')
            if self.variant != "AllTraffic":
                raise ValueError("variant and variants: use one (variants: lists every variant the model watches)")
            names = [v.name for v in self.variants]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"variants: {twice} listed twice")
            if self.comparison.champion is not None and self.comparison.champion not in names:
                raise ValueError(f"comparison.champion: {self.comparison.champion!r} is not one of variants {names}")
        if self.variants == ALL_VARIANTS and self.variant != "AllTraffic":
            raise ValueError('variant and variants: use one (variants: "*" watches every variant of the endpoint)')

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        self._check_variants()
        self._check_versions()
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features: duplicate names {duplicates}")
        unknown = sorted(set(self.data_quality.metric_features or []) - set(names))
        if unknown:
            raise ValueError(f"data_quality.metric_features: {unknown} are not features")
        if self.problem_type is ProblemType.MULTICLASS and len(self.classes) < 2:
            raise ValueError("classes: multiclass_classification needs at least two classes, in output order")
        if self.problem_type is ProblemType.BINARY and self.classes and len(self.classes) != 2:
            raise ValueError("classes: binary_classification takes exactly two classes (negative, positive)")
        allowed = {
            ProblemType.BINARY: BINARY_METRICS,
            ProblemType.MULTICLASS: MULTICLASS_METRICS,
            ProblemType.REGRESSION: REGRESSION_METRICS,
        }[self.problem_type]
        bad = [m for m in self.estimation.metrics if m not in allowed]
        if bad:
            realized_only = [m for m in bad if map_metric(self.problem_type.value, m).kind == "realized_only"]
            hint = (
                f" (nannyml cannot estimate {realized_only}: a Model Monitor constraint on them, "
                "estimation.constraints, is checked on realized values)"
                if realized_only
                else ""
            )
            raise ValueError(
                f"estimation.metrics: {bad} not valid for {self.problem_type.value}; use {list(allowed)}{hint}"
            )
        bad_thresholds = [m for m in self.estimation.thresholds if m not in allowed]
        if bad_thresholds:
            raise ValueError(f"estimation.thresholds: {bad_thresholds} are not metrics of {self.problem_type.value}")
        self._check_model_monitor()
        for column in self.output.columns:
            if column in ("_", "y_pred", "y_pred_proba"):
                continue
            if column.startswith("y_pred_proba_") and self.problem_type is ProblemType.MULTICLASS:
                if column.removeprefix("y_pred_proba_") not in self.classes:
                    raise ValueError(f"output.columns: {column} names a class not in classes {self.classes}")
                continue
            raise ValueError(
                f"output.columns: {column!r} is not one of y_pred_proba, y_pred, y_pred_proba_<class> or _"
            )
        self._check_bias_and_attribution()
        columns = [s.column for s in self.segments]
        for index, column in enumerate(columns):
            self.column_of(column, f"segments.{index}.column")
        if len(set(columns)) != len(columns):
            raise ValueError("segments: a column is listed twice")
        return self

    def _check_bias_and_attribution(self) -> None:
        extra = [c.name for c in self.extra_columns]
        clashes = sorted(set(extra) & set(self.feature_names)) + sorted({n for n in extra if extra.count(n) > 1})
        if clashes:
            raise ValueError(f"extra_columns: {clashes} are already features or listed twice")
        positions = [c.csv_index for c in self.extra_columns if c.csv_index is not None]
        width = len(self.features) + len(positions)
        misplaced = sorted({p for p in positions if positions.count(p) > 1 or p >= width})
        if misplaced:
            raise ValueError(
                f"extra_columns: csv_index {misplaced} taken twice or past the row's end (a positional row holds "
                f"{width} values: the features and the extra columns with a csv_index, so indexes 0-{width - 1})"
            )
        if self.bias is not None:
            if self.problem_type is not ProblemType.BINARY:
                raise ValueError("bias: supported for binary_classification only")
            for index, facet in enumerate(self.bias.facets):
                column = self.column_of(facet.name_or_index, f"bias.facets.{index}.name_or_index")
                if self.column_type(column) == "numeric" and len(facet.value_or_threshold) != 1:
                    raise ValueError(f"bias.facets.{index}: numeric facet {column!r} takes one threshold")
                if self.column_type(column) == "numeric":
                    try:
                        float(facet.value_or_threshold[0])
                    except ValueError as exc:
                        raise ValueError(f"bias.facets.{index}: threshold of {column!r} is not a number") from exc
            self.bias.positive_class(self.classes)
            if self.bias.group_variable is not None:
                self.column_of(self.bias.group_variable, "bias.group_variable")
        if self.attribution is not None and self.problem_type is ProblemType.MULTICLASS:
            raise ValueError("attribution: supported for binary_classification and regression")

    def column_of(self, name_or_index: str | int, where: str = "column") -> str:
        """The feature or extra column a Clarify `name_or_index` names (an index counts the features, in order)."""
        if isinstance(name_or_index, int):
            if not 0 <= name_or_index < len(self.features):
                raise ValueError(f"{where}: index {name_or_index} is not a feature index (0-{len(self.features) - 1})")
            return self.features[name_or_index].name
        if name_or_index not in self.feature_names and name_or_index not in self.extra_column_names:
            raise ValueError(f"{where}: {name_or_index!r} is neither a feature nor an extra column")
        return name_or_index

    def column_type(self, name: str) -> str:
        """`numeric` or `categorical`: the declared type of a feature or extra column."""
        columns: list[Feature | ExtraColumn] = [*self.features, *self.extra_columns]
        for column in columns:
            if column.name == name:
                return column.type
        raise KeyError(name)

    @property
    def extra_column_names(self) -> list[str]:
        return [c.name for c in self.extra_columns]

    def _check_model_monitor(self) -> None:
        """Model Monitor constraints name metrics of the problem type that modelwatch can monitor, each nannyml
        metric at most once (and not in estimation.thresholds too)."""
        quality = self.estimation.model_monitor
        problem = self.problem_type.value
        claimed: dict[str, str] = {}
        for metric in quality.constraints:
            mapping = map_metric(problem, metric)
            if not mapping.usable:
                where = f"estimation.model_monitor.constraints.{metric}"
                raise ValueError(f"{where}: cannot be monitored: {mapping.reason}")
            target = mapping.nannyml_metric
            if target is None:
                continue
            if target in claimed:
                raise ValueError(
                    f"estimation.model_monitor.constraints: {claimed[target]} and {metric} are both nannyml's "
                    f"{target}: keep one"
                )
            if target in self.estimation.thresholds:
                raise ValueError(
                    f"estimation.thresholds.{target}: also set by the Model Monitor constraint on {metric}: keep one"
                )
            claimed[target] = metric
        unknown = sorted(n for n in quality.metric_names or [] if n not in SCALAR_METRICS[problem])
        if unknown:
            raise ValueError(
                f"estimation.model_monitor.metric_names: {unknown} are not Model Monitor {problem} scalar metrics"
            )

    # Production variants (modelwatch.units).
    @property
    def watches_variants(self) -> bool:
        """Whether the config names its variants: each is then a unit `<name>.<variant>` with a Variant dimension."""
        return self.variants is not None

    @property
    def model_name(self) -> str:
        """The model's name (a unit's model, else the name)."""
        return self.unit_of or self.name

    @property
    def champion(self) -> str | None:
        """The variant the others are compared with (`comparison.champion`, else the first listed)."""
        if self.comparison.champion is not None:
            return self.comparison.champion
        return self.variants[0].name if isinstance(self.variants, list) else None

    def unit(self, variant: str) -> ModelConfig:
        """The unit monitoring one of the model's variants: named `<name>.<variant>`, with the variant's reference."""
        if not self.watches_variants:
            raise ConfigError(f"model {self.name} watches one variant ({self.variant}), not several")
        reference = self.reference
        if isinstance(self.variants, list):
            specs = {v.name: v for v in self.variants}
            if variant not in specs:
                raise ConfigError(f"model {self.name} does not watch variant {variant!r} (variants: {list(specs)})")
            reference = specs[variant].reference or self.reference
        elif not _VARIANT_NAME.match(variant):
            raise ConfigError(f"model {self.name}: {variant!r} is not a SageMaker variant name")
        quality, model_quality = self.data_quality, self.estimation.model_monitor
        if quality.monitoring_schedule:  # a configured schedule name, one series per variant
            quality = quality.model_copy(update={"monitoring_schedule": f"{quality.monitoring_schedule}-{variant}"})
        if model_quality.monitoring_schedule:
            schedule = f"{model_quality.monitoring_schedule}-{variant}"
            model_quality = model_quality.model_copy(update={"monitoring_schedule": schedule})
        return self.model_copy(
            update={
                "name": unit_name(self.name, variant),
                "variant": variant,
                "variants": None,
                "unit_of": self.name,
                "reference": reference,
                "comparison": self.comparison.model_copy(update={"champion": self.champion}),
                "data_quality": quality,
                "estimation": self.estimation.model_copy(update={"model_monitor": model_quality}),
            }
        )

    def units(self, seen: list[str] | tuple[str, ...] = ()) -> list[ModelConfig]:
        """What is monitored: the model itself, or one unit per listed variant (with "*", per variant `seen`)."""
        if self.variants is None:
            return [self]
        names = [v.name for v in self.variants] if isinstance(self.variants, list) else sorted(set(seen))
        return [self.unit(name) for name in names]

    def reads_variant(self, variant: str) -> bool:
        """Whether captures of `variant` (of the model's endpoint) are the model's."""
        if self.variants is None:
            return variant == self.variant
        if isinstance(self.variants, list):
            return any(v.name == variant for v in self.variants)
        return _VARIANT_NAME.match(variant) is not None  # "*"

    # Model versions: chunks never mix them (each version's rows are analysed against its own reference).
    def version_spans(self) -> list[VersionSpan]:
        """The live versions (the pending one left out) and when their rows were captured, in order; one open span
        named by no version for a config without `versions`."""
        if self.versions is None:
            return [VersionSpan("", self.reference, None, None)]
        live = [v for i, v in enumerate(self.versions) if i == 0 or v.effective_from is not None]
        spans = []
        for index, spec in enumerate(live):
            end = live[index + 1].effective_from if index + 1 < len(live) else None
            reference = spec.reference or (self.reference if index == 0 else None)
            spans.append(VersionSpan(spec.name, reference, spec.effective_from, end))
        return spans

    @property
    def versioned(self) -> bool:
        """Whether more than one version is live: results then carry the version, datapoints a Version dimension."""
        return len(self.version_spans()) > 1

    @property
    def pending_version(self) -> VersionSpec | None:
        """The version registered to go live at the endpoint's next update, if any."""
        if not self.versions or len(self.versions) < 2 or self.versions[-1].effective_from is not None:
            return None
        return self.versions[-1]

    # Derived names, used by decoding, estimation and publishing alike.
    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def constrained_metrics(self) -> dict[str, str]:
        """Model Monitor constraint metric -> the nannyml metric it thresholds (metrics nannyml can estimate)."""
        problem = self.problem_type.value
        found = {m: map_metric(problem, m).nannyml_metric for m in self.estimation.model_monitor.constraints}
        return {m: target for m, target in found.items() if target is not None}

    @property
    def realized_only_metrics(self) -> list[str]:
        """Model Monitor constraint metrics nannyml cannot estimate: checked on realized values only."""
        problem = self.problem_type.value
        quality = self.estimation.model_monitor
        return [m for m in quality.constraints if map_metric(problem, m).kind == "realized_only"]

    @property
    def metrics(self) -> list[str]:
        """The nannyml metrics estimated and realized: the listed ones (else the defaults, unless Model Monitor
        constraints name some), then those Model Monitor constraints map to."""
        constrained = list(dict.fromkeys(self.constrained_metrics.values()))
        listed = list(self.estimation.metrics)
        if not listed and not constrained:
            listed = list(DEFAULT_METRICS[self.problem_type])
        return list(dict.fromkeys([*listed, *constrained]))

    @property
    def alert_metrics(self) -> list[str]:
        """Every metric that can alert: the nannyml metrics and the realized-only Model Monitor constraints."""
        return [*self.metrics, *self.realized_only_metrics]

    @property
    def model_quality_namespace(self) -> str:
        """Where Model Monitor's model-quality metrics go: configured, else its endpoint or batch namespace."""
        configured = self.estimation.model_monitor.namespace
        if configured is not None:
            return configured
        return MODEL_QUALITY_BATCH_NAMESPACE if self.batch_transform is not None else MODEL_QUALITY_NAMESPACE

    @property
    def data_quality_schedule(self) -> str:
        """The MonitoringSchedule dimension of the model's Model Monitor data-quality metrics."""
        return self.data_quality.monitoring_schedule or f"{self.name}-data-quality"

    @property
    def model_quality_dimensions(self) -> tuple[tuple[str, str], ...]:
        """Model Monitor's dimensions of its model-quality metrics: Endpoint and MonitoringSchedule (batch transform:
        MonitoringSchedule only, as for its batch data-quality metrics)."""
        schedule = self.estimation.model_monitor.monitoring_schedule or f"{self.name}-model-quality"
        if self.batch_transform is not None:
            return ((DIM_MONITORING_SCHEDULE, schedule),)
        return ((DIM_ENDPOINT, self.endpoint), (DIM_MONITORING_SCHEDULE, schedule))

    @property
    def thresholds(self) -> dict[str, Threshold]:
        """nannyml thresholds per metric: estimation.thresholds and the Model Monitor constraints as constant ones
        (GreaterThanThreshold an upper threshold, LessThanThreshold a lower one)."""
        found = dict(self.estimation.thresholds)
        for metric, target in self.constrained_metrics.items():
            constraint = self.estimation.model_monitor.constraints[metric]
            side = "upper" if constraint.comparison_operator == GREATER_THAN else "lower"
            found[target] = Threshold(type="constant", **{side: constraint.threshold})
        return found

    @property
    def proba_columns(self) -> list[str]:
        """The probability columns of decoded rows: `y_pred_proba`, or one per class for multiclass."""
        if self.problem_type is ProblemType.MULTICLASS:
            return [f"y_pred_proba_{c}" for c in self.classes]
        if self.problem_type is ProblemType.BINARY:
            return ["y_pred_proba"]
        return []

    @property
    def prediction_columns(self) -> list[str]:
        return [*self.proba_columns, "y_pred"]

    def fingerprint(self) -> str:
        """A stable hash of the config, for the fitted-estimator manifest."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False, by_alias=True), sort_keys=False)


def validation_summary(exc: ValidationError) -> str:
    """One line naming every invalid field: `a.b: message; c: message` (shared by configs and function inputs)."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"]) or "(top level)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def _format_validation_error(exc: ValidationError, source: str) -> str:
    return f"{source}: invalid model config: " + validation_summary(exc)


def parse_model_config(data: Any, source: str = "<config>") -> ModelConfig:
    """Validate a parsed config mapping; errors name the field and the source."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: invalid model config: expected a mapping at the top level")
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what, and where (line and column); PyYAML's own text spans several lines and
    quotes the document."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def load_model_config_text(text: str | bytes, source: str = "<config>") -> ModelConfig:
    """Parse YAML (safe loader, size-limited) into a validated ModelConfig."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: config is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {_yaml_problem(exc)}") from exc
    return parse_model_config(data, source)


def load_model_config(path: str | Path) -> ModelConfig:
    """Load a model config file; a relative `reference` is resolved against the config's folder."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read model config: {exc.strerror}") from exc
    config = load_model_config_text(text, str(path))
    if config.reference and "://" not in config.reference and not Path(config.reference).is_absolute():
        config = config.model_copy(update={"reference": str((path.parent / config.reference).resolve())})
    if isinstance(config.variants, list):  # a variant's own reference, relative to the config's folder too
        config = config.model_copy(update={"variants": [_relative_to(path, v) for v in config.variants]})
    if config.versions:  # and a version's
        config = config.model_copy(update={"versions": [_relative_to(path, v) for v in config.versions]})
    quality = config.data_quality
    if quality.statistics and quality.constraints:
        resolved = {
            key: value if "://" in value or Path(value).is_absolute() else str((path.parent / value).resolve())
            for key, value in (("statistics", quality.statistics), ("constraints", quality.constraints))
        }
        config = config.model_copy(update={"data_quality": quality.model_copy(update=resolved)})
    constraints = config.estimation.constraints
    if constraints and "://" not in constraints:
        location = constraints if Path(constraints).is_absolute() else str((path.parent / constraints).resolve())
        try:
            body = Path(location).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: estimation.constraints: cannot read {location}: {exc.strerror}") from exc
        config = with_model_monitor_constraints(config, body, location)
    return config


def _relative_to(path: Path, spec: VariantSpec | VersionSpec) -> Any:
    """A variant's or version's spec with its relative `reference` resolved against the config file's folder."""
    if spec.reference and "://" not in spec.reference and not Path(spec.reference).is_absolute():
        return spec.model_copy(update={"reference": str((path.parent / spec.reference).resolve())})
    return spec


def with_model_monitor_constraints(config: ModelConfig, body: bytes | str, source: str) -> ModelConfig:
    """The config with the Model Monitor constraints.json at `source` (its bytes) read into
    estimation.model_monitor.constraints and `estimation.constraints` naming `source`. ConfigError naming the file
    and the metric when an entry cannot be used, or when the config already holds other constraints."""
    found = constraints_from_document(load_json(body, source), config.problem_type.value, source)
    estimation = config.estimation
    given = {m: c.model_dump() for m, c in estimation.model_monitor.constraints.items()}
    if given and given != found:
        raise ConfigError(
            f"model {config.name}: estimation.model_monitor.constraints differ from {source}: give them in one place"
        )
    data = config.model_dump(mode="json")
    data["estimation"]["constraints"] = source
    data["estimation"]["model_monitor"]["constraints"] = found
    return parse_model_config(data, source)
