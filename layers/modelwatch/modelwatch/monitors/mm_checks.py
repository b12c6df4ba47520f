"""Model Monitor's six data-quality checks of one chunk against a baseline, and its `constraint_violations.json`.

Semantics (shared reference `sagemaker-monitor-formats.md` section 2, deequ's assertions where the DG is silent):
- `data_type_check`: the share of the values sent (present, or damaged: a string in a numeric feature, NaN) that are
  of the baseline's inferred type; a violation below `datatype_check_threshold`. Integral takes whole numbers only,
  Fractional any number, String any value.
- `completeness_check`: the share of rows that sent a value (damaged values count as sent, as in Model Monitor's
  non-null count); a violation below the feature's `completeness`.
- `baseline_drift_check`: L-infinity distance, numeric: the largest CDF difference between the baseline's KLL
  sketch and the chunk's values (deequ's `linf_simple`; `Robust` subtracts 1.8 * sqrt((n+m)/(n*m)), floored at 0);
  categorical: the largest frequency difference (LInfinity, corrected the same way when Robust) or the chi-squared
  test's p-value (ChiSquared, a violation below the threshold). A violation above the threshold.
- `missing_column_check`: a baseline feature no row of the chunk sent (its JSON key absent from every request, or
  every row short of columns; without the capture's issue columns: no value at all).
- `extra_column_check`: a JSON request key no feature reads (the capture's `extra_keys`), one violation per key.
- `categorical_values_check`: the share of present values inside the feature's `domains`; a violation below
  `domain_content_threshold`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelwatch.constants import (
    FEATURE_ISSUE_MISSING_KEY,
    FEATURE_ISSUE_NON_FINITE,
    FEATURE_ISSUE_TOO_FEW_COLUMNS,
    FEATURE_ISSUE_TOO_MANY_COLUMNS,
    FEATURE_ISSUE_TYPE,
)
from modelwatch.monitors.mm_baseline import INTEGRAL, STRING, Baseline, FeatureRules

DATA_TYPE_CHECK = "data_type_check"
COMPLETENESS_CHECK = "completeness_check"
BASELINE_DRIFT_CHECK = "baseline_drift_check"
MISSING_COLUMN_CHECK = "missing_column_check"
EXTRA_COLUMN_CHECK = "extra_column_check"
CATEGORICAL_VALUES_CHECK = "categorical_values_check"
CHECKS = (
    DATA_TYPE_CHECK,
    COMPLETENESS_CHECK,
    BASELINE_DRIFT_CHECK,
    MISSING_COLUMN_CHECK,
    EXTRA_COLUMN_CHECK,
    CATEGORICAL_VALUES_CHECK,
)
ROBUST_C_ALPHA = 1.8  # deequ's default ("alpha value of 0.003")
_ROW_LEVEL = (FEATURE_ISSUE_TOO_FEW_COLUMNS, FEATURE_ISSUE_TOO_MANY_COLUMNS)


@dataclass(frozen=True)
class CheckResult:
    """One check of one feature in one chunk: its value, the threshold it is held to, and the violation."""

    feature: str
    check: str
    value: float
    lower_threshold: float | None
    upper_threshold: float | None
    violation: bool
    description: str

    def violation_entry(self) -> dict[str, str]:
        """The check as an entry of `constraint_violations.json`."""
        return {"feature_name": self.feature, "constraint_check_type": self.check, "description": self.description}


@dataclass
class ChunkIssues:
    """What the capture decoder recorded about a chunk's feature values (all zero without its issue columns)."""

    known: bool = False  # the rows carried the issue columns
    per_feature: dict[tuple[str, str], int] = field(default_factory=dict)  # (feature, issue) -> rows
    row_level: int = 0  # rows whose every feature is missing (too few / too many columns)
    extra_keys: dict[str, int] = field(default_factory=dict)  # JSON key -> rows

    def count(self, feature: str, issue: str) -> int:
        return self.per_feature.get((feature, issue), 0)


def chunk_issues(issues: Any, extra_keys: Any) -> ChunkIssues:
    """Count a chunk's `feature_issues` (entries {feature, issue}) and `extra_keys` (lists of keys) columns; either
    may be None (lake rows written before the decoder recorded them)."""
    found = ChunkIssues(known=issues is not None or extra_keys is not None)
    if issues is not None:
        for entries in issues:
            if entries is None or (isinstance(entries, float) and math.isnan(entries)):
                continue
            for entry in entries:
                issue, feature = entry.get("issue"), entry.get("feature")
                if issue in _ROW_LEVEL:
                    found.row_level += 1
                elif feature is not None and issue is not None:
                    key = (str(feature), str(issue))
                    found.per_feature[key] = found.per_feature.get(key, 0) + 1
    if extra_keys is not None:
        for keys in extra_keys:
            if keys is None or (isinstance(keys, float) and math.isnan(keys)):
                continue
            for key in set(keys):
                found.extra_keys[str(key)] = found.extra_keys.get(str(key), 0) + 1
    return found


