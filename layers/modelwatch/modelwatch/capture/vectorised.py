"""The vectorised path of the capture decoder: whole batches of records with polars (flattened envelope, base64,
CSV text straight to typed columns). It decodes only what it can decode exactly as the per-record path would (same
envelope, same typing rules) and flags every other record's line for the per-record path."""

from __future__ import annotations

import io
from typing import Any

import polars as pl

from modelwatch.capture.envelope import (
    INFERENCE_ID_RAW,
    TimeBounds,
    envelope_ok_expr,
    flatten_exprs,
    is_csv_expr,
    is_json_lines_expr,
    payload_text,
)
from modelwatch.capture.json_output import JsonOutputPlan
from modelwatch.capture.per_record import HAS_OUTPUT, SOFT_FEATURE_ISSUES, RecordDecoder
from modelwatch.capture.records import LINE_COL, RecordError
from modelwatch.capture.rules import (
    NumberRule,
    Rule,
    TextRule,
    Typed,
    derive_prediction_expr,
    feature_rule,
    output_rules,
    positional_columns,
    probability_sum_bad_expr,
)
from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    COL_EVENT_ID,
    COL_FEATURE_ISSUES,
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_ROW_IN_REQUEST,
)


def _attach(rows: pl.DataFrame, part: pl.DataFrame) -> pl.DataFrame:
    """Left-join `part` on (line, row); a plain horizontal stack when both already list the same rows in order."""
    keys = [LINE_COL, COL_ROW_IN_REQUEST]
    if (
        part.height == rows.height
        and part[LINE_COL].equals(rows[LINE_COL])
        and part[COL_ROW_IN_REQUEST].equals(rows[COL_ROW_IN_REQUEST])
    ):
        return _stack(rows, part, keys)
    return rows.join(part, on=keys, how="left", maintain_order="left")


def _join_lines(records: pl.DataFrame, part: pl.DataFrame) -> pl.DataFrame:
    """Left-join `part` (one row per line) on the line; a plain horizontal stack when both list the same lines in
    order."""
    if part.height == records.height and part[LINE_COL].equals(records[LINE_COL]):
        return _stack(records, part, [LINE_COL])
    return records.join(part, on=LINE_COL, how="left", maintain_order="left")


