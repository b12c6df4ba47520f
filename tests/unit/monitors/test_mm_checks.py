"""Model Monitor's six checks on one chunk: what the decoder's issue columns feed in, and the distances."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, ks_2samp

from modelwatch.monitors.mm_baseline import suggest_baseline
from modelwatch.monitors.mm_checks import (
    ROBUST_C_ALPHA,
    ChunkIssues,
    chunk_issues,
    evaluate_chunk,
    numeric_distance,
    violations_document,
)

FEATURES = [("x", "numeric"), ("colour", "categorical")]


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, rows),
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
        }
    )


@pytest.fixture(scope="module")
def baseline():  # type: ignore[no-untyped-def]
    return suggest_baseline(FEATURES, _frame(2_000, 1))


def _violations(baseline, chunk: pd.DataFrame, issues: ChunkIssues | None = None) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    results = evaluate_chunk(baseline, {c: chunk[c] for c in chunk.columns}, len(chunk), issues or ChunkIssues())
    return {(r.feature, r.check) for r in results if r.violation}


def test_a_clean_chunk_has_no_violation(baseline) -> None:  # type: ignore[no-untyped-def]
    assert _violations(baseline, _frame(500, 2)) == set()


def test_missing_keys_cost_completeness_not_the_column(baseline) -> None:  # type: ignore[no-untyped-def]
    # Given 30 % of the rows without the key of x (stored as missing, recorded by the decoder)
    chunk = _frame(500, 2)
    chunk.loc[:149, "x"] = np.nan
    issues = chunk_issues(
        pd.Series([[{"feature": "x", "issue": "missing_key"}]] * 150 + [None] * 350, dtype=object),
        pd.Series([None] * 500, dtype=object),
    )
    # Then completeness is violated, nothing else
    assert _violations(baseline, chunk, issues) == {("x", "completeness_check")}


def test_text_in_a_numeric_feature_is_a_data_type_violation_not_incompleteness(baseline) -> None:  # type: ignore[no-untyped-def]
    chunk = _frame(500, 2)
    chunk.loc[:24, "x"] = np.nan  # the decoder stores the text as missing, with issue `type`
    issues = chunk_issues(pd.Series([[{"feature": "x", "issue": "type"}]] * 25 + [None] * 475, dtype=object), None)
    results = evaluate_chunk(baseline, {c: chunk[c] for c in chunk.columns}, 500, issues)
    data_type = next(r for r in results if r.check == "data_type_check" and r.feature == "x")
    completeness = next(r for r in results if r.check == "completeness_check" and r.feature == "x")
    assert data_type.value == 0.95 and data_type.violation
    assert completeness.value == 1.0 and not completeness.violation


def test_non_finite_values_are_counted_per_chunk_as_data_type_violations(baseline) -> None:  # type: ignore[no-untyped-def]
    # Given a chunk where the decoder stored 10 infinities of x as missing, with issue `non_finite` (poison #12)
    chunk = _frame(500, 2)
    chunk.loc[:9, "x"] = np.nan
    flagged = [[{"feature": "x", "issue": "non_finite"}]] * 10 + [None] * 490
    issues = chunk_issues(pd.Series(flagged, dtype=object), None)
    # When the chunk is checked
    results = evaluate_chunk(baseline, {c: chunk[c] for c in chunk.columns}, 500, issues)
    # Then the ten are counted against x's type (sent, but not a usable number), not against its completeness
    data_type = next(r for r in results if r.check == "data_type_check" and r.feature == "x")
    completeness = next(r for r in results if r.check == "completeness_check" and r.feature == "x")
    assert issues.count("x", "non_finite") == 10
    assert data_type.value == 0.98 and data_type.violation
    assert completeness.value == 1.0 and not completeness.violation


def test_a_key_no_row_sent_is_a_missing_column(baseline) -> None:  # type: ignore[no-untyped-def]
    chunk = _frame(100, 2)
    chunk["x"] = np.nan
    issues = chunk_issues(pd.Series([[{"feature": "x", "issue": "missing_key"}]] * 100, dtype=object), None)
    found = evaluate_chunk(baseline, {c: chunk[c] for c in chunk.columns}, 100, issues)
    missing = [r for r in found if r.check == "missing_column_check"]
    assert [(r.feature, r.value) for r in missing] == [("x", 1.0)]
    assert missing[0].description.endswith("current dataset: 1, Number of columns in baseline constraints: 2")
    # without the decoder's columns, a feature without any value reads as missing too
    assert ("x", "missing_column_check") in _violations(baseline, chunk)


def test_extra_keys_are_one_violation_each(baseline) -> None:  # type: ignore[no-untyped-def]
    chunk = _frame(100, 2)
    issues = chunk_issues(None, pd.Series([["debug", "trace"]] * 10 + [["debug"]] * 10 + [None] * 80, dtype=object))
    results = evaluate_chunk(baseline, {c: chunk[c] for c in chunk.columns}, 100, issues)
    extra = {(r.feature, r.value) for r in results if r.check == "extra_column_check"}
    assert extra == {("debug", 0.2), ("trace", 0.1)}
    document = violations_document(results)
    assert [v["feature_name"] for v in document["violations"]] == ["debug", "trace"]
    assert set(document["violations"][0]) == {"feature_name", "constraint_check_type", "description"}


def test_rows_short_of_columns_miss_every_feature(baseline) -> None:  # type: ignore[no-untyped-def]
    chunk = _frame(100, 2)
    chunk.loc[:9, ["x", "colour"]] = None
    issues = chunk_issues(pd.Series([[{"feature": None, "issue": "too_few_columns"}]] * 10 + [None] * 90), None)
    assert _violations(baseline, chunk, issues) == {("x", "completeness_check"), ("colour", "completeness_check")}


def test_a_new_category_violates_the_domain(baseline) -> None:  # type: ignore[no-untyped-def]
    chunk = _frame(500, 2)
    chunk.loc[:9, "colour"] = "purple"
    assert _violations(baseline, chunk) == {("colour", "categorical_values_check")}


def test_the_numeric_distance_is_kolmogorov_smirnovs_statistic_on_an_exact_sketch(baseline) -> None:  # type: ignore[no-untyped-def]
    # Given a baseline of 2,000 rows (the KLL sketch of k=2048 is still exact) and a shifted chunk
    reference, chunk = _frame(2_000, 1), _frame(300, 5, shift=0.5)
    rules = baseline.features["x"]
    # When the distance is computed
    simple, robust = numeric_distance(rules, chunk["x"].to_numpy())
    # Then linf_simple is the two-sample KS statistic, linf_robust its correction for few samples
    assert math.isclose(simple, ks_2samp(reference["x"], chunk["x"]).statistic, abs_tol=1e-12)
    assert math.isclose(robust, max(0.0, simple - ROBUST_C_ALPHA * math.sqrt(2_300 / (2_000 * 300))), abs_tol=1e-12)
    assert ("x", "baseline_drift_check") in _violations(baseline, chunk)


def test_chi_squared_gives_the_tests_p_value(baseline) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    chunk = _frame(500, 2)
    chunk.loc[:199, "colour"] = "red"
    rules = replace(baseline.features["colour"], categorical_drift_method="ChiSquared")
    docs = replace(baseline, features={**baseline.features, "colour": rules})
    results = evaluate_chunk(docs, {c: chunk[c] for c in chunk.columns}, 500, ChunkIssues())
    drift = next(r for r in results if r.check == "baseline_drift_check" and r.feature == "colour")
    counts = dict(rules.categories)
    table = [[counts[k] for k in sorted(counts)], [int((chunk["colour"] == k).sum()) for k in sorted(counts)]]
    assert math.isclose(drift.value, chi2_contingency(table, correction=False)[1], rel_tol=1e-9)
    assert drift.violation  # p-value below 0.1
