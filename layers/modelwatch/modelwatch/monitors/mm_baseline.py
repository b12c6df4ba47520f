"""SageMaker Model Monitor's data-quality baseline: `statistics.json` and `constraints.json`, suggested from data with
KLL sketches (Apache DataSketches), parsed and validated (errors name the file and the field), written back.

Formats: shared reference `sagemaker-monitor-formats.md` sections 1 and 2. Statistics are accumulated per feature
(`StatisticsBuilder`: counts, moments, min/max, a KLL sketch, category counts), so a reference's statistics can be
updated with new rows, or merged from per-hour builders, without reading the old rows again.

numpy and datasketches are imported inside functions: publishing imports the monitors, the zip functions have neither.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from modelwatch.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
INTEGRAL = "Integral"
FRACTIONAL = "Fractional"
STRING = "String"
UNKNOWN = "Unknown"
# "By default, the distribution is materialized in 10 buckets. You can't change this." (DG)
KLL_BUCKETS = 10
KLL_K = 2048  # Model Monitor's sketch size (parameters.k in its statistics.json)
KLL_C = 2.0 / 3.0  # DataSketches' KLL compaction factor (Model Monitor's deequ sketch writes 0.64; readers take either)
# String domains are suggested for small cardinality only (deequ's categorical range rule, bounded here).
MAX_DOMAIN_VALUES = 100
MAX_DOMAIN_RATIO = 0.1
MAX_CATEGORY_BUCKETS = 1000  # categorical buckets written per feature (the most frequent)
Z_95 = 1.96  # deequ's completeness rule: the lower bound of the observed completeness' 95% interval

# The container's defaults (shared reference 1.2: `analytics_input.py`, and the archived DG for the two 1.0 values);
# the current DG table shows 0.1 for both thresholds. With deequ's ">= threshold" assertions 1.0 means every value.
DEFAULT_MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


# ---------------------------------------------------------------- accumulating statistics
@dataclass
class NumericAccumulator:
    """Counts, moments (Chan et al.'s parallel update), min/max and a KLL sketch of one numeric feature."""

    sketch: Any = None
    present: int = 0
    missing: int = 0
    total: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    integral: bool = True

    def __post_init__(self) -> None:
        if self.sketch is None:
            from datasketches import kll_doubles_sketch

            self.sketch = kll_doubles_sketch(KLL_K)

    def update(self, values: Any) -> None:
        """Add a float64 array (NaN = missing)."""
        import numpy as np

        values = np.asarray(values, dtype="float64")
        present = values[~np.isnan(values)]
        self.missing += int(len(values) - len(present))
        if not len(present):
            return
        self.sketch.update(present)
        other = NumericAccumulator.__new__(NumericAccumulator)
        other.present = len(present)
        other.total = float(present.sum())
        other.mean = other.total / other.present
        other.m2 = float(((present - other.mean) ** 2).sum())
        other.minimum, other.maximum = float(present.min()), float(present.max())
        other.integral = bool(np.all(np.floor(present) == present))
        self._combine(other)

    def _combine(self, other: NumericAccumulator) -> None:
        n = self.present + other.present
        if n == 0:
            return
        delta = other.mean - self.mean
        self.mean = self.mean + delta * other.present / n
        self.m2 = self.m2 + other.m2 + delta * delta * self.present * other.present / n
        self.present = n
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.integral = self.integral and other.integral

    def merge(self, other: NumericAccumulator) -> None:
        """Fold another accumulator of the same feature into this one (its sketch merged)."""
        self.sketch.merge(other.sketch)
        self.missing += other.missing
        self._combine(other)

    def statistics(self, name: str) -> dict[str, Any]:
        """The feature's entry of statistics.json."""
        std = math.sqrt(self.m2 / self.present) if self.present else 0.0  # deequ's StandardDeviation: population
        numerical: dict[str, Any] = {
            "common": {"num_present": self.present, "num_missing": self.missing},
            "mean": self.mean if self.present else 0.0,
            "sum": self.total,
            "std_dev": std,
            "min": self.minimum if self.present else 0.0,
            "max": self.maximum if self.present else 0.0,
        }
        if self.present:
            numerical["distribution"] = {"kll": {"buckets": self._buckets(), "sketch": self._sketch_document()}}
        inferred = INTEGRAL if self.integral else FRACTIONAL
        return {"name": name, "inferred_type": inferred, "numerical_statistics": numerical}

    def _buckets(self) -> list[dict[str, float]]:
        """10 equal-width buckets over [min, max] with the sketch's counts (the last bucket includes max)."""
        low, high = self.minimum, self.maximum
        width = (high - low) / KLL_BUCKETS
        bounds = [low + i * width for i in range(KLL_BUCKETS)] + [high]
        n = self.sketch.n
        # get_cdf(split points) gives the share below each (exclusive) and 1.0 last; the max goes in the last bucket.
        inner = bounds[1:-1]
        cdf = list(self.sketch.get_cdf(inner, False)) if inner and width > 0 else []
        shares = [0.0, *cdf[: len(inner)], 1.0] if width > 0 else [0.0] + [0.0] * (KLL_BUCKETS - 1) + [1.0]
        cumulative = [float(round(share * n)) for share in shares]  # item weights are whole numbers
        return [
            {"lower_bound": bounds[i], "upper_bound": bounds[i + 1], "count": cumulative[i + 1] - cumulative[i]}
            for i in range(KLL_BUCKETS)
        ]

    def _sketch_document(self) -> dict[str, Any]:
        """The sketch as Model Monitor writes it: parameters and one array of items per compactor level (an item of
        level i weighs 2^i)."""
        levels: dict[int, list[float]] = {}
        for item, weight in self.sketch:
            levels.setdefault(int(weight).bit_length() - 1, []).append(float(item))
        depth = max(levels, default=-1) + 1
        return {
            "parameters": {"c": KLL_C, "k": float(KLL_K)},
            "data": [sorted(levels.get(level, [])) for level in range(depth)],
        }


@dataclass
class StringAccumulator:
    """Category counts and missing count of one string feature."""

    counts: dict[str, int] = field(default_factory=dict)
    missing: int = 0

    def update(self, values: Any) -> None:
        import pandas as pd

        series = pd.Series(values, dtype="object")
        self.missing += int(series.isna().sum())
        for value, count in series.dropna().astype(str).value_counts().items():
            self.counts[str(value)] = self.counts.get(str(value), 0) + int(count)

    def merge(self, other: StringAccumulator) -> None:
        self.missing += other.missing
        for value, count in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + count

    @property
    def present(self) -> int:
        return sum(self.counts.values())

    def statistics(self, name: str) -> dict[str, Any]:
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORY_BUCKETS]
        return {
            "name": name,
            "inferred_type": STRING,
            "string_statistics": {
                "common": {"num_present": self.present, "num_missing": self.missing},
                "distinct_count": float(len(self.counts)),
                "distribution": {"categorical": {"buckets": [{"value": v, "count": c} for v, c in ordered]}},
            },
        }

    def domain(self) -> list[str] | None:
        """The observed values, when the cardinality is small enough to be a domain."""
        distinct = len(self.counts)
        if not distinct or distinct > MAX_DOMAIN_VALUES or distinct > MAX_DOMAIN_RATIO * max(self.present, 1):
            return None
        return sorted(self.counts)


