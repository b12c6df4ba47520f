"""The per-record path of the capture decoder: one record at a time with json/csv/base64, for everything the
vectorised path leaves (JSON request bodies, quoted CSV, anything its checks flag). It decodes a record exactly as
the vectorised path would (same envelope, same typing rules) or raises RecordError with the quarantine reason."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from modelwatch.capture.batch import BATCH_SIDE, merged_record
from modelwatch.capture.envelope import (
    TimeBounds,
    content_format,
    decode_side_text,
    id_text,
    parse_envelope,
    parse_inference_time,
)
from modelwatch.capture.records import RecordError
from modelwatch.capture.rules import (
    ISSUE_NON_FINITE,
    ISSUE_NOT_SINGLE,
    ISSUE_TYPE,
    InputColumn,
    Rule,
    ValueIssue,
    derive_prediction,
    feature_rule,
    input_columns,
    output_rules,
    positional_columns,
    probability_sum_issue,
)
from modelwatch.config.model import Feature, ModelConfig, ProblemType
from modelwatch.constants import (
    COL_EVENT_ID,
    COL_EXTRA_KEYS,
    COL_FEATURE_ISSUES,
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_ROW_IN_REQUEST,
    COL_Y_PRED,
    COL_Y_PRED_PROBA,
    FEATURE_ISSUE_MISSING_KEY,
    FEATURE_ISSUE_TOO_FEW_COLUMNS,
    FEATURE_ISSUE_TOO_MANY_COLUMNS,
)
from modelwatch.jsonpath import JsonPath, JsonPathError, compile_path, key_path

HAS_OUTPUT = "_has_output"  # internal column: the row's record captured the output side
# A damaged feature value keeps its record: the value is stored as missing and the issue recorded in the row.
SOFT_FEATURE_ISSUES = frozenset({ISSUE_NON_FINITE, ISSUE_TYPE})
_FEATURE_ISSUE = {ISSUE_NOT_SINGLE: ISSUE_TYPE}  # a list or object where a feature value belongs is of no type
_MISSING = object()  # a feature's key is not in the request object


def csv_rows(text: str, side: str) -> list[list[str]]:
    """The CSV rows of a payload (trailing newlines ignored); raises RecordError when empty or not CSV."""
    body = text.rstrip("\n")
    if not body.strip():
        raise RecordError(f"{side}.data is empty")
    try:
        return list(csv.reader(io.StringIO(body)))
    except csv.Error as exc:
        raise RecordError(f"invalid CSV in {side}.data: {exc}") from exc


def json_body(text: str, side: str) -> Any:
    """The JSON document of a payload; raises RecordError when it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"invalid JSON in {side}.data: {exc}") from exc


def json_documents(text: str, side: str, lines: bool) -> list[tuple[Any, str]]:
    """The JSON documents of a payload with where each is: the whole text, or each non-blank line of JSON Lines."""
    if not lines:
        return [(json_body(text, side), f"{side}.data")]
    documents = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            where = f"{side}.data line {number}"
            try:
                documents.append((json.loads(line), where))
            except (ValueError, RecursionError) as exc:
                raise RecordError(f"invalid JSON in {where}: {exc}") from exc
    if not documents:
        raise RecordError(f"{side}.data is empty")
    return documents


def _is_single(value: Any) -> bool:
    return not isinstance(value, list | dict)


def typed(rule: Rule, value: Any, what: str) -> Any:
    """`rule.scalar(value)`, its issue as a RecordError naming `what`."""
    try:
        return rule.scalar(value)
    except ValueIssue as issue:
        raise RecordError(issue.reason(what)) from issue


def _column_path(config: ModelConfig, column: InputColumn) -> JsonPath:
    """The path of a feature or extra column in a request object: configured, else the key of its name."""
    configured = config.input.feature_paths.get(column.name) if isinstance(column, Feature) else column.path
    return compile_path(configured or key_path(column.name))


