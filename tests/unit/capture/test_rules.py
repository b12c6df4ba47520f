"""The typing rules: each rule's vectorised half agrees with its per-record half on every text it decides."""

from __future__ import annotations

import math
import sys
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwatch.capture.rules import (
    PY_WHITESPACE,
    BinaryClassRule,
    ClassNameRule,
    NumberRule,
    Rule,
    TextRule,
    ValueIssue,
    label_rule,
    output_rules,
)
from tests.unit.capture.conftest import make_config

RULES: dict[str, Rule] = {
    "number": NumberRule(),
    "probability": NumberRule(role="probability", unit=True),
    "number_label": NumberRule(noun="label", required=True, role="label"),
    "text": TextRule(),
    "class_name": ClassNameRule(["a", "b", "1"]),
    "class_name_label": ClassNameRule(["a", "b", "1"], noun="label", required=True),
    "binary": BinaryClassRule([]),
    "binary_named": BinaryClassRule(["rejected", "repaid"]),
    "binary_numeric_names": BinaryClassRule(["1", "0"]),  # names win over numbers: "1" is class 0
    "binary_label": BinaryClassRule(["rejected", "repaid"], noun="label", required=True),
}
TOKENS = ["1", "0", "1.0", " 2 ", "-0.5", "1e3", "1_0", "inf", "-Infinity", "NaN", "nan", "", " ", "+1", "0x10"]
TOKENS += ["1e", ".5", "5.", "repaid", " rejected ", "abc", "\t0\t", "1.5", "2", "-1", "1e400", "true", "1e100"]
TOKENS += ["\x1c1", "\u0661"]  # whitespace to Python but not to polars; a digit only Python reads
TOKENS += ["a", " b ", "c", "0.3", "1.2", "-0.0", "7"]
TEXTS = st.one_of(
    st.sampled_from(TOKENS), st.text(max_size=12), st.text(alphabet="0123456789.eE+-_ nNaIiFf", max_size=8)
)


def verdicts(rule: Rule, texts: list[Any], typed: bool = False) -> list[tuple[Any, str | None, bool]]:
    """(value, issue, undecided) of each text (or already typed value) by the rule's vector half."""
    dtype = rule.dtype if typed else pl.Utf8
    verdict = rule.check(pl.col("t")) if typed else rule.vector(pl.col("t"))
    frame = pl.DataFrame({"t": texts}, schema={"t": dtype}).select(
        verdict.value.cast(rule.dtype).alias("v"),
        verdict.issue.alias("i"),
        verdict.faulty.alias("f"),
        verdict.undecided.alias("u"),
    )
    # the cheap flag and the issue code say the same
    assert frame["f"].to_list() == frame["i"].is_not_null().to_list()
    return list(zip(frame["v"].to_list(), frame["i"].to_list(), frame["u"].to_list(), strict=True))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


def assert_agree(name: str, rule: Rule, given: Any, value: Any, issue: str | None) -> None:
    """The scalar half types `given` as the vector half decided: the same value, or the same issue."""
    try:
        expected = rule.scalar(given)
    except ValueIssue as raised:
        assert issue == raised.code, (name, given, value, issue, raised.code)
        return
    assert issue is None, (name, given, issue)
    assert same(value, expected), (name, given, value, expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=8))
def test_vector_half_agrees_with_scalar_half(texts: list[str]) -> None:
    # Given CSV cells of any text
    for name, rule in RULES.items():
        # When typed by the vectorised half
        for text, (value, issue, undecided) in zip(texts, verdicts(rule, list(texts)), strict=True):
            # Then every cell it decides is typed, or found at fault, exactly as the per-record half does
            if not undecided:
                assert_agree(name, rule, text, value, issue)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=8))