def _stack(frame: pl.DataFrame, part: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """`frame` with the columns of `part` but its `keys` (measured: a tenth of the cost of a `drop` and a
    concat, for parts that open with their keys, as they all do here)."""
    columns = part.get_columns()
    if part.columns[: len(keys)] == keys:
        return frame.hstack(columns[len(keys) :])
    return pl.concat([frame, part.drop(keys)], how="horizontal")


def _where(frame: pl.DataFrame, mask: str) -> pl.DataFrame:
    """The rows of `frame` whose boolean column `mask` is true; `frame` itself when all are (no copy)."""
    column = frame[mask]
    return frame if column.all() and not column.null_count() else frame.filter(pl.col(mask))


def judge_features(
    frame: pl.DataFrame, verdicts: dict[str, Typed], dtype: pl.DataType, typed: bool
) -> tuple[pl.DataFrame, pl.Series | None]:
    """Apply the features' rule verdicts (expressions over `frame`): each feature's typed value (missing where its
    value has an issue) and COL_FEATURE_ISSUES listing those issues; plus the rows the per-record path must decide
    (a value left undecided, or an issue that does not keep the record), None when there are none.

    `typed`: the frame's feature columns are already typed (`Rule.check` verdicts), so clean data keeps them as
    they are and costs one pass that finds nothing to record."""
    names = list(verdicts)
    trouble = pl.any_horizontal([v.faulty | v.undecided for v in verdicts.values()]).fill_null(False)
    if not frame.lazy().select(trouble.any()).collect().item():
        values = frame if typed else frame.with_columns(*[v.value.alias(n) for n, v in verdicts.items()])
        return values.with_columns(pl.lit(None, dtype=dtype).alias(COL_FEATURE_ISSUES)), None
    issue_columns = [f"_i{i}" for i in range(len(names))]
    judged = frame.with_columns(
        *[v.value.alias(n) for n, v in verdicts.items()],
        *[v.issue.alias(c) for v, c in zip(verdicts.values(), issue_columns, strict=True)],
        pl.any_horizontal([v.undecided for v in verdicts.values()]).fill_null(False).alias("_undecided"),
    ).with_columns(
        pl.when(pl.col(c).is_null()).then(pl.col(n)).alias(n) for n, c in zip(names, issue_columns, strict=True)
    )
    soft = list(SOFT_FEATURE_ISSUES)
    hard = pl.any_horizontal([pl.col(c).is_not_null() & ~pl.col(c).is_in(soft) for c in issue_columns])
    entries = [
        pl.when(pl.col(c).is_not_null()).then(pl.struct(pl.lit(name).alias("feature"), pl.col(c).alias("issue")))
        for name, c in zip(names, issue_columns, strict=True)
    ]
    listed = pl.concat_list(entries).list.drop_nulls()
    judged = judged.with_columns(
        pl.when(listed.list.len() > 0).then(listed).cast(dtype).alias(COL_FEATURE_ISSUES),
        (pl.col("_undecided") | hard.fill_null(False)).alias("_decide_per_record"),
    )
    flags = judged["_decide_per_record"]
    return judged.drop(*issue_columns, "_undecided", "_decide_per_record"), flags if flags.any() else None


def _explode_rows(records: pl.DataFrame, count: str | pl.Expr, *columns: str | pl.Expr) -> pl.DataFrame:
    """`columns` of the records, one row for each of a record's `count` rows (a column's name or an expression),
    numbered (COL_ROW_IN_REQUEST); when every record has one row, without building and exploding a list of row
    numbers per record."""
    counts = records[count] if isinstance(count, str) else records.select(count.alias("_n"))["_n"]
    count = pl.col(count) if isinstance(count, str) else count
    if counts.null_count() == 0 and counts.min() == 1 and counts.max() == 1:
        return records.select(*columns, pl.lit(0, dtype=pl.Int32).alias(COL_ROW_IN_REQUEST))
    rows = pl.int_ranges(count).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST)
    return records.select(*columns, rows).explode(COL_ROW_IN_REQUEST)


