"""SageMaker Model Monitor's model-quality statistics of a chunk's labelled rows, its statistics.json and its
constraint violations, as the performance monitor stores and publishes them.

Formats: shared reference `sagemaker-monitor-formats.md` section 4 and DG `model-monitor-model-quality-metrics`
(whose examples the tests reproduce). Where the sources are silent, the choices are named here and in README:
- `confusion_matrix` is `{actual: {predicted: count}}` (the DG's binary example fits only this way round);
- a `*_best_constant_classifier` value is that of predicting one class for every row: the positive class for
  binary, the least frequent label of the chunk for multiclass (both reproduce the DG's examples exactly);
- `standard_deviation` is the sample standard deviation of the metric over 5 random 80% samples drawn without
  replacement (seeded by the chunk, so a chunk always gets the same), and the string "NaN" under 200 rows;
- ROC and precision-recall curves keep at most CURVE_POINTS points (evenly spaced, ends included);
- a violation entry is `{metric_name, constraint_check_type: <operator>, description: "Metric <m> with <value>
  was <operator> <threshold>"}` (AWS's MonitoringCustomMetrics package, which follows Model Monitor's formats).

numpy, pandas and scikit-learn are imported inside functions: publishing imports the monitors, the zip functions
have none of them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.config.model_quality import (
    BEST_CONSTANT,
    SCALAR_METRICS,
    STATISTICS_SECTIONS,
    load_json,
    violates,
)
from modelwatch.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

KIND_MODEL_MONITOR = "model_monitor"  # a row per Model Monitor scalar metric (value, sampling_error = its std)
STATISTICS_METRIC = "statistics"  # the chunk's row whose detail holds the non-scalar members, value = item_count
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
MIN_ROWS_FOR_STD = 200  # "Standard deviation for metrics are provided only when at least 200 samples are available"
STD_SAMPLES = 5
STD_FRACTION = 0.8
CURVE_POINTS = 101
NAN_TEXT = "NaN"  # how Model Monitor writes a missing number


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f_beta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    return _ratio((1 + b2) * precision * recall, b2 * precision + recall)


def _binary_scalars(y_true: Any, y_pred: Any, proba: Any) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    actual = np.asarray(y_true, dtype="int64")
    predicted = np.asarray(y_pred, dtype="int64")
    tp = float(np.sum((actual == 1) & (predicted == 1)))
    tn = float(np.sum((actual == 0) & (predicted == 0)))
    fp = float(np.sum((actual == 0) & (predicted == 1)))
    fn = float(np.sum((actual == 1) & (predicted == 0)))
    n = tp + tn + fp + fn
    recall, precision = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
    positives = _ratio(tp + fn, n)  # the best constant classifier predicts the positive class for every row
    constant_recall = 1.0 if tp + fn else 0.0
    auc = float(roc_auc_score(actual, np.asarray(proba, dtype="float64"))) if 0 < tp + fn < n else math.nan
    values = {
        "recall": recall,
        "precision": precision,
        "accuracy": _ratio(tp + tn, n),
        "recall" + BEST_CONSTANT: constant_recall,
        "precision" + BEST_CONSTANT: positives,
        "accuracy" + BEST_CONSTANT: positives,
        "true_positive_rate": recall,
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        "auc": auc,
    }
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        values[name] = _f_beta(precision, recall, beta)
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        values[name + BEST_CONSTANT] = _f_beta(positives, constant_recall, beta)
    return values


def _weighted(y_true: Any, y_pred: Any, labels: list[str]) -> dict[str, float]:
    """Support-weighted precision, recall and F-beta (0 where undefined), as scikit-learn's `average="weighted"`."""
    from sklearn.metrics import fbeta_score, precision_score, recall_score

    common = {"labels": labels, "average": "weighted", "zero_division": 0}
    return {
        "weighted_recall": float(recall_score(y_true, y_pred, **common)),
        "weighted_precision": float(precision_score(y_true, y_pred, **common)),
        "weighted_f0_5": float(fbeta_score(y_true, y_pred, beta=0.5, **common)),
        "weighted_f1": float(fbeta_score(y_true, y_pred, beta=1.0, **common)),
        "weighted_f2": float(fbeta_score(y_true, y_pred, beta=2.0, **common)),
    }