def _value_text(value: float) -> str:
    return repr(float(value))


def _constraint_text(value: float) -> str:
    return f"Value: {_value_text(value)} does not meet the constraint requirement! "


def numeric_distance(rules: FeatureRules, values: Any) -> tuple[float, float]:
    """(linf_simple, linf_robust) between the baseline sketch and the chunk's finite values: the largest difference
    of the two CDFs over every point of either (the sketch's items weighted 2^level)."""
    import numpy as np

    items, cumulative = rules.sketch_cdf
    total = cumulative[-1]
    chunk = np.sort(np.asarray(values, dtype="float64"))
    m = len(chunk)
    keys = np.concatenate([items, chunk])  # every point where either CDF steps (haystacks sorted, needles need not be)
    index = np.searchsorted(items, keys, side="right")
    baseline_cdf = np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0) / total
    chunk_cdf = np.searchsorted(chunk, keys, side="right") / m
    simple = float(np.max(np.abs(baseline_cdf - chunk_cdf)))
    return simple, _robust(simple, float(total), float(m))


def _robust(simple: float, n: float, m: float) -> float:
    return max(0.0, simple - ROBUST_C_ALPHA * math.sqrt((n + m) / (n * m)))


def categorical_distance(rules: FeatureRules, values: Any, chi_squared: bool = True) -> tuple[float, float, float]:
    """(linf_simple, linf_robust, chi-squared p-value) between the baseline's category counts and the chunk's
    present values (str); the p-value only when `chi_squared` (NaN otherwise: the test costs most of the time)."""
    import numpy as np

    baseline = {value: count for value, count in rules.categories if count > 0}
    found, counted = np.unique(np.asarray(values, dtype="object").astype(str), return_counts=True)
    chunk = dict(zip(found.tolist(), counted.tolist(), strict=True))
    keys = sorted(set(baseline) | set(chunk))
    b = np.array([float(baseline.get(k, 0.0)) for k in keys])
    c = np.array([float(chunk.get(k, 0)) for k in keys])
    n, m = float(b.sum()), float(c.sum())
    simple = float(np.max(np.abs(b / n - c / m))) if n and m else 0.0
    return simple, _robust(simple, n, m), _chi_squared_p(b, c) if chi_squared else math.nan


def _chi_squared_p(baseline: Any, chunk: Any) -> float:
    """p-value of the chi-squared test of homogeneity, categories with small expected counts pooled (deequ: below 5,
    or 10 for a 2x2 table); NaN with fewer than two categories left."""
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.vstack([baseline, chunk])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return math.nan
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    small = (expected < (10.0 if table.shape[1] == 2 else 5.0)).any(axis=0)
    if small.any():
        table = np.hstack([table[:, ~small], table[:, small].sum(axis=1, keepdims=True)])
    if table.shape[1] < 2:
        return math.nan
    return float(chi2_contingency(table, correction=False)[1])


def _as_array(values: Any) -> Any:
    """A chunk's values as numpy: float64 for numbers (NaN missing), object otherwise (None missing)."""
    import numpy as np

    array = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    if array.dtype.kind in "iub":
        return array.astype("float64")
    return array


def _present(array: Any) -> Any:
    import numpy as np
    import pandas as pd

    return ~np.isnan(array) if array.dtype.kind == "f" else ~pd.isna(array)


def _numbers(array: Any) -> Any:
    """Present values as float64 (text that is no number: NaN)."""
    import pandas as pd

    if array.dtype.kind == "f":
        return array
    return pd.to_numeric(pd.Series(array, dtype="object"), errors="coerce").to_numpy(dtype="float64")


def _matching(rules: FeatureRules, present: Any) -> int:
    """Present values of the baseline's inferred type."""
    import numpy as np

    if rules.inferred_type == STRING:
        return len(present)
    numbers = _numbers(present)
    finite = np.isfinite(numbers)
    if rules.inferred_type == INTEGRAL:
        return int((finite & (np.floor(np.where(finite, numbers, 0.0)) == numbers)).sum())
    return int(finite.sum())