class StatisticsBuilder:
    """Statistics of a model's features over the rows added so far; `update` with more rows or `merge` another."""

    def __init__(self, features: Iterable[tuple[str, str]]) -> None:
        """`features`: (name, "numeric" | "categorical") in config order."""
        self.items = 0
        self.accumulators: dict[str, NumericAccumulator | StringAccumulator] = {
            name: NumericAccumulator() if kind == "numeric" else StringAccumulator() for name, kind in features
        }

    def update(self, frame: pd.DataFrame) -> StatisticsBuilder:
        """Add the rows of a prepared frame (numeric features float64 with NaN, categorical str or None)."""
        self.items += len(frame)
        for name, accumulator in self.accumulators.items():
            accumulator.update(frame[name].to_numpy())
        return self

    def merge(self, other: StatisticsBuilder) -> StatisticsBuilder:
        self.items += other.items
        for name, accumulator in self.accumulators.items():
            accumulator.merge(other.accumulators[name])  # type: ignore[arg-type]
        return self

    def statistics(self) -> dict[str, Any]:
        """statistics.json."""
        return {
            "version": 0.0,
            "dataset": {"item_count": self.items},
            "features": [acc.statistics(name) for name, acc in self.accumulators.items()],
        }

    def constraints(self) -> dict[str, Any]:
        """constraints.json with Model Monitor's defaults: completeness (deequ's retained-completeness bound),
        is_non_negative, string domains for small cardinality."""
        features = []
        for name, acc in self.accumulators.items():
            present = acc.present
            total = present + acc.missing
            entry: dict[str, Any] = {"name": name}
            if isinstance(acc, NumericAccumulator):
                entry["inferred_type"] = INTEGRAL if acc.integral else FRACTIONAL
            else:
                entry["inferred_type"] = STRING
            entry["completeness"] = _completeness_bound(present, total)
            if isinstance(acc, NumericAccumulator):
                entry["num_constraints"] = {"is_non_negative": bool(present and acc.minimum >= 0)}
            else:
                domain = acc.domain()
                if domain is not None:
                    entry["string_constraints"] = {"domains": domain}
            features.append(entry)
        return {
            "version": 0.0,
            "features": features,
            "monitoring_config": json.loads(json.dumps(DEFAULT_MONITORING_CONFIG)),
        }