def _multiclass_scalars(y_true: Any, y_pred: Any, classes: list[str]) -> dict[str, float]:
    import numpy as np

    actual = np.asarray(y_true, dtype="object").astype(str)
    predicted = np.asarray(y_pred, dtype="object").astype(str)
    labels = [c for c in classes if c in set(actual) | set(predicted)] or list(classes)
    values = {"accuracy": float(np.mean(actual == predicted)) if len(actual) else 0.0}
    values.update(_weighted(actual, predicted, labels))
    present, counts = np.unique(actual, return_counts=True)
    # the least frequent label (ties: the later class): the DG's example predicts its rarer class
    order = {c: i for i, c in enumerate(classes)}
    constant = min(zip(present.tolist(), counts.tolist(), strict=True), key=lambda pc: (pc[1], -order.get(pc[0], 0)))[0]
    baseline = np.full(len(actual), constant, dtype=object).astype(str)
    values["accuracy" + BEST_CONSTANT] = float(np.mean(actual == baseline))
    for name, value in _weighted(actual, baseline, labels).items():
        values[name + BEST_CONSTANT] = value
    return values


def _regression_scalars(y_true: Any, y_pred: Any) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import r2_score

    actual = np.asarray(y_true, dtype="float64")
    predicted = np.asarray(y_pred, dtype="float64")
    errors = predicted - actual
    mse = float(np.mean(errors**2))
    return {
        "mae": float(np.mean(np.abs(errors))),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": float(r2_score(actual, predicted)) if len(actual) > 1 else math.nan,
    }


def scalar_values(config: ModelConfig, rows: pd.DataFrame, target: str = "y_true") -> dict[str, float]:
    """Model Monitor's scalar metrics of labelled rows (`target` the label column), in its order."""
    problem = config.problem_type
    if problem is ProblemType.BINARY:
        values = _binary_scalars(rows[target], rows["y_pred"], rows["y_pred_proba"])
    elif problem is ProblemType.MULTICLASS:
        values = _multiclass_scalars(rows[target], rows["y_pred"], list(config.classes))
    else:
        values = _regression_scalars(rows[target], rows["y_pred"])
    return {name: values[name] for name in SCALAR_METRICS[problem.value]}


def chunk_seed(chunk_key: str) -> int:
    """The sampling seed of a chunk: the same chunk always gets the same standard deviations."""
    return int(hashlib.sha256(chunk_key.encode()).hexdigest()[:8], 16)


def standard_deviations(config: ModelConfig, rows: pd.DataFrame, seed: int, target: str = "y_true") -> dict[str, float]:
    """Each scalar metric's sample standard deviation over 5 random 80% samples; NaN under 200 rows."""
    import numpy as np

    names = SCALAR_METRICS[config.problem_type.value]
    if len(rows) < MIN_ROWS_FOR_STD:
        return dict.fromkeys(names, math.nan)
    generator = np.random.default_rng(seed)
    size = int(len(rows) * STD_FRACTION)
    samples = [
        scalar_values(config, rows.iloc[np.sort(generator.choice(len(rows), size=size, replace=False))], target)
        for _ in range(STD_SAMPLES)
    ]
    return {name: float(np.std([s[name] for s in samples], ddof=1)) for name in names}


def _thin(values: list[float]) -> list[float]:
    if len(values) <= CURVE_POINTS:
        return values
    step = (len(values) - 1) / (CURVE_POINTS - 1)
    return [values[round(i * step)] for i in range(CURVE_POINTS)]