def evaluate_chunk(
    baseline: Baseline, features: Mapping[str, Any], rows: int, issues: ChunkIssues
) -> list[CheckResult]:
    """Every check of every baseline feature the model has (`features`: the chunk's typed values by name, pandas
    or numpy: float with NaN for numbers, objects with None otherwise)."""
    import pandas as pd

    results: list[CheckResult] = []
    if not baseline.evaluate_constraints or rows == 0:
        return results
    checked = [name for name in baseline.features if name in features]
    absent_columns = 0
    for name in checked:
        rules = baseline.features[name]
        array = _as_array(features[name])
        present_values = array[_present(array)]
        present = len(present_values)
        damaged = issues.count(name, FEATURE_ISSUE_TYPE) + issues.count(name, FEATURE_ISSUE_NON_FINITE)
        absent = issues.count(name, FEATURE_ISSUE_MISSING_KEY) + issues.row_level
        sent = present + damaged
        never_sent = absent >= rows if issues.known else present == 0
        if never_sent:
            absent_columns += 1
            share = absent / rows if issues.known else 1.0
            results.append(CheckResult(name, MISSING_COLUMN_CHECK, share, None, None, True, ""))  # text below
        if rules.inferred_type != "Unknown" and sent:
            value = _matching(rules, present_values) / sent
            threshold = rules.datatype_check_threshold
            results.append(
                CheckResult(name, DATA_TYPE_CHECK, value, threshold, None, value < threshold, _constraint_text(value))
            )
        if rules.completeness is not None:
            value = sent / rows
            violation = value < rules.completeness
            results.append(
                CheckResult(
                    name, COMPLETENESS_CHECK, value, rules.completeness, None, violation, _constraint_text(value)
                )
            )
        if rules.perform_comparison and present:
            results.append(_drift(rules, present_values))
        if rules.domains is not None and present:
            text = pd.Series(present_values, dtype="object").astype(str)
            value = int(text.isin(set(rules.domains)).sum()) / present
            threshold = rules.domain_content_threshold
            results.append(
                CheckResult(
                    name, CATEGORICAL_VALUES_CHECK, value, threshold, None, value < threshold, _constraint_text(value)
                )
            )
    baseline_columns = len(checked)
    current = baseline_columns - absent_columns
    missing_text = (
        "There are missing columns in current dataset. Number of columns in current dataset: "
        f"{current}, Number of columns in baseline constraints: {baseline_columns}"
    )
    results = [
        CheckResult(r.feature, r.check, r.value, None, None, True, missing_text)
        if r.check == MISSING_COLUMN_CHECK
        else r
        for r in results
    ]
    extra_text = (
        "There are extra columns in current dataset. Number of columns in current dataset: "
        f"{current + len(issues.extra_keys)}, Number of columns in baseline constraints: {baseline_columns}"
    )
    for key, count in sorted(issues.extra_keys.items()):
        results.append(CheckResult(key, EXTRA_COLUMN_CHECK, count / rows, None, None, True, extra_text))
    return results


def _drift(rules: FeatureRules, present: Any) -> CheckResult:
    import numpy as np

    if rules.numeric:
        numbers = _numbers(present)
        numbers = numbers[np.isfinite(numbers)]
        if not len(numbers) or not rules.sketch_items:
            return CheckResult(rules.name, BASELINE_DRIFT_CHECK, math.nan, None, None, False, "")
        simple, robust = numeric_distance(rules, numbers)
        distance = robust if rules.robust else simple
        threshold = rules.comparison_threshold
        text = f"Numerical distance: {_value_text(distance)} exceeds numerical threshold: {_value_text(threshold)}"
        return CheckResult(rules.name, BASELINE_DRIFT_CHECK, distance, None, threshold, distance > threshold, text)
    if not rules.categories:
        return CheckResult(rules.name, BASELINE_DRIFT_CHECK, math.nan, None, None, False, "")
    chi_squared = rules.categorical_drift_method == "ChiSquared"
    simple, robust, p_value = categorical_distance(rules, present, chi_squared)
    threshold = rules.categorical_comparison_threshold
    if chi_squared:
        violation = not math.isnan(p_value) and p_value < threshold
        text = f"Categorical p-value: {_value_text(p_value)} is below categorical threshold: {_value_text(threshold)}"
        return CheckResult(rules.name, BASELINE_DRIFT_CHECK, p_value, threshold, None, violation, text)
    distance = robust if rules.robust else simple
    text = f"Categorical distance: {_value_text(distance)} exceeds categorical threshold: {_value_text(threshold)}"
    return CheckResult(rules.name, BASELINE_DRIFT_CHECK, distance, None, threshold, distance > threshold, text)


def violations_document(results: list[CheckResult]) -> dict[str, Any]:
    """`constraint_violations.json` of a chunk: its violations, in check order per feature."""
    return {"violations": [r.violation_entry() for r in results if r.violation]}