def test_check_of_typed_numbers_agrees_with_scalar_half(numbers: list[float]) -> None:
    # Given numbers polars' CSV reader has already typed (NaN and infinities included)
    for name in ("number", "probability", "number_label"):
        rule = RULES[name]
        # When checked by the vectorised half, Then the per-record half agrees on each
        for number, (value, issue, undecided) in zip(numbers, verdicts(rule, numbers, typed=True), strict=True):
            assert not undecided
            assert_agree(name, rule, number, value, issue)


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("number", " 2 ", 2.0),
        ("number", "", None),
        ("number", "1_0", "type"),
        ("number", "abc", "type"),
        ("number_label", "", "empty"),
        ("text", "", None),
        ("text", " a ", " a "),
        ("class_name", " a ", "a"),
        ("class_name", "", None),
        ("class_name_label", " ", "empty"),
        ("binary", "1.0", 1),
        ("binary", "0.5", "not_integer"),
        ("binary", "NaN", "not_integer"),
        ("binary", "7", "not_a_class"),
        ("binary_numeric_names", "1", 0),
        ("number", "inf", "non_finite"),
        ("number_label", "NaN", "non_finite"),
        ("probability", "1.5", "out_of_range"),
        ("probability", "-0.2", "out_of_range"),
        ("probability", "1", 1.0),
        ("class_name", "c", "not_a_class"),
        ("binary_named", " repaid ", 1),
        ("binary_label", "", "empty"),
    ],
)
def test_cells_type_or_name_their_issue(rule: str, text: str, expected: Any) -> None:
    # Given a CSV cell, When typed per record, Then the value or the issue code
    try:
        value: Any = RULES[rule].scalar(text)
    except ValueIssue as issue:
        value = issue.code
    assert same(value, expected)


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ("number", 3, 3.0),
        ("number", True, "type"),
        ("number", [1], "type"),
        ("text", True, "true"),
        ("text", 2.0, "2"),
        ("text", 2.5, "2.5"),
        ("text", {"a": 1}, "not_single"),
        ("class_name", [1], "not_single"),
        ("class_name", 1, "1"),
        ("binary", True, "type"),
        ("binary_label", True, 1),
        ("binary_label", [1], "not_single"),
        ("number_label", None, "empty"),
    ],
)
def test_json_values_type_or_name_their_issue(rule: str, value: Any, expected: Any) -> None:
    # Given a JSON value, When typed per record, Then the value or the issue code
    try:
        result: Any = RULES[rule].scalar(value)
    except ValueIssue as issue:
        result = issue.code
    assert same(result, expected)


def test_the_table_gives_each_problem_type_its_rules() -> None:
    # Given the three problem types, When their rules are looked up, Then the dtypes are the lake's
    binary = make_config()
    multiclass = make_config(
        problem_type="multiclass_classification", classes=["a", "b"], output={"format": "csv", "columns": ["y_pred"]}
    )
    regression = make_config(problem_type="regression", output={"format": "csv", "columns": ["y_pred"]})
    assert {c: r.dtype for c, r in output_rules(binary).items()} == {"y_pred_proba": pl.Float64, "y_pred": pl.Int64}
    assert {c: r.dtype for c, r in output_rules(multiclass).items()} == {
        "y_pred_proba_a": pl.Float64,
        "y_pred_proba_b": pl.Float64,
        "y_pred": pl.Utf8,
    }
    assert {c: r.dtype for c, r in output_rules(regression).items()} == {"y_pred": pl.Float64}
    assert [label_rule(c).dtype for c in (binary, multiclass, regression)] == [pl.Int64, pl.Utf8, pl.Float64]


def test_the_whitespace_the_vector_halves_strip_is_pythons() -> None:
    python = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert python == PY_WHITESPACE


@pytest.mark.parametrize("sign", [1, -1])
def test_integers_beyond_floats_are_infinite(sign: int) -> None:
    # Given a JSON integer too large for a float (json.loads gives an int); When typed by the number rules
    huge = sign * 10**400
    # Then it is a non-finite value (as polars reads it), not an OverflowError
    with pytest.raises(ValueIssue) as raised:
        RULES["number"].scalar(huge)
    assert raised.value.code == "non_finite"
    with pytest.raises(ValueIssue) as raised:
        RULES["binary"].scalar(huge)
    assert raised.value.code == "not_integer"
