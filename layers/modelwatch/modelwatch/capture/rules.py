"""The one table of typing rules: how a captured value becomes a feature, a probability, a prediction or a label.

Each rule has two halves side by side: `scalar` types one JSON value or CSV cell (the per-record path) and `vector`
types a column of CSV text (the vectorised path). The vector half decides only what it decides exactly as the scalar
half would: a typed value, or the code of the issue the scalar half would raise. It marks every other value
`undecided`, and that value's record goes to the per-record path, where the scalar half decides. So the two paths
cannot drift: they read the same rule, and `tests/unit/capture/test_rules.py` checks the halves against each other.

What a caller does with an issue is its business: a damaged feature value is stored as missing and recorded, a bad
prediction or label quarantines its record.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import polars as pl

from modelwatch.config.model import ExtraColumn, Feature, ModelConfig, ProblemType
from modelwatch.constants import COL_Y_PRED, COL_Y_PRED_PROBA, FEATURE_ISSUE_NON_FINITE, FEATURE_ISSUE_TYPE

# What Python's str.strip takes for whitespace (str.isspace; a test keeps it so): polars' own set lacks \x1c-\x1f, so
# the vector halves strip these characters explicitly.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# 0.33 + 0.33 + 0.33 is 0.99 to a person and 0.010000000000000009 away from 1 to a float
_SUM_SLACK = 1e-9
_INT64_LIMIT = float(2**63)  # beyond it a class number would not fit the Int64 column (and is no class anyway)

# Issue codes (ValueIssue.code): why a value does not fit its rule.
ISSUE_TYPE = FEATURE_ISSUE_TYPE  # not a value of the rule's type (text in a number, a list for a category, ...)
ISSUE_NON_FINITE = FEATURE_ISSUE_NON_FINITE  # NaN or infinity
ISSUE_RANGE = "out_of_range"  # a probability outside [0, 1]
ISSUE_NOT_INTEGER = "not_integer"  # a binary class that is not a whole number
ISSUE_CLASS = "not_a_class"  # a class the model does not have
ISSUE_EMPTY = "empty"  # a required value (a label) is empty
ISSUE_NOT_SINGLE = "not_single"  # a list or object where one value belongs


class ValueIssue(ValueError):
    """A value that does not fit its rule: `code` names the problem, `reason(what)` says it for a quarantine."""

    def __init__(self, code: str, template: str) -> None:
        super().__init__(code)
        self.code = code
        self.template = template

    def reason(self, what: str) -> str:
        """The quarantine reason for the value at `what` (a place, never the value)."""
        return self.template.format(what=what)


class Typed(NamedTuple):
    """The vector half's verdict on a column: the typed value, the code of the issue the scalar half would raise
    (else null), whether there is one (`faulty`, cheaper than the code), and whether the scalar half must decide
    instead (then the other three do not count). A faulty value is no value: callers that keep the row null it
    (masking it here would cost more than the parse: the lazy engine does not share work inside when/then)."""

    value: pl.Expr
    issue: pl.Expr
    faulty: pl.Expr
    undecided: pl.Expr


_NO_ISSUE = pl.lit(None, dtype=pl.Utf8)
_NO_FAULT = pl.lit(False)


def scalar_text(value: Any) -> str | None:
    """A JSON scalar as text: strings as they are ("" is none), booleans lower case, integral floats without `.0`.

    Raises TypeError for lists and objects.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise TypeError(type(value).__name__)


