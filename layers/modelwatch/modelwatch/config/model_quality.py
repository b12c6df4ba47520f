"""SageMaker Model Monitor's model-quality baseline as modelwatch reads it: its metric names per problem type, how
each maps to modelwatch (a nannyml metric, estimated and realized, or realized only) and `constraints.json` parsed
with errors that name the file and the metric.

Formats: shared reference `sagemaker-monitor-formats.md` section 4 (DG `model-monitor-model-quality-metrics`,
`model-monitor-model-quality-baseline`; the SDK's `tests/data/pipeline/quality_check_step/model_quality/`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from modelwatch.errors import ConfigError

GREATER_THAN = "GreaterThanThreshold"
LESS_THAN = "LessThanThreshold"
ComparisonOperator = Literal["GreaterThanThreshold", "LessThanThreshold"]
OPERATORS: tuple[str, ...] = (GREATER_THAN, LESS_THAN)

# The sections of constraints.json and statistics.json, by modelwatch's problem type.
CONSTRAINTS_SECTIONS = {
    "binary_classification": "binary_classification_constraints",
    "multiclass_classification": "multiclass_classification_constraints",
    "regression": "regression_constraints",
}
STATISTICS_SECTIONS = {
    "binary_classification": "binary_classification_metrics",
    "multiclass_classification": "multiclass_classification_metrics",
    "regression": "regression_metrics",
}

# Model Monitor's scalar metrics (DG `model-monitor-model-quality-metrics`), in the order its statistics list them.
BEST_CONSTANT = "_best_constant_classifier"
SCALAR_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": (
        "recall",
        "precision",
        "accuracy",
        "recall" + BEST_CONSTANT,
        "precision" + BEST_CONSTANT,
        "accuracy" + BEST_CONSTANT,
        "true_positive_rate",
        "true_negative_rate",
        "false_positive_rate",
        "false_negative_rate",
        "auc",
        "f0_5",
        "f1",
        "f2",
        "f0_5" + BEST_CONSTANT,
        "f1" + BEST_CONSTANT,
        "f2" + BEST_CONSTANT,
    ),
    "multiclass_classification": (
        "accuracy",
        "weighted_recall",
        "weighted_precision",
        "weighted_f0_5",
        "weighted_f1",
        "weighted_f2",
        "accuracy" + BEST_CONSTANT,
        "weighted_recall" + BEST_CONSTANT,
        "weighted_precision" + BEST_CONSTANT,
        "weighted_f0_5" + BEST_CONSTANT,
        "weighted_f1" + BEST_CONSTANT,
        "weighted_f2" + BEST_CONSTANT,
    ),
    "regression": ("mae", "mse", "rmse", "r2"),
}
NON_SCALAR_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("confusion_matrix", "receiver_operating_characteristic_curve", "precision_recall_curve"),
    "multiclass_classification": ("confusion_matrix",),
    "regression": (),
}

# Model Monitor metrics that are the same quantity as a nannyml metric: estimated (CBPE/DLE) and realized by nannyml.
# nannyml's multiclass precision, recall and f1 are macro averages, not Model Monitor's weighted ones: those are
# realized only (weighted recall equals accuracy, whose constraint is estimated too).
NANNYML_EQUIVALENTS: dict[str, dict[str, str]] = {
    "binary_classification": {
        "auc": "roc_auc",
        "accuracy": "accuracy",
        "precision": "precision",
        "recall": "recall",
        "f1": "f1",
        "true_positive_rate": "recall",
        "true_negative_rate": "specificity",
    },
    "multiclass_classification": {"accuracy": "accuracy"},
    "regression": {"mae": "mae", "mse": "mse", "rmse": "rmse"},
}


@dataclass(frozen=True)
class MetricMapping:
    """What modelwatch does with a Model Monitor metric of a problem type."""

    metric: str  # Model Monitor's name
    kind: Literal["nannyml", "realized_only", "unmapped"]
    nannyml_metric: str | None = None  # kind "nannyml": the nannyml metric (estimated and realized)
    reason: str = ""  # kind "realized_only" and "unmapped": why

    @property
    def usable(self) -> bool:
        return self.kind != "unmapped"

    def describe(self) -> str:
        """One line for reports: what a constraint on this metric drives."""
        if self.kind == "nannyml":
            same = "" if self.nannyml_metric == self.metric else f" as nannyml's {self.nannyml_metric}"
            return f"estimated and realized{same}"
        if self.kind == "realized_only":
            return f"realized only ({self.reason})"
        return f"not mapped: {self.reason}"


def map_metric(problem_type: str, metric: str) -> MetricMapping:
    """How a Model Monitor metric name of the problem type maps to modelwatch."""
    nannyml = NANNYML_EQUIVALENTS[problem_type].get(metric)
    if nannyml is not None:
        return MetricMapping(metric, "nannyml", nannyml)
    if metric.endswith(BEST_CONSTANT) and metric in SCALAR_METRICS[problem_type]:
        return MetricMapping(
            metric, "unmapped", reason="a best-constant-classifier value describes the labels, not the model"
        )
    if metric in SCALAR_METRICS[problem_type]:
        return MetricMapping(metric, "realized_only", reason=f"nannyml cannot estimate {metric}")
    if metric in NON_SCALAR_METRICS[problem_type]:
        return MetricMapping(metric, "unmapped", reason=f"{metric} is not a single value a threshold can hold")
    for other, names in SCALAR_METRICS.items():
        if other != problem_type and metric in names:
            return MetricMapping(metric, "unmapped", reason=f"{metric} is a metric of {other}, not of {problem_type}")
    known = ", ".join(n for n in SCALAR_METRICS[problem_type] if not n.endswith(BEST_CONSTANT))
    return MetricMapping(metric, "unmapped", reason=f"not a Model Monitor {problem_type} metric (known: {known})")


@dataclass(frozen=True)
class ParsedConstraint:
    """One entry of a constraints.json section, checked: the metric's threshold and comparison operator (None with
    `problem` when the entry itself is malformed)."""

    metric: str
    threshold: float | None
    comparison_operator: str | None
    mapping: MetricMapping
    problem: str = ""  # what is wrong with the entry itself (threshold, operator)


def violates(value: float, threshold: float, comparison_operator: str) -> bool:
    """Model Monitor's rule: a violation when `value <operator> threshold` holds (strictly); NaN never violates."""
    if math.isnan(value):
        return False
    if comparison_operator == GREATER_THAN:
        return value > threshold
    return value < threshold


