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
from modelwatch.monitors.mm_baseline import INTEGRAL, STRING, BaselineRules, FeatureRules

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
    of the two CDFs over every point of either (the sketch's items weighted 2^level). The definition; the checks
    compute every chunk at once with `numeric_distances` (equal to this: tests/unit/monitors/test_mm_window.py)."""
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


def numeric_distances(rules: FeatureRules, values: Any, position: Any, chunks: int) -> tuple[Any, Any]:
    """`numeric_distance`'s linf_simple of every chunk at once, and each chunk's count (`values`: finite float64,
    `position`: each value's chunk, 0..chunks-1, non-decreasing); NaN for a chunk without values. Each chunk is
    sorted on its own and every CDF difference is evaluated at its values only: at a value u (as `numeric_distance`
    does), and at the last sketch item below u. Between two consecutive values of the chunk its CDF is flat and the
    sketch's rises, so the largest difference there is at either end; the points left out never hold the maximum,
    and every point kept is a point `numeric_distance` evaluates, with the same quotients (so the same maximum, bit
    for bit), found with one binary search per value instead of sketch items x chunks."""
    import numpy as np

    items, cumulative = rules.sketch_cdf
    m = np.bincount(position, minlength=chunks)
    starts = np.concatenate([[0], np.cumsum(m)[:-1]])
    ordered = np.array(values, dtype="float64")
    for begin, count in zip(starts.tolist(), m.tolist(), strict=True):
        if count > 1:
            ordered[begin : begin + count].sort()
    n = len(ordered)
    if not n:
        return np.full(chunks, np.nan), m
    # Each value's count of the chunk's values below it and at or below it: its rank, or its run's when equal
    first = last = np.arange(n) - np.repeat(starts, m)
    if np.any(ordered[1:] == ordered[:-1]):
        run_starts = np.ones(n, dtype=bool)
        run_starts[1:] = (ordered[1:] != ordered[:-1]) | (position[1:] != position[:-1])
        run_ends = np.ones(n, dtype=bool)
        run_ends[:-1] = run_starts[1:]
        index = np.arange(n)
        offset = np.repeat(starts, m)
        first = np.maximum.accumulate(np.where(run_starts, index, 0)) - offset
        last = np.minimum.accumulate(np.where(run_ends, index, n)[::-1])[::-1] - offset
    share = np.repeat(m.astype("float64"), m)
    baseline_cdf = np.concatenate([[0.0], cumulative]) / cumulative[-1]  # [k]: the first k items' weight
    right = np.searchsorted(items, ordered, side="right")  # the items at or below each value
    # The items below a value: those at or below it, unless the last of them equals it (then those below its ties)
    previous = np.concatenate([[-np.inf], items])
    before_ties = baseline_cdf[np.searchsorted(items, previous, side="left")]
    cdf_below = np.where(previous[right] == ordered, before_ties[right], baseline_cdf[right])
    at_value = np.abs(baseline_cdf[right] - (last + 1) / share)
    below = np.abs(cdf_below - first / share)
    simple = np.full(chunks, np.nan)
    found = m > 0
    simple[found] = np.maximum.reduceat(np.maximum(at_value, below), starts[found])
    return simple, m


def _robust(simple: float, n: float, m: float) -> float:
    return max(0.0, simple - ROBUST_C_ALPHA * math.sqrt((n + m) / (n * m)))


def categorical_distance(rules: FeatureRules, values: Any, chi_squared: bool = True) -> tuple[float, float, float]:
    """(linf_simple, linf_robust, chi-squared p-value) between the baseline's category counts and the chunk's
    present values (str); the p-value only when `chi_squared` (NaN otherwise: the test costs most of the time)."""
    import numpy as np

    found, counted = np.unique(np.asarray(values, dtype="object").astype(str), return_counts=True)
    return _categorical_distance(rules, dict(zip(found.tolist(), counted.tolist(), strict=True)), chi_squared)


def _categorical_distance(rules: FeatureRules, chunk: dict[str, int], chi_squared: bool) -> tuple[float, float, float]:
    """`categorical_distance` from the chunk's count of each value it has."""
    import numpy as np

    baseline = {value: count for value, count in rules.categories if count > 0}
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


@dataclass
class _Counted:
    """One feature's values over a window, counted per chunk: what its checks read."""

    present: Any  # values sent (not missing)
    matching: Any | None  # present values of the baseline's inferred type (None: type Unknown)
    drift: list[CheckResult] | None  # the baseline drift check (None: comparison disabled)
    in_domain: Any | None  # present values inside the domains (None: no domains)


def _count(rules: FeatureRules, array: Any, position: Any, chunks: int, missing: Any | None) -> _Counted:
    """Each conversion and test of the checks once over the window's values (all are row by row), then counted per
    chunk (`missing`: the values' missing mask when the caller has it)."""
    import numpy as np
    import pandas as pd

    mask = _present(array) if missing is None else ~missing
    values, where = array[mask], position[mask]
    counted = _Counted(np.bincount(where, minlength=chunks), None, None, None)
    if rules.inferred_type == STRING:
        counted.matching = counted.present
    elif rules.inferred_type != "Unknown":
        numbers = _numbers(values)
        finite = np.isfinite(numbers)
        if rules.inferred_type == INTEGRAL:
            finite = finite & (np.floor(np.where(finite, numbers, 0.0)) == numbers)
        counted.matching = np.bincount(where[finite], minlength=chunks)
    if rules.perform_comparison:
        counted.drift = _drift(rules, values, where, chunks)
    if rules.domains is not None:
        domains = set(rules.domains)
        codes, uniques = pd.factorize(np.asarray(values, dtype="object"))
        if all(isinstance(u, str) for u in uniques):  # the text of a string is itself: tested once per distinct one
            inside = np.array([u in domains for u in uniques], dtype=bool)[codes]
        else:
            inside = pd.Series(values, dtype="object").astype(str).isin(domains).to_numpy()
        counted.in_domain = np.bincount(where[inside], minlength=chunks)
    return counted


def _factorized_text(values: Any) -> tuple[Any, list[str]]:
    """The values as text (`str` of each, as numpy's and pandas' `astype(str)` make it), factorized: each value's
    code and the distinct texts. Strings are factorized as they are and only the distinct ones converted (equal
    strings are equal texts); other objects (1 and 1.0 are one key to a hash table, two texts) each converted."""
    import numpy as np
    import pandas as pd

    array = np.asarray(values, dtype="object")
    codes, uniques = pd.factorize(array)
    if not all(isinstance(u, str) for u in uniques):
        codes, uniques = pd.factorize(array.astype(str))
        return codes, [str(u) for u in uniques]
    texts = np.asarray(uniques, dtype="object").astype(str)  # as numpy stores text: trailing NULs dropped
    merged, names = pd.factorize(texts)
    return merged[codes] if len(codes) else codes, [str(n) for n in names]


def evaluate_chunk(
    baseline: BaselineRules, features: Mapping[str, Any], rows: int, issues: ChunkIssues
) -> list[CheckResult]:
    """Every check of every baseline feature the model has (`features`: the chunk's typed values by name, pandas
    or numpy: float with NaN for numbers, objects with None otherwise)."""
    import numpy as np

    position = {name: np.zeros(len(values), dtype="int64") for name, values in features.items()}
    return evaluate_window(baseline, features, position, [rows], [issues])[0]


def evaluate_window(
    baseline: BaselineRules,
    features: Mapping[str, Any],
    position: Any,
    rows: list[int],
    issues: list[ChunkIssues],
    missing: Mapping[str, Any] | None = None,
) -> list[list[CheckResult]]:
    """`evaluate_chunk` of each chunk of a window: `features` hold every chunk's values, `position` each row's chunk
    (0..len(rows)-1; one array for all features, or one non-decreasing array per feature), `rows` and `issues` are
    per chunk; `missing`: each feature's missing values (`isna`) where the caller has them. Each feature's values
    are converted and tested once for the window and counted per chunk (the chunks' own values, the same results as
    checking each chunk on its own)."""
    chunks = len(rows)
    if not baseline.evaluate_constraints:
        return [[] for _ in range(chunks)]
    import numpy as np

    checked = [name for name in baseline.features if name in features]
    order = None
    if not isinstance(position, Mapping) and len(position) and np.any(position[1:] < position[:-1]):
        order = np.argsort(position, kind="stable")  # each chunk's rows together (the distances sort per chunk)
        position = position[order]
    counted = {}
    for name in checked:
        array = _as_array(features[name])
        where = position[name] if isinstance(position, Mapping) else position
        absent = None if missing is None else missing.get(name)
        if absent is not None and order is not None:
            absent = absent[order]
        counted[name] = _count(baseline.features[name], array if order is None else array[order], where, chunks, absent)
    return [
        _chunk_results(baseline, counted, chunk, rows[chunk], issues[chunk]) if rows[chunk] else []
        for chunk in range(chunks)
    ]


def _chunk_results(
    baseline: BaselineRules, counted: dict[str, _Counted], chunk: int, rows: int, issues: ChunkIssues
) -> list[CheckResult]:
    results: list[CheckResult] = []
    absent_columns = 0
    for name, found in counted.items():
        rules = baseline.features[name]
        present = int(found.present[chunk])
        damaged = issues.count(name, FEATURE_ISSUE_TYPE) + issues.count(name, FEATURE_ISSUE_NON_FINITE)
        absent = issues.count(name, FEATURE_ISSUE_MISSING_KEY) + issues.row_level
        sent = present + damaged
        never_sent = absent >= rows if issues.known else present == 0
        if never_sent:
            absent_columns += 1
            share = absent / rows if issues.known else 1.0
            results.append(CheckResult(name, MISSING_COLUMN_CHECK, share, None, None, True, ""))  # text below
        if found.matching is not None and sent:
            value = int(found.matching[chunk]) / sent
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
        if found.drift is not None and present:
            results.append(found.drift[chunk])
        if found.in_domain is not None and present:
            value = int(found.in_domain[chunk]) / present
            threshold = rules.domain_content_threshold
            results.append(
                CheckResult(
                    name, CATEGORICAL_VALUES_CHECK, value, threshold, None, value < threshold, _constraint_text(value)
                )
            )
    baseline_columns = len(counted)
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


def _drift(rules: FeatureRules, present: Any, position: Any, chunks: int) -> list[CheckResult]:
    """The baseline drift check of each chunk (`present`: the window's present values, `position` their chunks)."""
    import numpy as np

    no_value = CheckResult(rules.name, BASELINE_DRIFT_CHECK, math.nan, None, None, False, "")
    if rules.numeric:
        numbers = _numbers(present)
        finite = np.isfinite(numbers)
        if not rules.sketch_items:
            return [no_value] * chunks
        simple, counts = numeric_distances(rules, numbers[finite], position[finite], chunks)
        total = float(rules.sketch_cdf[1][-1])
        threshold = rules.comparison_threshold
        results = []
        for value, m in zip(simple.tolist(), counts.tolist(), strict=True):
            if not m:
                results.append(no_value)
                continue
            distance = _robust(value, total, float(m)) if rules.robust else value
            text = f"Numerical distance: {_value_text(distance)} exceeds numerical threshold: {_value_text(threshold)}"
            results.append(
                CheckResult(rules.name, BASELINE_DRIFT_CHECK, distance, None, threshold, distance > threshold, text)
            )
        return results
    if not rules.categories:
        return [no_value] * chunks
    chi_squared = rules.categorical_drift_method == "ChiSquared"
    codes, names = _factorized_text(present)
    width = max(len(names), 1)
    table = np.bincount(position * width + codes, minlength=chunks * width).reshape(chunks, width)
    threshold = rules.categorical_comparison_threshold
    results = []
    for row in table.tolist():
        simple, robust, p_value = _categorical_distance(
            rules, {names[i]: count for i, count in enumerate(row) if count}, chi_squared
        )
        if chi_squared:
            violation = not math.isnan(p_value) and p_value < threshold
            text = (
                f"Categorical p-value: {_value_text(p_value)} is below categorical threshold: {_value_text(threshold)}"
            )
            results.append(CheckResult(rules.name, BASELINE_DRIFT_CHECK, p_value, threshold, None, violation, text))
            continue
        distance = robust if rules.robust else simple
        text = f"Categorical distance: {_value_text(distance)} exceeds categorical threshold: {_value_text(threshold)}"
        results.append(
            CheckResult(rules.name, BASELINE_DRIFT_CHECK, distance, None, threshold, distance > threshold, text)
        )
    return results


def violations_document(results: list[CheckResult]) -> dict[str, Any]:
    """`constraint_violations.json` of a chunk: its violations, in check order per feature."""
    return {"violations": [r.violation_entry() for r in results if r.violation]}