def _completeness_bound(present: int, total: int) -> float:
    if total == 0:
        return 0.0
    p = present / total
    if p >= 1.0:
        return 1.0
    return max(0.0, p - Z_95 * math.sqrt(p * (1 - p) / total))


def dumps(document: Mapping[str, Any]) -> bytes:
    """A baseline document as Model Monitor-style pretty JSON."""
    return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()


# ---------------------------------------------------------------- parsing and validation
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class _Common(_Open):
    num_present: float = Field(ge=0)
    num_missing: float = Field(ge=0)


class _Bucket(_Open):
    lower_bound: float
    upper_bound: float
    count: float = Field(ge=0)


class _Parameters(_Open):
    c: float
    k: float


class _Sketch(_Open):
    parameters: _Parameters
    data: list[list[float]]


class _Kll(_Open):
    buckets: list[_Bucket] = Field(default_factory=list)
    sketch: _Sketch | None = None


class _NumericDistribution(_Open):
    kll: _Kll | None = None


class _Numerical(_Open):
    common: _Common
    mean: float | None = None
    sum: float | None = None
    std_dev: float | None = None
    min: float | None = None
    max: float | None = None
    distribution: _NumericDistribution | None = None


class _CategoryBucket(_Open):
    value: str
    count: float = Field(ge=0)


class _Categorical(_Open):
    buckets: list[_CategoryBucket] = Field(default_factory=list)


class _StringDistribution(_Open):
    categorical: _Categorical | None = None


class _Strings(_Open):
    common: _Common
    distinct_count: float | None = None
    distribution: _StringDistribution | None = None


class _FeatureStatistics(_Open):
    name: str = Field(min_length=1)
    inferred_type: Literal["Integral", "Fractional", "String", "Unknown"]
    numerical_statistics: _Numerical | None = None
    string_statistics: _Strings | None = None


class _Dataset(_Open):
    item_count: float = Field(ge=0)


class _Statistics(_Open):
    version: float
    dataset: _Dataset | None = None
    features: list[_FeatureStatistics]


_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Distribution(BaseModel):
    model_config = _STRICT
    perform_comparison: Literal["Enabled", "Disabled"] = "Enabled"
    comparison_threshold: float = Field(default=0.1, ge=0)
    # The archived DG spells it "comparion_method"; the schema shows Simple/Robust, the table linf_simple/linf_robust.
    comparison_method: Literal["Simple", "Robust", "linf_simple", "linf_robust"] = Field(
        default="Robust", validation_alias=AliasChoices("comparison_method", "comparion_method")
    )
    categorical_comparison_threshold: float | None = Field(default=None, ge=0)
    categorical_drift_method: Literal["LInfinity", "ChiSquared"] = "LInfinity"


class _Overrides(BaseModel):
    """Per-feature overrides of the monitoring config (thresholds and methods)."""

    model_config = _STRICT
    datatype_check_threshold: float | None = Field(default=None, ge=0, le=1)
    domain_content_threshold: float | None = Field(default=None, ge=0, le=1)
    perform_comparison: Literal["Enabled", "Disabled"] | None = None
    comparison_threshold: float | None = Field(default=None, ge=0)
    comparison_method: Literal["Simple", "Robust", "linf_simple", "linf_robust"] | None = Field(
        default=None, validation_alias=AliasChoices("comparison_method", "comparion_method")
    )
    categorical_comparison_threshold: float | None = Field(default=None, ge=0)
    categorical_drift_method: Literal["LInfinity", "ChiSquared"] | None = None


class _Monitoring(BaseModel):
    model_config = _STRICT
    evaluate_constraints: Literal["Enabled", "Disabled"] = "Enabled"
    emit_metrics: Literal["Enabled", "Disabled"] = "Enabled"
    datatype_check_threshold: float = Field(default=1.0, ge=0, le=1)
    domain_content_threshold: float = Field(default=1.0, ge=0, le=1)
    distribution_constraints: _Distribution = Field(default_factory=_Distribution)


class _NumConstraints(_Open):
    is_non_negative: bool | None = None


class _StringConstraints(_Open):
    domains: list[str] | None = None