def parse_constraints_entries(document: Any, problem_type: str, source: str) -> list[ParsedConstraint]:
    """Every entry of the problem type's section of a constraints.json document, each checked on its own (for
    reports); ConfigError naming the file when the document has no such section."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: invalid Model Monitor constraints: (top level): expected a JSON object")
    section_name = CONSTRAINTS_SECTIONS[problem_type]
    section = document.get(section_name)
    if section is None:
        present = sorted(k for k in document if k.endswith("_constraints"))
        found = f"; it has {present}" if present else ""
        raise ConfigError(
            f"{source}: invalid Model Monitor constraints: {section_name}: missing (the model is {problem_type}{found})"
        )
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: invalid Model Monitor constraints: {section_name}: expected a JSON object")
    entries = []
    for metric, entry in section.items():
        mapping = map_metric(problem_type, str(metric))
        if not isinstance(entry, dict):
            entries.append(ParsedConstraint(str(metric), None, None, mapping, ": expected a JSON object"))
            continue
        threshold = entry.get("threshold")
        operator = entry.get("comparison_operator")
        problem = ""
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
            problem = "threshold: expected a finite number"
            threshold = None
        elif operator not in OPERATORS:
            problem = f"comparison_operator: {operator!r} is not one of {list(OPERATORS)}"
        entries.append(
            ParsedConstraint(
                str(metric),
                float(threshold) if threshold is not None else None,
                operator if operator in OPERATORS else None,
                mapping,
                problem,
            )
        )
    return entries


def load_json(body: bytes | str, source: str, what: str = "constraints") -> Any:
    """A Model Monitor document; ConfigError naming the file when it is not JSON. Model Monitor writes NaN as the
    string "NaN" (`standard_deviation`); a bare NaN is read too."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{source}: invalid Model Monitor {what}: not JSON ({exc})") from exc


def constraints_from_document(document: Any, problem_type: str, source: str) -> dict[str, dict[str, Any]]:
    """The section's constraints as `{metric: {threshold, comparison_operator}}` for the model config; ConfigError
    naming the file and the metric for any entry modelwatch cannot use (malformed, or a metric it cannot map)."""
    out: dict[str, dict[str, Any]] = {}
    section = CONSTRAINTS_SECTIONS[problem_type]
    for entry in parse_constraints_entries(document, problem_type, source):
        if entry.problem:
            where = f"{section}.{entry.metric}" + ("" if entry.problem.startswith(":") else ".")
            raise ConfigError(f"{source}: invalid Model Monitor constraints: {where}{entry.problem}")
        if not entry.mapping.usable:
            raise ConfigError(
                f"{source}: {section}.{entry.metric}: cannot be monitored: {entry.mapping.reason} "
                "(`modelwatch import-baseline` lists what maps)"
            )
        out[entry.metric] = {"threshold": entry.threshold, "comparison_operator": entry.comparison_operator}
    return out