def _number_or_none(value: Any, noun: str) -> float | None:
    """A number from a JSON number or numeric text (surrounding blanks allowed, `_` separators not); None if empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueIssue(ISSUE_TYPE, f"non-numeric {noun} in {{what}}")
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # a JSON integer beyond any float: infinite, as polars reads it
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if "_" not in text:
            try:
                return float(text)
            except ValueError:
                pass
    raise ValueIssue(ISSUE_TYPE, f"non-numeric {noun} in {{what}}")


def _vector_number(text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """(stripped, number, present, undecided) of a text column: what `_number_or_none` gives, where polars agrees."""
    stripped = text.str.strip_chars(PY_WHITESPACE)
    number = stripped.cast(pl.Float64, strict=False)
    present = stripped.str.len_bytes() > 0
    # polars rejects some texts Python reads (other digit scripts) and `_` separators are not numbers: undecided
    undecided = (present & number.is_null()) | stripped.str.contains("_", literal=True)
    return stripped, number, present, undecided


class Rule(ABC):
    """How one kind of value is typed, in both paths."""

    dtype: pl.DataType

    @abstractmethod
    def scalar(self, value: Any) -> Any:
        """Type one JSON value or CSV cell; raises ValueIssue."""

    @abstractmethod
    def vector(self, text: pl.Expr) -> Typed:
        """Type a column of CSV text."""

    def check(self, value: pl.Expr) -> Typed:
        """The verdict on a column polars has already typed as `dtype` (its CSV reader types numbers as `scalar`)."""
        return Typed(value, _NO_ISSUE, _NO_FAULT, pl.lit(False))


class NumberRule(Rule):
    """A finite float: numeric features, probabilities (also within [0, 1]), regression predictions and labels.

    `noun` words a non-numeric value ("value", "label"), `role` a non-finite one ("value", "probability", ...).
    """

    def __init__(self, noun: str = "value", required: bool = False, role: str = "value", unit: bool = False) -> None:
        self.dtype = pl.Float64()
        self.noun = noun
        self.required = required
        self.role = role
        self.unit = unit  # a probability: within [0, 1]

    def scalar(self, value: Any) -> float | None:
        if self.required and (value is None or value == ""):
            raise ValueIssue(ISSUE_EMPTY, f"empty {self.noun} in {{what}}")
        if self.required and isinstance(value, list | dict):
            raise ValueIssue(ISSUE_NOT_SINGLE, f"{{what}} is not a single {self.noun}")
        number = _number_or_none(value, self.noun)
        if number is None:
            if self.required:
                raise ValueIssue(ISSUE_EMPTY, f"empty {self.noun} in {{what}}")
            return None
        if not math.isfinite(number):
            raise ValueIssue(ISSUE_NON_FINITE, f"non-finite {self.role} in {{what}}")
        if self.unit and not 0.0 <= number <= 1.0:
            raise ValueIssue(ISSUE_RANGE, f"{self.role} out of range [0, 1] in {{what}}")
        return number

    def vector(self, text: pl.Expr) -> Typed:
        _, number, present, undecided = _vector_number(text)
        checked = self.check(number)
        if self.required:
            undecided = undecided | ~present
        return Typed(checked.value, checked.issue, checked.faulty, undecided.fill_null(self.required))

    def check(self, value: pl.Expr) -> Typed:
        non_finite = ~value.is_finite()
        issue: pl.Expr
        if self.unit:
            outside = (value < 0.0) | (value > 1.0)
            when_non_finite = pl.when(non_finite).then(pl.lit(ISSUE_NON_FINITE))
            issue = when_non_finite.when(outside).then(pl.lit(ISSUE_RANGE)).otherwise(None)
            faulty = non_finite | outside
        else:
            issue = pl.when(non_finite).then(pl.lit(ISSUE_NON_FINITE)).otherwise(None)
            faulty = non_finite
        faulty = faulty.fill_null(False)
        return Typed(value, issue, faulty, pl.lit(False))


class TextRule(Rule):
    """A categorical feature: text as sent (CSV cells are not stripped), JSON scalars as `scalar_text`."""

    def __init__(self) -> None:
        self.dtype = pl.Utf8()

    def scalar(self, value: Any) -> str | None:
        try:
            return scalar_text(value)
        except TypeError as exc:
            raise ValueIssue(ISSUE_NOT_SINGLE, "{what} is not a single value") from exc

    def vector(self, text: pl.Expr) -> Typed:
        return Typed(pl.when(text.str.len_bytes() > 0).then(text), _NO_ISSUE, _NO_FAULT, pl.lit(False))


class ClassNameRule(Rule):
    """A multiclass prediction or label: one of the model's class names, stripped."""

    def __init__(self, classes: list[str], noun: str = "value", required: bool = False) -> None:
        self.dtype = pl.Utf8()
        self.classes = list(classes)
        self.noun = noun
        self.required = required

    def scalar(self, value: Any) -> str | None:
        if isinstance(value, list | dict):
            what = "a single label" if self.required else "a class label"
            raise ValueIssue(ISSUE_NOT_SINGLE, f"{{what}} is not {what}")
        text = scalar_text(value)
        text = text.strip() if text is not None else None
        if not text:
            if self.required:
                raise ValueIssue(ISSUE_EMPTY, f"empty {self.noun} in {{what}}")
            return None
        if text not in self.classes:
            raise ValueIssue(ISSUE_CLASS, f"{self.noun} outside the model's classes in {{what}}")
        return text

    def vector(self, text: pl.Expr) -> Typed:
        stripped = text.str.strip_chars(PY_WHITESPACE)
        present = stripped.str.len_bytes() > 0
        faulty = (present & ~stripped.is_in(self.classes)).fill_null(False)
        issue = pl.when(faulty).then(pl.lit(ISSUE_CLASS)).otherwise(None)
        value = pl.when(present & ~faulty).then(stripped)
        undecided = (~present).fill_null(True) if self.required else pl.lit(False)
        return Typed(value, issue, faulty, undecided)