def non_scalar_members(config: ModelConfig, rows: pd.DataFrame, target: str = "y_true") -> dict[str, Any]:
    """The confusion matrix (`{actual: {predicted: count}}`) and, for binary, the ROC and precision-recall curves."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import precision_recall_curve, roc_curve

    problem = config.problem_type
    if problem is ProblemType.REGRESSION:
        return {}
    if problem is ProblemType.BINARY:
        classes = ["0", "1"]
        actual = pd.Series(rows[target]).astype("int64").astype(str)
        predicted = pd.Series(rows["y_pred"]).astype("int64").astype(str)
    else:
        classes = list(config.classes)
        actual = pd.Series(rows[target]).astype(str)
        predicted = pd.Series(rows["y_pred"]).astype(str)
    counts = pd.crosstab(actual.to_numpy(), predicted.to_numpy())
    matrix = {
        a: {p: int(counts.at[a, p]) if a in counts.index and p in counts.columns else 0 for p in classes}
        for a in classes
    }
    members: dict[str, Any] = {"confusion_matrix": matrix}
    if problem is ProblemType.BINARY:
        truth = np.asarray(rows[target], dtype="int64")
        scores = np.asarray(rows["y_pred_proba"], dtype="float64")
        if 0 < truth.sum() < len(truth):
            fpr, tpr, _ = roc_curve(truth, scores)
            precisions, recalls, _ = precision_recall_curve(truth, scores)
            members["receiver_operating_characteristic_curve"] = {
                "false_positive_rates": _thin([float(v) for v in fpr]),
                "true_positive_rates": _thin([float(v) for v in tpr]),
            }
            members["precision_recall_curve"] = {  # recall ascending, as the DG's example lists them
                "precisions": _thin([float(v) for v in precisions[::-1]]),
                "recalls": _thin([float(v) for v in recalls[::-1]]),
            }
    return members


def number_or_nan(value: float | None) -> float | str:
    """A number as Model Monitor writes it: "NaN" for a missing one."""
    return NAN_TEXT if value is None or not math.isfinite(value) else value


def statistics_document(
    config: ModelConfig, item_count: int, scalars: Mapping[str, tuple[float, float]], members: Mapping[str, Any]
) -> dict[str, Any]:
    """Model Monitor's statistics.json: `scalars` metric -> (value, standard deviation), `members` the non-scalar
    ones; the members in Model Monitor's order (the confusion matrix first)."""
    section: dict[str, Any] = {}
    if "confusion_matrix" in members:
        section["confusion_matrix"] = members["confusion_matrix"]
    for name in SCALAR_METRICS[config.problem_type.value]:
        if name in scalars:
            value, std = scalars[name]
            section[name] = {"value": number_or_nan(value), "standard_deviation": number_or_nan(std)}
        if name == "false_negative_rate":  # the curves follow the rates, as in the DG's example
            for curve in ("receiver_operating_characteristic_curve", "precision_recall_curve"):
                if curve in members:
                    section[curve] = members[curve]
    return {
        "version": 0.0,
        "dataset": {"item_count": int(item_count)},
        STATISTICS_SECTIONS[config.problem_type.value]: section,
    }


def violation_entry(metric: str, value: float, threshold: float, comparison_operator: str) -> dict[str, str]:
    """One entry of Model Monitor's model-quality constraint_violations.json."""
    return {
        "constraint_check_type": comparison_operator,
        "description": f"Metric {metric} with {value!r} was {comparison_operator} {threshold!r}",
        "metric_name": metric,
    }


def violations(config: ModelConfig, values: Mapping[str, float]) -> list[dict[str, str]]:
    """The violations of the config's Model Monitor constraints by a chunk's values (Model Monitor names)."""
    found = []
    for metric, constraint in config.estimation.model_monitor.constraints.items():
        value = values.get(metric)
        if value is not None and violates(value, constraint.threshold, constraint.comparison_operator):
            found.append(violation_entry(metric, value, constraint.threshold, constraint.comparison_operator))
    return found


# ---------------------------------------------------------------- reading Model Monitor's files
def parse_statistics(body: bytes | str, source: str, problem_type: str) -> dict[str, tuple[float, float]]:
    """The scalar metrics of a model-quality statistics.json: metric -> (value, standard deviation), NaN where
    Model Monitor wrote "NaN". ConfigError naming the file and the field otherwise."""
    document = load_json(body, source, "statistics")
    section_name = STATISTICS_SECTIONS[problem_type]
    if not isinstance(document, dict) or not isinstance(document.get(section_name), dict):
        raise ConfigError(f"{source}: invalid Model Monitor statistics: {section_name}: missing or not an object")
    found: dict[str, tuple[float, float]] = {}
    for name, entry in document[section_name].items():
        if name not in SCALAR_METRICS[problem_type]:
            continue  # the confusion matrix and the curves
        if not isinstance(entry, dict) or "value" not in entry:
            raise ConfigError(f"{source}: invalid Model Monitor statistics: {section_name}.{name}.value: missing")
        where = f"{source}: {section_name}.{name}"
        found[name] = (
            _statistic(entry.get("value"), f"{where}.value"),
            _statistic(entry.get("standard_deviation", NAN_TEXT), f"{where}.standard_deviation"),
        )
    return found


def _statistic(value: Any, where: str) -> float:
    if isinstance(value, str) and value.strip().lower() == "nan":
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f'{where}: invalid Model Monitor statistics: expected a number or "NaN"')
    return float(value)


def dumps(document: Mapping[str, Any], *, line: bool = False) -> bytes:
    """A document as JSON Model Monitor can read (NaN as "NaN"): pretty, or one line (for Athena)."""
    text = json.dumps(document, separators=(",", ":")) if line else json.dumps(document, indent=2)
    return (text + "\n").encode()


def metric_names_published(config: ModelConfig) -> Iterable[str]:
    """The Model Monitor metric names a model publishes (config `metric_names`, else every scalar metric)."""
    names = config.estimation.model_monitor.metric_names
    return SCALAR_METRICS[config.problem_type.value] if names is None else names