class _FeatureConstraints(_Open):
    name: str = Field(min_length=1)
    inferred_type: Literal["Integral", "Fractional", "String", "Unknown"]
    completeness: float | None = Field(default=None, ge=0, le=1)
    num_constraints: _NumConstraints | None = None
    string_constraints: _StringConstraints | None = None
    # The DG spells the key monitoringConfigOverrides, the SDK's fixture monitoring_config_overrides: both accepted.
    overrides: _Overrides | None = Field(
        default=None, validation_alias=AliasChoices("monitoringConfigOverrides", "monitoring_config_overrides")
    )


class _Constraints(_Open):
    version: float
    features: list[_FeatureConstraints]
    monitoring_config: _Monitoring = Field(default_factory=_Monitoring)


@dataclass(frozen=True)
class FeatureRules:
    """What the checks compare one feature with: its baseline statistics and constraints, overrides applied."""

    name: str
    inferred_type: str
    num_present: float
    num_missing: float
    completeness: float | None
    domains: tuple[str, ...] | None
    datatype_check_threshold: float
    domain_content_threshold: float
    perform_comparison: bool
    comparison_threshold: float
    robust: bool
    categorical_comparison_threshold: float
    categorical_drift_method: str
    sketch_items: tuple[float, ...] = ()  # numeric: the sketch's items, ascending with their weights
    sketch_weights: tuple[float, ...] = ()
    categories: tuple[tuple[str, float], ...] = ()  # string: (value, count)

    @property
    def numeric(self) -> bool:
        return self.inferred_type in (INTEGRAL, FRACTIONAL)

    @cached_property
    def sketch_cdf(self) -> tuple[Any, Any]:
        """The sketch's items (ascending, float64) and their cumulative weights, computed once per baseline."""
        import numpy as np

        return np.asarray(self.sketch_items, dtype="float64"), np.cumsum(np.asarray(self.sketch_weights, "float64"))


@dataclass(frozen=True)
class BaselineRules:
    """What the checks read of a validated baseline: each feature's rules and the monitoring config's switches."""

    features: dict[str, FeatureRules]
    evaluate_constraints: bool
    emit_metrics: bool

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def rules(self) -> BaselineRules:
        """The rules alone (without the documents a `Baseline` also holds)."""
        return BaselineRules(self.features, self.evaluate_constraints, self.emit_metrics)


@dataclass(frozen=True)
class Baseline(BaselineRules):
    """A validated Model Monitor baseline: both documents as given, and each feature's rules."""

    statistics: dict[str, Any]
    constraints: dict[str, Any]


def _first_error(exc: ValidationError, source: str) -> ConfigError:
    """One line naming the file and the field (`features[2].completeness`), with pydantic's message."""
    parts = []
    for error in exc.errors()[:3]:
        location = ""
        for part in error["loc"]:
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
        parts.append(f"{location or '(top level)'}: {error['msg']}")
    return ConfigError(f"{source}: invalid Model Monitor baseline: " + "; ".join(parts))