class RecordDecoder:
    """Decodes one capture record (a JSON line) into typed rows for one model config."""

    def __init__(
        self,
        config: ModelConfig,
        schema: dict[str, Any],
        bounds: TimeBounds | None = None,
        default_time: datetime | None = None,
    ) -> None:
        self.config = config
        self.schema = schema
        self.bounds = bounds or TimeBounds()
        self.default_time = default_time  # batch transform records without an inference time: their file's hour
        self.features = config.features
        self.n_features = len(config.features)
        # the columns of a request row: features and extra columns (by name in objects, by position in lists)
        self.columns = input_columns(config)
        self.column_names = [c.name for c in self.columns]
        self.positional = positional_columns(config)
        self.n_positional = len(self.positional)
        self.rules = {c.name: feature_rule(c) for c in self.columns}
        self.out_rules = output_rules(config)
        self.out_columns = list(config.output.columns)
        self.instances_path = compile_path(config.input.instances)
        self.column_paths = {c.name: _column_path(config, c) for c in self.columns}
        # the top-level keys the features and extra columns read; unknown when a path does not start with a key
        first_keys = [path.first_key for path in self.column_paths.values()]
        self.named_keys = None if None in first_keys else frozenset(k for k in first_keys if k is not None)
        self.proba_path = compile_path(config.output.probabilities) if config.output.probabilities else None
        self.pred_path = compile_path(config.output.prediction) if config.output.prediction else None

    @property
    def reads_json_output(self) -> bool:
        return self.proba_path is not None or self.pred_path is not None

    def decode(self, line: bytes) -> list[dict[str, Any]]:
        """The typed rows of one record (internal columns included), or RecordError with the reason."""
        record, meta, event_id = parse_envelope(line)
        event_id = id_text(event_id, "eventMetadata.eventId")
        inference_id = id_text(meta.get("inferenceId"), "eventMetadata.inferenceId")
        capture = record.get("captureData")
        if capture is None:
            raise RecordError("missing captureData")
        if not isinstance(capture, dict):
            raise RecordError("captureData is not a JSON object")
        in_side, out_side = capture.get("endpointInput"), capture.get("endpointOutput")
        raw_time = meta.get("inferenceTime")
        if in_side is None and out_side is None and BATCH_SIDE in capture:
            # Model Monitor's merged batch transform record: its output record, holding the input when joined
            sides = merged_record(capture[BATCH_SIDE], self.config).sides()
            in_side, out_side = sides.get("endpointInput"), sides.get("endpointOutput")
            if raw_time is None and self.default_time is not None:
                raw_time = self.default_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        inference_time = parse_inference_time(raw_time, self.bounds)
        if in_side is None and out_side is None:
            raise RecordError("captureData has neither endpointInput nor endpointOutput")
        inputs = self.input_rows(in_side) if in_side is not None else None
        outputs = self.output_rows(out_side, None if inputs is None else len(inputs)) if out_side is not None else None
        if inputs is not None and outputs is not None and len(inputs) != len(outputs):
            raise RecordError(
                f"row count mismatch: endpointInput has {len(inputs)} rows, endpointOutput has {len(outputs)}"
            )
        count = len(inputs) if inputs is not None else len(outputs or [])
        rows = []
        for position in range(count):
            row: dict[str, Any] = dict.fromkeys(self.schema)
            if inputs is not None:
                row.update(inputs[position])
            if outputs is not None:
                row.update(outputs[position])
            row[COL_EVENT_ID] = event_id
            row[COL_INFERENCE_ID] = inference_id if inference_id is not None else event_id
            row[COL_ROW_IN_REQUEST] = position
            row[COL_INFERENCE_TIME] = inference_time
            row[HAS_OUTPUT] = outputs is not None
            derive_prediction(self.config, row)
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ request
    def input_rows(self, side: Any) -> list[dict[str, Any]]:
        """The typed feature (and extra column) values of each request row."""
        text, encoding = decode_side_text(side, "endpointInput")
        kind = content_format(side.get("observedContentType"), encoding, self.config.input.format)
        if kind == "csv":
            return [
                self._typed_values(self.positional, values, index)
                for index, values in enumerate(csv_rows(text, "endpointInput"))
            ]
        instances = [
            instance
            for document, where in json_documents(text, "endpointInput", lines=kind == "jsonlines")
            for instance in self._instances(document, where)
        ]
        rows = []
        for index, instance in enumerate(instances):
            if isinstance(instance, list):
                rows.append(self._typed_values(self.positional, instance, index))
            elif isinstance(instance, dict):
                row = self._typed_values(self.columns, self._by_name(instance), index)
                row[COL_EXTRA_KEYS] = self._extra_keys(instance)
                rows.append(row)
            elif self.n_positional == 1:
                rows.append(self._typed_values(self.positional, [instance], index))  # TF Serving's scalar instances
            else:
                raise RecordError(
                    f"endpointInput row {index} is a single value: one value per row needs a one-feature model "
                    f"({self._width()})"
                )
        return rows

    def _width(self) -> str:
        """How many values a positional row holds, in words."""
        if self.n_positional == self.n_features:
            return f"this model has {self.n_features} features"
        return f"this model's rows hold {self.n_positional} values: features and extra columns"

    def _instances(self, document: Any, where: str) -> list[Any]:
        """The request rows of one JSON document, each a list (positional), an object (by name) or a single value.

        A list of single values is one row per value for a one-feature model (TensorFlow Serving's scalar
        instances), and one positional row for a model with that many features (and extra columns)."""
        path = self.instances_path
        try:
            found = path.value(document)
        except JsonPathError as exc:
            raise RecordError(f"JSON path {path.text} missing in {where}: {exc}") from exc
        if path.has_wildcard:
            instances = list(found)
        elif not isinstance(found, list):
            instances = [found]
        elif found and all(_is_single(value) for value in found) and self.n_positional > 1:
            if len(found) != self.n_positional:
                what = "features" if self.n_positional == self.n_features else "features and extra columns"
                raise RecordError(
                    f"{where} at {path.text} holds {len(found)} single values: one row per value needs a "
                    f"one-feature model, one row needs {self.n_positional} values ({what})"
                )
            instances = [found]
        else:
            instances = found
        if not instances:
            raise RecordError(f"{where} at {path.text} holds no rows")
        return instances

    def _by_name(self, instance: dict[str, Any]) -> list[Any]:
        """The values of the features and extra columns in a request object (`_MISSING` where a key or path is
        absent)."""
        values = []
        for name in self.column_names:
            try:
                values.append(self.column_paths[name].value(instance))
            except JsonPathError:
                values.append(_MISSING)
        return values

    def _extra_keys(self, instance: dict[str, Any]) -> list[str] | None:
        """The keys of a request object that no feature (or extra column) reads (None when there are none, or when
        not known)."""
        if self.named_keys is None:
            return None
        extra = [key for key in instance if key not in self.named_keys]
        return extra or None

    def _typed_values(self, columns: list[InputColumn], values: list[Any], index: int) -> dict[str, Any]:
        """The typed values of one request row (`values`: one per column of `columns`) and, under
        COL_FEATURE_ISSUES, what was wrong with those stored as missing (None when nothing was). A row with another
        number of values than columns keeps no value: which value is which column is unknown."""
        row: dict[str, Any] = dict.fromkeys(self.column_names)
        if len(values) != len(columns):
            code = FEATURE_ISSUE_TOO_FEW_COLUMNS if len(values) < len(columns) else FEATURE_ISSUE_TOO_MANY_COLUMNS
            row[COL_FEATURE_ISSUES] = [{"feature": None, "issue": code}]
            return row
        issues: list[dict[str, str | None]] = []
        for column, value in zip(columns, values, strict=True):
            if value is _MISSING:
                issues.append({"feature": column.name, "issue": FEATURE_ISSUE_MISSING_KEY})
                continue
            try:
                row[column.name] = self.rules[column.name].scalar(value)
            except ValueIssue as issue:
                code = _FEATURE_ISSUE.get(issue.code, issue.code)
                if code not in SOFT_FEATURE_ISSUES:  # a rule grew an issue nobody decided how to keep: say so
                    noun = "feature" if isinstance(column, Feature) else "extra column"
                    where = f"{column.type} {noun} {column.name!r} (endpointInput row {index})"
                    raise RecordError(issue.reason(where)) from issue
                issues.append({"feature": column.name, "issue": code})
        row[COL_FEATURE_ISSUES] = issues or None
        return row

    # ------------------------------------------------------------------ response
    def output_rows(self, side: Any, n_in: int | None) -> list[dict[str, Any]]:
        """The typed prediction values of each response row (`n_in`: the request's row count, if captured)."""
        text, encoding = decode_side_text(side, "endpointOutput")
        kind = content_format(side.get("observedContentType"), encoding, self.config.output.format)
        if kind != "csv":
            if not self.reads_json_output:
                raise RecordError("endpointOutput is JSON but output.probabilities/prediction paths are not configured")
            return self.json_output_rows(text, lines=kind == "jsonlines")
        if not self.out_columns:
            raise RecordError("endpointOutput is CSV but output.columns is not configured")
        m = len(self.out_columns)
        lines = csv_rows(text, "endpointOutput")
        if m == 1 and len(lines) == 1 and (n_in is None or n_in > 1) and len(lines[0]) > 1:
            lines = [[value] for value in lines[0]]  # one comma-joined line for k rows (built-in algorithms)
        rows = []
        for index, values in enumerate(lines):
            if len(values) != m:
                raise RecordError(
                    f"wrong column count: endpointOutput row {index} has {len(values)} values, "
                    f"expected {m} (output.columns)"
                )
            rows.append(
                {
                    column: typed(self.out_rules[column], value, f"endpointOutput column {column!r} (row {index})")
                    for column, value in zip(self.out_columns, values, strict=True)
                    if column in self.out_rules
                }
            )
        return self._checked_rows(rows)

    def _checked_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The output rows, if each row's class probabilities sum to 1 (within the configured tolerance)."""
        for index, row in enumerate(rows):
            issue = probability_sum_issue(self.config, row)
            if issue is not None:
                raise RecordError(issue.reason(f"endpointOutput row {index}"))
        return rows

    def json_output_rows(self, text: str, lines: bool = False) -> list[dict[str, Any]]:
        """The typed prediction values of a JSON response body, or of each line of a JSON Lines body (also used by
        the vectorised path)."""
        rows: list[dict[str, Any]] = []
        for document, where in json_documents(text, "endpointOutput", lines):
            rows.extend(self._document_output_rows(document, where, first=len(rows)))
        return self._checked_rows(rows)

    def _document_output_rows(self, document: Any, where: str, first: int) -> list[dict[str, Any]]:
        """The rows of one JSON document of the response (`first`: the index of its first row in the response)."""
        multiclass = self.config.problem_type is ProblemType.MULTICLASS
        probas: list[Any] | None = None
        predictions: list[Any] | None = None
        if self.proba_path is not None:
            probas = self._json_values(document, self.proba_path, nested=multiclass, where=where)
        if self.pred_path is not None:
            predictions = self._json_values(document, self.pred_path, nested=False, where=where)
        if probas is not None and predictions is not None and len(probas) != len(predictions):
            raise RecordError(f"endpointOutput has {len(probas)} probabilities but {len(predictions)} predictions")
        count = len(probas) if probas is not None else len(predictions or [])
        if count == 0:
            raise RecordError(f"{where} holds no predictions")
        rows = []
        for position in range(count):
            index = first + position
            row: dict[str, Any] = {}
            if probas is not None:
                row.update(self._typed_probabilities(probas[position], index))
            if predictions is not None:
                what = f"endpointOutput column {COL_Y_PRED!r} (row {index})"
                row[COL_Y_PRED] = typed(self.out_rules[COL_Y_PRED], predictions[position], what)
            rows.append(row)
        return rows

    @staticmethod
    def _json_values(document: Any, path: JsonPath, nested: bool, where: str) -> list[Any]:
        try:
            found = path.value(document)
        except JsonPathError as exc:
            raise RecordError(f"JSON path {path.text} missing in {where}: {exc}") from exc
        if path.has_wildcard:
            return list(found)
        if not isinstance(found, list):
            return [found]
        if nested and found and not isinstance(found[0], list):
            return [found]  # one row's list of class probabilities
        return found

    def _typed_probabilities(self, value: Any, index: int) -> dict[str, Any]:
        what = f"endpointOutput probabilities (row {index})"
        if self.config.problem_type is ProblemType.MULTICLASS:
            classes = self.config.classes
            if not isinstance(value, list) or len(value) != len(classes):
                size = len(value) if isinstance(value, list) else 1
                raise RecordError(
                    f"wrong column count: endpointOutput probabilities row {index} has {size} values, "
                    f"expected {len(classes)} (classes)"
                )
            return {
                column: typed(self.out_rules[column], v, what)
                for column, v in zip(self.config.proba_columns, value, strict=True)
            }
        if isinstance(value, list) and len(value) == 2 and self.config.problem_type is ProblemType.BINARY:
            value = value[1]  # [p(negative), p(positive)] pairs: keep the positive class
        if self.config.problem_type is ProblemType.REGRESSION:
            return {}
        return {COL_Y_PRED_PROBA: typed(self.out_rules[COL_Y_PRED_PROBA], value, what)}
