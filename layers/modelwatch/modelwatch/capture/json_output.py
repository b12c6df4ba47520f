"""The vectorised half of JSON response bodies: `output.probabilities` / `output.prediction` paths read for a whole
batch of records at once (polars' JSON decoder) instead of one `json.loads` and one row dict per record.

It takes the common shapes only: binary and regression models whose paths are keys with one `[*]` each (such as
`$.predictions[*].score` or `$.scores[*]`). The values are read as text and typed by the rules' vector halves, so
they are typed as CSV cells are. A record is decided here only when the per-record path would decode it the same
way; every other record is flagged for the per-record path, which decides it (or quarantines it, saying why):

- polars fails on the batch (invalid JSON, NaN or 1e400 that Python reads, a list or object where a value is
  expected, such as `[p0, p1]` pairs): the caller decodes that batch per record;
- a path is missing, or a value is null, in a record (polars cannot tell the two apart);
- a path key occurs in the text more often than the paths account for: a duplicated key (polars keeps the first
  value, Python the last) or the key's name somewhere else; or the text holds a backslash (an escaped key);
- no rows, lists of different lengths, another row count than the request's, or a value the rule leaves undecided
  or finds at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from modelwatch.capture.records import LINE_COL, json_decode_chunks
from modelwatch.capture.rules import Rule
from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.constants import COL_ROW_IN_REQUEST, COL_Y_PRED, COL_Y_PRED_PROBA
from modelwatch.jsonpath import compile_path

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_JSON_SPACE = "[ \\t\\n\\r]*"
_LEAF = "leaf"  # a node of the paths' tree that holds the value (read as text)
_WILDCARD = None


@dataclass(frozen=True)
class _Path:
    column: str | None  # the prediction column its values type (None: read for the row count only)
    steps: tuple[str | None, ...]

    @property
    def wildcard(self) -> int:
        return self.steps.index(_WILDCARD)


def _supported(text: str) -> tuple[str | None, ...] | None:
    """The steps of a path of keys with exactly one wildcard (None for any other path)."""
    steps = compile_path(text).steps
    if steps.count(_WILDCARD) != 1 or any(isinstance(step, int) for step in steps):
        return None
    if any(isinstance(step, str) and not _PLAIN_KEY.fullmatch(step) for step in steps):
        return None  # the checks below find keys in the text as they are written: plain names only
    return tuple(step for step in steps if not isinstance(step, int))


def _dtype(node: Any) -> pl.DataType:
    if node == _LEAF:
        return pl.Utf8()
    if _WILDCARD in node:
        return pl.List(_dtype(node[_WILDCARD]))
    return pl.Struct({key: _dtype(child) for key, child in node.items()})


class JsonOutputPlan:
    """How the configured JSON paths of one model read a batch of response bodies (see the module docstring)."""

    def __init__(self, paths: list[_Path], rules: dict[str, Rule], schema: dict[str, pl.DataType]) -> None:
        self.paths = paths
        self.rules = rules
        self.schema = schema  # the prediction columns (all of them: those no path gives are null)
        self.dtype = _dtype(_tree(paths))
        # how often each key must occur in a record's text: once above its path's wildcard (shared prefixes
        # once), once per row below it
        self.key_places: dict[str, list[tuple[str | None, ...]]] = {}
        seen: set[tuple[str | None, ...]] = set()
        for path in paths:
            for position, step in enumerate(path.steps):
                place = path.steps[: position + 1]
                if step is _WILDCARD or place in seen:
                    continue
                seen.add(place)
                self.key_places.setdefault(step, []).append(place)

    @classmethod
    def for_config(
        cls, config: ModelConfig, rules: dict[str, Rule], schema: dict[str, pl.DataType]
    ) -> JsonOutputPlan | None:
        """The plan of a model's JSON output paths, or None when this path does not take them."""
        if config.problem_type is ProblemType.MULTICLASS:
            return None
        output = config.output
        configured: list[tuple[str | None, str | None]] = [
            (COL_Y_PRED_PROBA if config.problem_type is ProblemType.BINARY else None, output.probabilities),
            (COL_Y_PRED, output.prediction),
        ]
        paths: list[_Path] = []
        for column, path in configured:
            if path is None:
                continue
            steps = _supported(path)
            if steps is None:
                return None
            paths.append(_Path(column, steps))
        if not paths or len({p.steps for p in paths}) != len(paths):
            return None
        # the paths must form one tree: no node both a value and a container, or both a list and an object
        for one in paths:
            for other in paths:
                if one is not other and other.steps[: len(one.steps)] == one.steps:
                    return None
        if _mixed(_tree(paths)):
            return None
        return cls(paths, rules, schema)

    def _values(self, document: pl.Expr, steps: tuple[str | None, ...]) -> pl.Expr:
        """The list of values (or the list at a wildcard) a path reaches in each decoded document."""
        expr = document
        wildcard = steps.index(_WILDCARD)
        for step in steps[:wildcard]:
            expr = expr.struct.field(step)  # type: ignore[arg-type]
        element = pl.element()
        for step in steps[wildcard + 1 :]:
            element = element.struct.field(step)  # type: ignore[arg-type]
        return expr if wildcard == len(steps) - 1 else expr.list.eval(element)

    def decode(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]] | None:
        """(prediction rows by line/row, lines flagged) of records with `_line`, `_n_in` and `out_text`; None when
        polars cannot read the batch's bodies (the caller decodes them per record)."""
        text = pl.col("out_text")
        try:
            documents = json_decode_chunks(records["out_text"], self.dtype)
        except pl.exceptions.PolarsError:
            return None
        if len(documents) != records.height:
            return None
        decoded = records.select(LINE_COL, "_n_in", "out_text").with_columns(documents.alias("_doc"))
        document = pl.col("_doc")
        lists = {f"_p{i}": self._values(document, path.steps) for i, path in enumerate(self.paths)}
        decoded = decoded.with_columns(**lists)
        count = pl.col("_p0").list.len()
        bad = text.str.contains("\\", literal=True)
        # polars reads a single value where a list is expected as a list of one: each wildcard's value must be
        # written as a list (its key occurs once, checked below)
        for path in self.paths:
            before = path.steps[path.wildcard - 1] if path.wildcard else None
            opening = f'"{before}"{_JSON_SPACE}:{_JSON_SPACE}\\[' if before is not None else f"^{_JSON_SPACE}\\["
            bad = bad | ~text.str.contains(opening)
        for name in lists:
            values = pl.col(name)
            bad = (
                bad
                | values.is_null()
                | (values.list.len() != count)
                | values.list.eval(pl.element().is_null()).list.any()
            )
        bad = bad | (count == 0) | (pl.col("_n_in").is_not_null() & (pl.col("_n_in") != count))
        for key, places in self.key_places.items():
            expected: pl.Expr = pl.lit(0, dtype=pl.UInt32)
            for place in places:
                if _WILDCARD in place:
                    length = self._values(document, place[: place.index(_WILDCARD) + 1]).list.len()
                    expected = expected + length.cast(pl.UInt32)
                else:
                    expected = expected + 1
            bad = bad | (text.str.count_matches(_quoted(key), literal=True).cast(pl.UInt32) != expected)
        decoded = decoded.with_columns(bad.fill_null(True).alias("_bad"))
        flagged = set(decoded.filter(pl.col("_bad"))[LINE_COL].to_list())
        names = list(lists)
        rows = (
            decoded.filter(~pl.col("_bad"))
            .select(LINE_COL, *names, pl.int_ranges(count).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST))
            .explode([*names, COL_ROW_IN_REQUEST])
        )
        exprs = {column: pl.lit(None, dtype=dtype) for column, dtype in self.schema.items()}
        row_bad: pl.Expr = pl.lit(False)
        for name, path in zip(names, self.paths, strict=True):
            if path.column is None:
                continue
            verdict = self.rules[path.column].vector(pl.col(name))
            exprs[path.column] = verdict.value.cast(self.schema[path.column])
            row_bad = row_bad | verdict.undecided | verdict.faulty  # a bad prediction quarantines its record
        # lazily: the rules' expressions share their parsing, which only the lazy engine computes once
        typed = (
            rows.lazy()
            .select(
                LINE_COL,
                COL_ROW_IN_REQUEST,
                *[expr.alias(column) for column, expr in exprs.items()],
                row_bad.fill_null(True).alias("_bad"),
            )
            .collect()
        )
        faulty = set(typed.filter(pl.col("_bad"))[LINE_COL].to_list())
        return typed.drop("_bad"), flagged | faulty


def _quoted(key: str) -> str:
    return f'"{key}"'


def _tree(paths: list[_Path]) -> dict[Any, Any]:
    """The paths as nested dicts: keys (and the wildcard, None) down to `_LEAF`."""
    tree: dict[Any, Any] = {}
    for path in paths:
        node = tree
        for step in path.steps[:-1]:
            node = node.setdefault(step, {})
        node[path.steps[-1]] = _LEAF
    return tree


def _mixed(node: Any) -> bool:
    """Whether some node of the tree is both a list (the wildcard) and an object (keys)."""
    if node == _LEAF:
        return False
    return (_WILDCARD in node and len(node) > 1) or any(_mixed(child) for child in node.values())