def _load_json(body: bytes | str, source: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: invalid Model Monitor baseline: not JSON ({exc})") from exc


def parse_baseline(
    statistics: bytes | str | Mapping[str, Any],
    constraints: bytes | str | Mapping[str, Any],
    statistics_source: str = STATISTICS_FILE,
    constraints_source: str = CONSTRAINTS_FILE,
) -> Baseline:
    """Validate both documents; ConfigError with one line naming the file and the field otherwise."""
    stats_doc = dict(statistics) if isinstance(statistics, Mapping) else _load_json(statistics, statistics_source)
    cons_doc = dict(constraints) if isinstance(constraints, Mapping) else _load_json(constraints, constraints_source)
    if not isinstance(stats_doc, dict):
        raise ConfigError(f"{statistics_source}: invalid Model Monitor baseline: (top level): expected an object")
    if not isinstance(cons_doc, dict):
        raise ConfigError(f"{constraints_source}: invalid Model Monitor baseline: (top level): expected an object")
    try:
        stats = _Statistics.model_validate(stats_doc)
    except ValidationError as exc:
        raise _first_error(exc, statistics_source) from exc
    try:
        cons = _Constraints.model_validate(cons_doc)
    except ValidationError as exc:
        raise _first_error(exc, constraints_source) from exc
    by_name: dict[str, tuple[int, _FeatureStatistics]] = {}
    for index, feature in enumerate(stats.features):
        if feature.name in by_name:
            raise ConfigError(
                f"{statistics_source}: invalid Model Monitor baseline: features[{index}].name: "
                f"duplicate feature {feature.name!r}"
            )
        by_name[feature.name] = (index, feature)
        numeric = feature.inferred_type in (INTEGRAL, FRACTIONAL)
        if numeric and feature.numerical_statistics is None:
            raise ConfigError(
                f"{statistics_source}: invalid Model Monitor baseline: features[{index}].numerical_statistics: "
                f"required for inferred_type {feature.inferred_type}"
            )
        if feature.inferred_type == STRING and feature.string_statistics is None:
            raise ConfigError(
                f"{statistics_source}: invalid Model Monitor baseline: features[{index}].string_statistics: "
                "required for inferred_type String"
            )
    monitoring = cons.monitoring_config
    rules: dict[str, FeatureRules] = {}
    for index, constraint in enumerate(cons.features):
        if constraint.name in rules:
            raise ConfigError(
                f"{constraints_source}: invalid Model Monitor baseline: features[{index}].name: "
                f"duplicate feature {constraint.name!r}"
            )
        found = by_name.get(constraint.name)
        if found is None:
            raise ConfigError(
                f"{constraints_source}: invalid Model Monitor baseline: features[{index}].name: "
                f"{constraint.name!r} has no entry in {statistics_source}"
            )
        rules[constraint.name] = _rules(constraint, found[1], monitoring)
    return Baseline(
        statistics=stats_doc,
        constraints=cons_doc,
        features=rules,
        evaluate_constraints=monitoring.evaluate_constraints == "Enabled",
        emit_metrics=monitoring.emit_metrics == "Enabled",
    )


def _rules(constraint: _FeatureConstraints, stats: _FeatureStatistics, monitoring: _Monitoring) -> FeatureRules:
    o = constraint.overrides or _Overrides()
    d = monitoring.distribution_constraints
    comparison = o.comparison_threshold if o.comparison_threshold is not None else d.comparison_threshold
    categorical = (
        o.categorical_comparison_threshold
        if o.categorical_comparison_threshold is not None
        else d.categorical_comparison_threshold
        if d.categorical_comparison_threshold is not None
        else comparison
    )
    method = o.comparison_method or d.comparison_method
    items: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    categories: tuple[tuple[str, float], ...] = ()
    common = (stats.numerical_statistics or stats.string_statistics).common  # type: ignore[union-attr]
    numerical = stats.numerical_statistics
    if numerical is not None and numerical.distribution and numerical.distribution.kll:
        import numpy as np

        kll = numerical.distribution.kll
        if kll.sketch is not None and any(kll.sketch.data):
            values = np.concatenate([np.asarray(level, dtype="float64") for level in kll.sketch.data])
            scale = np.concatenate([np.full(len(level), float(2**i)) for i, level in enumerate(kll.sketch.data)])
        else:  # no sketch: the buckets' upper bounds carry their counts (coarser, still a CDF)
            kept = [b for b in kll.buckets if b.count > 0]
            values = np.asarray([b.upper_bound for b in kept], dtype="float64")
            scale = np.asarray([b.count for b in kept], dtype="float64")
        order = np.lexsort((scale, values))  # by value, then weight
        items = tuple(values[order].tolist())
        weights = tuple(scale[order].tolist())
    strings = stats.string_statistics
    if strings is not None and strings.distribution and strings.distribution.categorical:
        categories = tuple((b.value, b.count) for b in strings.distribution.categorical.buckets)
    domains = constraint.string_constraints.domains if constraint.string_constraints else None
    perform = (o.perform_comparison or d.perform_comparison) == "Enabled"
    return FeatureRules(
        name=constraint.name,
        inferred_type=constraint.inferred_type,
        num_present=common.num_present,
        num_missing=common.num_missing,
        completeness=constraint.completeness,
        domains=tuple(domains) if domains is not None else None,
        datatype_check_threshold=(
            o.datatype_check_threshold
            if o.datatype_check_threshold is not None
            else monitoring.datatype_check_threshold
        ),
        domain_content_threshold=(
            o.domain_content_threshold
            if o.domain_content_threshold is not None
            else monitoring.domain_content_threshold
        ),
        perform_comparison=perform,
        comparison_threshold=comparison,
        robust=method in ("Robust", "linf_robust"),
        categorical_comparison_threshold=categorical,
        categorical_drift_method=o.categorical_drift_method or d.categorical_drift_method,
        sketch_items=items,
        sketch_weights=weights,
        categories=categories,
    )


def suggest_baseline(features: Iterable[tuple[str, str]], frame: pd.DataFrame) -> Baseline:
    """The baseline Model Monitor's `suggest_baseline` would write for these rows (prepared frame)."""
    builder = StatisticsBuilder(features).update(frame)
    return parse_baseline(builder.statistics(), builder.constraints())