class BinaryClassRule(Rule):
    """A binary prediction or label: 0 or 1 (or a number equal to them), or one of the two class names.

    Labels also take JSON booleans (as 0/1); predictions do not.
    """

    def __init__(self, classes: list[str], noun: str = "value", required: bool = False) -> None:
        self.dtype = pl.Int64()
        self.classes = list(classes)
        self.noun = noun
        self.required = required

    def scalar(self, value: Any) -> int | None:
        if self.required and (value is None or value == ""):
            raise ValueIssue(ISSUE_EMPTY, f"empty {self.noun} in {{what}}")
        if self.required and isinstance(value, list | dict):
            raise ValueIssue(ISSUE_NOT_SINGLE, f"{{what}} is not a single {self.noun}")
        if isinstance(value, str) and self.classes and value.strip() in self.classes:
            return self.classes.index(value.strip())
        if self.required and isinstance(value, bool):
            return int(value)
        number = _number_or_none(value, self.noun)
        if number is None:
            if self.required:
                raise ValueIssue(ISSUE_EMPTY, f"empty {self.noun} in {{what}}")
            return None
        if not math.isfinite(number) or number != round(number) or abs(number) >= _INT64_LIMIT:
            raise ValueIssue(ISSUE_NOT_INTEGER, "{what} is not an integer class label")
        if number not in (0.0, 1.0):
            raise ValueIssue(ISSUE_CLASS, f"{self.noun} outside the model's classes in {{what}}")
        return int(number)

    def vector(self, text: pl.Expr) -> Typed:
        stripped, number, present, undecided = _vector_number(text)
        # Only a plain 0 or 1 is decided here: class names (even numeric ones, which win over numbers), fractions,
        # NaN (polars holds NaN equal to itself), infinities and other classes are the scalar half's.
        undecided = undecided | (number.is_not_null() & ~number.is_in([0.0, 1.0]))
        if self.classes:
            undecided = undecided | stripped.is_in(self.classes)
        if self.required:
            undecided = undecided | ~present
        typed = pl.when(number.is_in([0.0, 1.0])).then(number).cast(pl.Int64, strict=False)
        return Typed(typed, _NO_ISSUE, _NO_FAULT, undecided.fill_null(self.required))


# ---------------------------------------------------------------------------- the table
InputColumn = Feature | ExtraColumn


def feature_rule(feature: InputColumn) -> Rule:
    """The rule of a feature's values (and of an extra column's: a facet the model does not use is typed alike)."""
    return NumberRule() if feature.type == "numeric" else TextRule()


def input_columns(config: ModelConfig) -> list[InputColumn]:
    """The columns decoded from a request row: the features, then the extra columns."""
    return [*config.features, *config.extra_columns]


def positional_columns(config: ModelConfig) -> list[InputColumn]:
    """What each value of a positional request row (a CSV line, a JSON list) is, in order: the features, with each
    extra column that has a `csv_index` at that position (extra columns without one are not in such rows)."""
    placed = {c.csv_index: c for c in config.extra_columns if c.csv_index is not None}
    features = iter(config.features)
    width = len(config.features) + len(placed)
    return [placed[i] if i in placed else next(features) for i in range(width)]