def per_distinct(
    frame: pl.DataFrame,
    keys: list[str],
    exprs: list[pl.Expr],
    cache: dict[frozenset[tuple[Any, ...]], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """`frame` with `exprs` (over the `keys` columns only) added, each computed once per distinct row of `keys`
    (measured: a third of their cost per row when the keys take a few values, as content types and encodings do).

    `cache`: the distinct rows with `exprs` computed, by the set of those rows, kept from batch to batch (the
    expressions depend on the keys alone; a batch has the same few content types and encodings as the last)."""
    distinct = frame.select(keys).unique()
    if cache is None:
        distinct = distinct.with_columns(exprs)
    else:
        values = frozenset(distinct.iter_rows())
        known = cache.get(values)
        if known is None:
            if len(cache) >= _DISTINCT_CACHE_SIZE:
                cache.clear()
            known = cache[values] = distinct.with_columns(exprs)
        distinct = known
    return frame.join(distinct, on=keys, how="left", nulls_equal=True, maintain_order="left")


_DISTINCT_CACHE_SIZE = 64  # sets of distinct keys a decoder remembers (a file's batches share a few)


def _csv_bytes(texts: pl.Series, separator: str = "\n") -> io.BytesIO:
    """The texts joined, as a stream for polars' CSV reader (measured: it reads a stream with less CPU than bytes)."""
    joined: bytes = texts.str.join(separator).cast(pl.Binary).item()
    return io.BytesIO(joined)


class VectorisedDecoder:
    """Decodes the records of a parsed batch that are plain CSV (or base64 CSV) requests with CSV or JSON outputs."""

    def __init__(
        self,
        config: ModelConfig,
        internal_schema: dict[str, pl.DataType],
        per_record: RecordDecoder,
        bounds: TimeBounds | None = None,
    ) -> None:
        self.config = config
        self.internal_schema = internal_schema
        self.bounds = bounds
        self.per_record = per_record  # JSON output bodies are small: read per record inside this path
        # The values of a CSV request row, in order: the features and the extra columns placed among them (the
        # other extra columns are not in CSV rows: null, as on the per-record path). "Features" below means these.
        positional = positional_columns(config)
        self.n_features = len(positional)
        self.feature_schema = {c.name: internal_schema[c.name] for c in positional}
        self.feature_rules: dict[str, Rule] = {c.name: feature_rule(c) for c in positional}
        self.out_rules = output_rules(config)
        self.out_columns = list(config.output.columns)
        self.pred_schema = {c: internal_schema[c] for c in self.out_rules}
        # a one-column CSV output typed by a NumberRule (a probability, a regression prediction) reads as floats
        only = self.out_columns[0] if len(self.out_columns) == 1 else None
        self.typed_csv_output: tuple[str, Rule] | None = (
            (only, self.out_rules[only]) if only is not None and type(self.out_rules.get(only)) is NumberRule else None
        )
        # a one-column output's bodies of one value each are typed straight from their text (`_output_csv_single`)
        self.single_csv_output: str | None = only if only is not None and only in self.out_rules else None
        self.json_plan = (
            JsonOutputPlan.for_config(config, self.out_rules, self.pred_schema)
            if per_record.reads_json_output
            else None
        )
        self.issues_dtype = internal_schema[COL_FEATURE_ISSUES]
        self.probability_sum_bad = probability_sum_bad_expr(config)
        # Built once, not for every batch (measured: a few milliseconds a batch, a tenth of a small batch's cost)
        self.kind_exprs = [
            self._kind_fast_ok("in", config.input.format).alias("_in_kind_ok"),
            self._kind_fast_ok("out", config.output.format, bool(self.out_columns)).alias("_out_kind_ok"),
            is_csv_expr("out", config.output.format).alias("_out_csv"),
            is_json_lines_expr("out").alias("_out_jsonl"),
            *[
                (pl.col(f"{prefix}_encoding") == "BASE64").fill_null(False).alias(f"_{prefix}_b64")
                for prefix in ("in", "out")
            ],
        ]
        self.derived = derive_prediction_expr(config)
        # Built once, not for every batch (measured: a few hundred microseconds each)
        self.flatten = flatten_exprs(bounds)
        self.kinds_cache: dict[frozenset[tuple[Any, ...]], pl.DataFrame] = {}
        self.ok_expr = (
            (envelope_ok_expr() & self._side_fast_ok("in") & self._side_fast_ok("out"))
            & ~pl.col("_in_failed")
            & ~pl.col("_out_failed")
            & (~pl.col("_in") | self._text_fast_ok("in_text"))
            & (
                ~pl.col("_out")
                | self._text_fast_ok("out_text")
                | (~pl.col("_out_csv") & pl.col("out_text").str.contains(r"\S"))
            ).fill_null(False)
        ).alias("_ok")
        self.row_dtypes = list(internal_schema.values())
        self.single_output_exprs: list[pl.Expr] | None = None
        self.null_columns = {name: pl.lit(None, dtype=dtype).alias(name) for name, dtype in internal_schema.items()}
        self.empty_features = pl.DataFrame(
            schema={
                LINE_COL: pl.Int64,
                COL_ROW_IN_REQUEST: pl.Int32,
                **self.feature_schema,
                COL_FEATURE_ISSUES: self.issues_dtype,
            }
        )
        self.empty_counts = pl.DataFrame(schema={LINE_COL: pl.Int64, "_n_in": pl.Int64})
        # the typed features `_all_finite` sums (None: some feature's checks flag more than non-finite numbers)
        self.finite_features: list[str] | None = (
            [name for name, rule in self.feature_rules.items() if isinstance(rule, NumberRule)]
            if all(type(rule) in (NumberRule, TextRule) for rule in self.feature_rules.values())
            else None
        )
        self.finite_check = pl.sum_horizontal(self.finite_features).is_finite().all() if self.finite_features else None

    def decode(self, frame: pl.DataFrame) -> tuple[pl.DataFrame | None, set[int]]:
        """(typed rows in file order with the internal columns, lines flagged for the per-record path)."""
        if frame.height == 0:
            return None, set()
        flat = frame.select(self.flatten)
        # What the sides' content types and encodings allow, once per distinct pair (a batch has a few)
        in_kind, out_kind = ["in_observedContentType", "in_encoding"], ["out_observedContentType", "out_encoding"]
        flat = per_distinct(flat, in_kind + out_kind, self.kind_exprs, self.kinds_cache)
        in_text, in_failed = payload_text(flat["in_data"], None, flat["_in_b64"])
        out_text, out_failed = payload_text(flat["out_data"], None, flat["_out_b64"])
        # input texts stay as sent (trailing newlines included): _input handles them without a copy
        flat = flat.hstack(
            [
                in_text.alias("in_text"),
                out_text.str.strip_chars_end("\n").alias("out_text"),
                in_failed.alias("_in_failed"),
                out_failed.alias("_out_failed"),
            ]
        )
        ok = flat.select(self.ok_expr).to_series()
        # (a filter that keeps every row is skipped: the usual batch)
        flagged = set(flat[LINE_COL].filter(~ok).to_list())
        good = flat if ok.all() and not ok.null_count() else flat.filter(ok)
        if good.height == 0:
            return None, flagged

        features, in_counts, in_bad = self._input(_where(good, "_in"))
        outputs, out_bad = self._output(_where(good, "_out"), in_counts)
        flagged |= in_bad | out_bad

        records = _join_lines(
            good.select(LINE_COL, COL_EVENT_ID, INFERENCE_ID_RAW, COL_INFERENCE_TIME, "_out"), in_counts
        )
        count: str | pl.Expr = "_n_in"  # every record's rows are its request's
        if records["_n_in"].null_count():
            out_counts = outputs.group_by(LINE_COL).agg(pl.len().cast(pl.Int64).alias("_n_out"))
            records = _join_lines(records, out_counts)
            count = pl.coalesce("_n_in", "_n_out")
        skeleton = _explode_rows(
            records.filter(~pl.col(LINE_COL).is_in(list(flagged))) if flagged else records,
            count,
            LINE_COL,
            COL_EVENT_ID,
            # an empty inferenceId is no inference id: fall back to the event id
            pl.coalesce(pl.when(pl.col(INFERENCE_ID_RAW) != "").then(pl.col(INFERENCE_ID_RAW)), COL_EVENT_ID).alias(
                COL_INFERENCE_ID
            ),
            COL_INFERENCE_TIME,
            pl.col("_out").alias(HAS_OUTPUT),
        )
        rows = _attach(_attach(skeleton, features), outputs)
        if self.derived is not None:
            rows = rows.with_columns(self.derived)
        # Columns no record of the batch gave are null: the issues when every feature was clean (or no request was
        # captured), the extra keys always (CSV requests name no keys; JSON objects are the per-record path's).
        given = set(rows.columns)
        rows = rows.select(pl.col(name) if name in given else null for name, null in self.null_columns.items())
        if rows.dtypes != self.row_dtypes:  # (the names are the schema's: a list of dtypes compares cheaper)
            rows = rows.cast(self.internal_schema)  # type: ignore[arg-type]
        return rows, flagged

    # ------------------------------------------------------------------ what this path takes
    def _kind_fast_ok(self, prefix: str, configured: str, csv_possible: bool = True) -> pl.Expr:
        """A side's content type and encoding allow this path: CSV text (plain or base64)."""
        kind = pl.col(f"{prefix}_observedContentType").fill_null("").str.to_lowercase()
        encoding = pl.col(f"{prefix}_encoding")
        is_json = kind.str.contains("json", literal=True)
        is_csv = ~is_json & (kind.str.contains("csv", literal=True) | pl.lit(configured == "csv"))
        kind_ok = encoding.is_in(["CSV", "BASE64"]) & is_csv & pl.lit(csv_possible)
        # JSON output bodies are read per record inside this path (they are small); JSON inputs are not.
        if prefix == "out":
            kind_ok = kind_ok | (
                encoding.is_in(["CSV", "BASE64", "JSON"]) & ~is_csv & pl.lit(self.per_record.reads_json_output)
            )
        return kind_ok

    @staticmethod
    def _side_fast_ok(prefix: str) -> pl.Expr:
        """A present side can take this path when its data is there and `_kind_fast_ok` allows it."""
        side_ok = pl.col(f"{prefix}_data").is_not_null() & pl.col(f"_{prefix}_kind_ok")
        return ~pl.col(f"_{prefix}") | side_ok.fill_null(False)

    @staticmethod
    def _text_fast_ok(column: str) -> pl.Expr:
        text = pl.col(column)
        return (
            text.is_not_null()
            & text.str.contains(r"\S")  # whitespace only is an empty payload
            & ~text.str.contains('["\r]')  # one pass for both bytes
        ).fill_null(False)

    # ------------------------------------------------------------------ request
    def _input(self, records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, set[int]]:
        """Input CSV rows of the records -> (features by line/row, row counts per line, flagged lines)."""
        empty_features, empty_counts = self.empty_features, self.empty_counts
        if records.height == 0:
            return empty_features, empty_counts, set()
        text = pl.col("in_text")
        # The texts may end with newlines. When every text ends with exactly one, they are the CSV rows as they
        # are (joined with nothing); when none does, they are joined with newlines; otherwise they are stripped.
        ends = records.select(
            text.str.ends_with("\n").all().alias("all"),
            text.str.ends_with("\n").any().alias("any"),
            text.str.ends_with("\n\n").any().alias("double"),
        ).row(0)
        terminated, separator = bool(ends[0] and not ends[2]), "" if ends[0] and not ends[2] else "\n"
        if ends[1] and not terminated:
            records = records.with_columns(text.str.strip_chars_end("\n"))
        rows_in_text = text.str.count_matches("\n", literal=True) + (0 if terminated else 1)
        checked = records.select(LINE_COL, "in_text", rows_in_text.cast(pl.Int64).alias("_n_in"))
        index = _explode_rows(checked, pl.col("_n_in"), LINE_COL)
        flagged: set[int] = set()
        parsed = self._read_feature_csv(checked["in_text"], index.height, separator)
        if parsed is not None:
            features = pl.concat([index, parsed], how="horizontal")
            # A row with too many fields fails the parse; one with too few (or an empty line) parses with a null
            # last column: only records holding such rows need their shape checked.
            last = list(self.feature_schema)[-1]
            if features[last].null_count():
                suspects = features.filter(pl.col(last).is_null())[LINE_COL].unique()
                flagged = self._misshapen(
                    checked.filter(pl.col(LINE_COL).is_in(suspects)).with_columns(text.str.strip_chars_end("\n"))
                )
            counts = checked[[LINE_COL, "_n_in"]]
            if self._all_finite(features):  # nothing to record: `decode` adds the all-null issues column
                return features, counts, flagged
            verdicts = {name: rule.check(pl.col(name)) for name, rule in self.feature_rules.items()}
            return self._judged(features, verdicts, flagged, typed=True), counts, flagged
        # Some value is not a number, or some row has too many fields: find which records, line by line.
        checked = checked.with_columns(text.str.strip_chars_end("\n"))  # the checks below split on newlines
        lines = (
            checked.select(LINE_COL, pl.col("in_text").str.split("\n").alias("_t"))
            .with_columns(pl.int_ranges(pl.col("_t").list.len()).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST))
            .explode(["_t", COL_ROW_IN_REQUEST])
        )
        flagged |= set(lines.filter(self._misshapen_line("_t"))[LINE_COL].unique().to_list())
        lines = lines.filter(~pl.col(LINE_COL).is_in(list(flagged)))
        if lines.height == 0:
            return empty_features, empty_counts, flagged
        text_columns = [f"c{i}" for i in range(self.n_features)]
        as_text = pl.read_csv(
            _csv_bytes(lines["_t"]), has_header=False, schema=dict.fromkeys(text_columns, pl.Utf8), quote_char=None
        )
        verdicts = {
            name: self.feature_rules[name].vector(pl.col(column))
            for name, column in zip(self.feature_schema, text_columns, strict=True)
        }
        parts = pl.concat([lines.select(LINE_COL, COL_ROW_IN_REQUEST), as_text], how="horizontal")
        features = self._judged(parts, verdicts, flagged, typed=False).drop(text_columns)
        counts = lines.group_by(LINE_COL, maintain_order=True).agg(pl.len().cast(pl.Int64).alias("_n_in"))
        return features, counts, flagged

    def _all_finite(self, features: pl.DataFrame) -> bool:
        """Whether no typed feature value can have an issue, proven cheaply: the checks of typed features flag only
        non-finite numbers (NumberRule.check; text is never at fault), and a row's sum is finite when none is (an
        overflowing sum merely takes the exact path)."""
        if self.finite_check is None:
            return self.finite_features is not None  # None: not provable; []: no typed number to check
        return bool(features.select(self.finite_check).item())

    def _judged(
        self, features: pl.DataFrame, verdicts: dict[str, Typed], flagged: set[int], typed: bool
    ) -> pl.DataFrame:
        """`judge_features`, the records it leaves to the per-record path added to `flagged`."""
        judged, decide = judge_features(features, verdicts, self.issues_dtype, typed)
        if decide is not None:
            flagged |= set(judged.filter(decide)[LINE_COL].unique().to_list())
        return judged

    def _misshapen_line(self, column: str) -> pl.Expr:
        """A CSV line (unquoted) that does not hold exactly one value per feature."""
        line = pl.col(column)
        return (line.str.count_matches(",", literal=True) != self.n_features - 1) | (line.str.len_bytes() == 0)

    def _misshapen(self, records: pl.DataFrame) -> set[int]:
        """Lines of records whose CSV rows do not all have exactly one value per feature."""
        lines = (
            records.select(LINE_COL, pl.col("in_text").str.split("\n").alias("_t"))
            .explode("_t")
            .filter(self._misshapen_line("_t"))
        )
        return set(lines[LINE_COL].unique().to_list())

    def _read_feature_csv(self, texts: pl.Series, expected_rows: int, separator: str = "\n") -> pl.DataFrame | None:
        """All rows parsed straight into typed columns, or None when some row does not parse."""
        names = list(self.feature_schema)
        columns = [f"c{i}" for i in range(len(names))]
        try:
            # polars' CSV reader types numbers as NumberRule does (what it cannot read fails the whole parse)
            parsed = pl.read_csv(
                _csv_bytes(texts, separator),
                has_header=False,
                schema=dict(zip(columns, self.feature_schema.values(), strict=True)),
                quote_char=None,
            )
        except Exception:
            return None
        if parsed.height != expected_rows:
            return None
        return parsed.rename(dict(zip(columns, names, strict=True)))

    # ------------------------------------------------------------------ response
    def _output(self, records: pl.DataFrame, in_counts: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        """Output rows (prediction columns by line/row) of the records, and the lines flagged."""
        out_schema = {LINE_COL: pl.Int64(), COL_ROW_IN_REQUEST: pl.Int32(), **self.pred_schema}
        if records.height == 0:
            return pl.DataFrame(schema=out_schema), set()
        records = _join_lines(records, in_counts).rename({"_out_csv": "_csv", "_out_jsonl": "_jsonl"})
        parts: list[pl.DataFrame] = []
        flagged: set[int] = set()
        csv_records = _where(records, "_csv")
        if csv_records.height:
            frame, bad = self._output_csv(csv_records)
            parts.append(frame)
            flagged |= bad
        json_records = records.filter(~pl.col("_csv")) if csv_records.height < records.height else None
        if json_records is not None and json_records.height:
            frame, bad = self._output_json(json_records)
            parts.append(frame)
            flagged |= bad
        frame = pl.concat([p.cast(out_schema) for p in parts], how="vertical")  # type: ignore[arg-type]
        return frame, flagged

    def _output_csv(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        """CSV bodies: one value each typed straight from the text where every body of the batch is one value
        (`_output_csv_single`), else one number per line straight to floats where every body allows
        (`_output_csv_typed`), else split into units and values typed by the rules' vector halves."""
        single = self._output_csv_single(records)
        if single is not None:
            return single
        typed = self._output_csv_typed(records) if self.typed_csv_output is not None else None
        return typed if typed is not None else self._output_csv_units(records)

    def _output_csv_single(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]] | None:
        """Bodies of one value each (no comma, no line break: an endpoint's answer to a one-row request) of a
        one-column output: `_output_csv_units` without the split, each body the one unit and value of its record.
        None when some body holds more (or the column has no rule)."""
        column = self.single_csv_output
        if column is None:
            return None
        if records["out_text"].str.contains("[,\n]").any():
            return None
        result = records.lazy().select(self._single_output_exprs(column)).collect()
        if self.probability_sum_bad is not None:
            result = result.with_columns((pl.col("_bad") | self.probability_sum_bad.fill_null(False)).alias("_bad"))
        flagged = set(result[LINE_COL].filter(result["_bad"]).to_list())
        return result.drop("_bad"), flagged

    def _single_output_exprs(self, column: str) -> list[pl.Expr]:
        """What `_output_csv_single` selects (built once per decoder)."""
        if self.single_output_exprs is None:
            text = pl.col("out_text")
            verdict = self.out_rules[column].vector(text)
            n_in = pl.col("_n_in")
            # as `_output_csv_units` judges a one-unit body: another row count than the request's, an empty line
            # (not a joined row: the request has one row), a value the rule rejects or leaves undecided
            joined = n_in.is_null() | (n_in > 1)
            bad = (n_in.is_not_null() & (n_in != 1)) | (~joined & (text == "")) | verdict.undecided | verdict.faulty
            self.single_output_exprs = [
                pl.col(LINE_COL),
                pl.lit(0, dtype=pl.Int32).alias(COL_ROW_IN_REQUEST),
                *[
                    verdict.value.alias(name) if name == column else pl.lit(None, dtype=dtype).alias(name)
                    for name, dtype in self.pred_schema.items()
                ],
                bad.fill_null(True).alias("_bad"),
            ]
        return self.single_output_exprs

    def _output_csv_typed(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]] | None:
        """The bodies of a one-column output typed by a NumberRule, as `_read_feature_csv` reads features: their
        lines joined and parsed by polars' CSV reader (which types numbers as NumberRule does), then the rule's
        checks. None when a body holds a comma (a joined line, or too many values) or some line does not parse: the
        unit path decides the batch."""
        assert self.typed_csv_output is not None
        column, rule = self.typed_csv_output
        text = pl.col("out_text")
        counted = records.select(
            LINE_COL,
            "_n_in",
            "out_text",
            (text.str.count_matches("\n", literal=True) + 1).cast(pl.Int64).alias("_n_out"),
            text.str.contains(",", literal=True).alias("_comma"),
        )
        if counted["_comma"].any():
            return None
        # another row count than the request's, or an empty line (csv.reader gives it no value), quarantines the
        # record: the per-record path says why
        empty_line = pl.col("out_text").str.starts_with("\n") | pl.col("out_text").str.contains("\n\n", literal=True)
        mismatch = (pl.col("_n_in").is_not_null() & (pl.col("_n_in") != pl.col("_n_out"))) | empty_line
        flagged = set(counted.filter(mismatch)[LINE_COL].to_list())
        counted = counted.filter(~mismatch)
        expected = int(counted["_n_out"].sum())
        try:
            parsed = pl.read_csv(
                _csv_bytes(counted["out_text"]), has_header=False, schema={"c0": rule.dtype}, quote_char=None
            )
        except Exception:
            return None
        if parsed.height != expected:
            return None
        verdict = rule.check(pl.col("c0"))
        index = counted.select(
            LINE_COL, pl.int_ranges(pl.col("_n_out")).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST)
        ).explode(COL_ROW_IN_REQUEST)
        result = pl.concat([index, parsed], how="horizontal").select(
            LINE_COL,
            COL_ROW_IN_REQUEST,
            *[
                pl.col("c0").alias(name) if name == column else pl.lit(None, dtype=dtype).alias(name)
                for name, dtype in self.pred_schema.items()
            ],
            verdict.faulty.alias("_bad"),
        )
        flagged |= set(result.filter(pl.col("_bad"))[LINE_COL].to_list())
        return result.drop("_bad"), flagged

    def _output_csv_units(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        m = len(self.out_columns)
        text = pl.col("out_text")
        joined = (
            pl.lit(m == 1)
            & (text.str.count_matches("\n", literal=True) == 0)
            & (pl.col("_n_in").is_null() | (pl.col("_n_in") > 1))
        )
        units = (
            records.select(
                LINE_COL,
                "_n_in",
                pl.when(joined).then(text.str.split(",")).otherwise(text.str.split("\n")).alias("_u"),
                (~joined).alias("_lines"),
            )
            .with_columns(
                pl.col("_u").list.len().alias("_n_out"),
                pl.int_ranges(pl.col("_u").list.len()).cast(pl.List(pl.Int32)).alias(COL_ROW_IN_REQUEST),
            )
            .explode(["_u", COL_ROW_IN_REQUEST])
        )
        units = units.with_columns(pl.col("_u").str.split(",").alias("_v"))
        bad = (pl.col("_v").list.len() != m) | (pl.col("_n_in").is_not_null() & (pl.col("_n_in") != pl.col("_n_out")))
        # an empty line holds no value at all (csv.reader gives it none): the per-record path quarantines it
        bad = bad | (pl.col("_lines") & (pl.col("_u") == ""))
        exprs: list[pl.Expr] = []
        for position, column in enumerate(self.out_columns):
            if column not in self.out_rules:
                continue
            verdict = self.out_rules[column].vector(pl.col("_v").list.get(position, null_on_oob=True))
            exprs.append(verdict.value.alias(column))
            # a bad prediction quarantines its record: the per-record path says why
            bad = bad | verdict.undecided | verdict.faulty
        # lazily: the rules' expressions share their parsing, which only the lazy engine computes once
        result = units.lazy().select(LINE_COL, COL_ROW_IN_REQUEST, *exprs, bad.fill_null(True).alias("_bad")).collect()
        for column, dtype in self.pred_schema.items():
            if column not in result.columns:
                result = result.with_columns(pl.lit(None, dtype=dtype).alias(column))
        if self.probability_sum_bad is not None:
            result = result.with_columns((pl.col("_bad") | self.probability_sum_bad.fill_null(False)).alias("_bad"))
        flagged = set(result.filter(pl.col("_bad"))[LINE_COL].unique().to_list())
        return result.drop("_bad"), flagged

    def _output_json(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        """JSON bodies: vectorised (`JsonOutputPlan`) where the paths allow and polars reads the batch's bodies,
        per record otherwise (JSON Lines bodies always)."""
        if self.json_plan is None:
            return self._output_json_per_record(records)
        plain = records.filter(~pl.col("_jsonl"))
        result = self.json_plan.decode(plain) if plain.height else None
        if result is None:
            return self._output_json_per_record(records)
        frame, flagged = result
        lines = records.filter(pl.col("_jsonl"))
        if lines.height == 0:
            return frame, flagged
        more, more_flagged = self._output_json_per_record(lines)
        return pl.concat([frame, more], how="vertical"), flagged | more_flagged

    def _output_json_per_record(self, records: pl.DataFrame) -> tuple[pl.DataFrame, set[int]]:
        rows: list[dict[str, Any]] = []
        flagged: set[int] = set()
        for number, text, n_in, lines in records.select(LINE_COL, "out_text", "_n_in", "_jsonl").iter_rows():
            try:
                outputs = self.per_record.json_output_rows(text, lines=bool(lines))
            except RecordError:
                flagged.add(number)
                continue
            if n_in is not None and n_in != len(outputs):
                flagged.add(number)
                continue
            for position, values in enumerate(outputs):
                rows.append({LINE_COL: number, COL_ROW_IN_REQUEST: position, **values})
        schema = {LINE_COL: pl.Int64(), COL_ROW_IN_REQUEST: pl.Int32(), **self.pred_schema}
        return pl.DataFrame(rows, schema=schema, orient="row"), flagged