def output_rules(config: ModelConfig) -> dict[str, Rule]:
    """The rule of each prediction column: every probability column, then `y_pred`."""
    rules: dict[str, Rule] = {column: NumberRule(role="probability", unit=True) for column in config.proba_columns}
    if config.problem_type is ProblemType.BINARY:
        rules[COL_Y_PRED] = BinaryClassRule(config.classes)
    elif config.problem_type is ProblemType.MULTICLASS:
        rules[COL_Y_PRED] = ClassNameRule(config.classes)
    else:
        rules[COL_Y_PRED] = NumberRule(role="prediction")
    return rules


def label_rule(config: ModelConfig) -> Rule:
    """The rule of ground-truth labels: required values of the prediction's type."""
    if config.problem_type is ProblemType.BINARY:
        return BinaryClassRule(config.classes, noun="label", required=True)
    if config.problem_type is ProblemType.MULTICLASS:
        return ClassNameRule(config.classes, noun="label", required=True)
    return NumberRule(noun="label", required=True, role="label")


# ---------------------------------------------------------------------------- rows of class probabilities
def probability_sum_issue(config: ModelConfig, row: dict[str, Any]) -> ValueIssue | None:
    """Multiclass: the issue of a row whose class probabilities (all given) do not sum to 1 within the tolerance."""
    if config.problem_type is not ProblemType.MULTICLASS:
        return None
    probas = [float(row[c]) for c in config.proba_columns if row.get(c) is not None]
    if len(probas) < len(config.proba_columns):
        return None
    tolerance = config.validation.probability_sum_tolerance
    if abs(math.fsum(probas) - 1.0) <= tolerance + _SUM_SLACK:
        return None
    return ValueIssue(ISSUE_RANGE, f"class probabilities do not sum to 1 (within {tolerance}) in {{what}}")


def probability_sum_bad_expr(config: ModelConfig) -> pl.Expr | None:
    """`probability_sum_issue` over rows of typed probability columns (None: the model has no such rows): rows
    that may be at fault, for the scalar half to decide (a sum at the tolerance, give or take float rounding, is
    accepted there)."""
    if config.problem_type is not ProblemType.MULTICLASS:
        return None
    columns = config.proba_columns
    tolerance = config.validation.probability_sum_tolerance
    all_given = pl.all_horizontal([pl.col(c).is_not_null() for c in columns])
    distance = (pl.sum_horizontal(columns) - 1.0).abs()
    return all_given & (distance > tolerance)


# ---------------------------------------------------------------------------- y_pred from probabilities
def derive_prediction_expr(config: ModelConfig) -> pl.Expr | None:
    """`y_pred` where the output gave only probabilities (binary: threshold; multiclass: first maximum class)."""
    problem = config.problem_type
    if problem is ProblemType.BINARY:
        derived = (pl.col(COL_Y_PRED_PROBA) >= config.threshold).cast(pl.Int64)
        return pl.coalesce(COL_Y_PRED, derived).alias(COL_Y_PRED)
    if problem is ProblemType.MULTICLASS:
        probas = config.proba_columns
        all_present = pl.all_horizontal([pl.col(c).is_not_null() for c in probas]) & pl.any_horizontal(
            [pl.col(c).is_not_nan() for c in probas]
        )
        index = pl.concat_list(probas).list.arg_max()
        classes = pl.Series(config.classes, dtype=pl.Utf8)
        argmax = index.map_batches(lambda s: classes.gather(s.fill_null(0)), return_dtype=pl.Utf8)
        derived = pl.when(all_present).then(argmax).otherwise(None)
        return pl.coalesce(COL_Y_PRED, derived).alias(COL_Y_PRED)
    return None


def derive_prediction(config: ModelConfig, row: dict[str, Any]) -> None:
    """`derive_prediction_expr` for one row (a dict of typed values), in place."""
    if row[COL_Y_PRED] is not None:
        return
    problem = config.problem_type
    if problem is ProblemType.BINARY and row[COL_Y_PRED_PROBA] is not None:
        row[COL_Y_PRED] = int(row[COL_Y_PRED_PROBA] >= config.threshold)
    elif problem is ProblemType.MULTICLASS:
        probas = [row[c] for c in config.proba_columns]
        if all(p is not None for p in probas):
            # like polars' list.arg_max: the first maximum, NaN ignored (all NaN: no prediction)
            best: int | None = None
            for index, value in enumerate(probas):
                if not math.isnan(value) and (best is None or value > probas[best]):
                    best = index
            row[COL_Y_PRED] = None if best is None else config.classes[best]
