"""Fuzzing the decoders: arbitrary bytes and mutated valid records never raise, and every record is accounted for.

Inputs that once broke the decoder are kept in `corpus/` (one `<config>__<name>.jsonl` file each) and replayed.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelwatch.capture import capture_schema, decode_capture_bytes, decode_ground_truth_bytes, ground_truth_schema
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.records import GZIP_MAGIC, UTF8_BOM, LineBatch
from modelwatch.config.model import ModelConfig
from modelwatch.errors import CaptureReadError
from tests.unit.capture.conftest import (
    CREDIT_CARD_CLASSES,
    CREDIT_CARD_FEATURES,
    capture_bytes,
    corpus_files,
    make_config,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONFIGS: dict[str, ModelConfig] = {
    "binary": make_config(),
    "binary_json_out": make_config(
        output={
            "format": "json",
            "probabilities": "$.predictions[*].score",
            "prediction": "$.predictions[*].predicted_label",
        }
    ),
    "binary_jsonl": make_config(
        output={"format": "json", "probabilities": "$.score", "prediction": "$.predicted_label"}
    ),
    "tf_scalar": make_config(
        name="tf_regressor",
        problem_type="regression",
        features=[{"name": "x", "type": "numeric"}],
        input={"format": "json", "instances": "$.instances"},
        output={"format": "json", "prediction": "$.predictions"},
    ),
    "binary_extra": make_config(
        input={"format": "json", "instances": "$.instances"},
        extra_columns=[
            {"name": "region", "csv_index": 0},
            {"name": "applicant_age", "type": "numeric", "csv_index": 8, "path": "$.applicant.age"},
            {"name": "branch"},
        ],
    ),
    "multiclass_csv": make_config(
        name="credit_card",
        problem_type="multiclass_classification",
        features=CREDIT_CARD_FEATURES,
        classes=CREDIT_CARD_CLASSES,
        output={"format": "csv", "columns": [f"y_pred_proba_{c}" for c in CREDIT_CARD_CLASSES]},
    ),
}
SAMPLES = {
    "binary": [
        "binary_csv.jsonl",
        "binary_base64_multirow.jsonl",
        "binary_xgboost_joined.jsonl",
        "binary_input_only.jsonl",
        "binary_output_only.jsonl",
        "binary_mixed_bad.jsonl",
    ],
    "binary_extra": ["binary_extra_columns.jsonl"],
    "binary_json_out": ["binary_csv_in_json_out.jsonl"],
    "binary_jsonl": ["binary_jsonlines.jsonl"],
    "tf_scalar": ["regression_tfserving_scalar.jsonl"],
    "multiclass_csv": ["multiclass_csv.jsonl"],
}
SAMPLE_LINES = {
    key: [line for name in names for line in capture_bytes(name).split(b"\n") if line.strip()]
    for key, names in SAMPLES.items()
}
CSVISH = st.text(alphabet="0123456789.,-+eE\n\r\"' abcNnaI_€\t", max_size=60)


def check_accounting(batch: DecodedBatch, data: bytes, schema: dict[str, Any]) -> None:
    """Every non-blank line is one record; each record is quarantined or gives at least one row. (A byte-order mark
    opening the file is no part of its first line.)"""
    lines = data.removeprefix(UTF8_BOM).split(b"\n")
    non_blank = {n for n, line in enumerate(lines, start=1) if line.strip()}
    assert batch.records == len(non_blank)
    quarantined = [q.line for q in batch.quarantined]
    assert len(quarantined) == len(set(quarantined))
    assert set(quarantined) <= non_blank
    assert all(q.reason for q in batch.quarantined)
    assert batch.rows.height >= batch.records - len(quarantined)
    assert dict(batch.rows.schema) == schema
    assert 0 <= batch.rows_without_prediction <= batch.rows.height
    for q in batch.quarantined:
        assert q.raw == lines[q.line - 1].decode("utf-8", errors="replace")


def check_never_lost(config: ModelConfig, batch: DecodedBatch, data: bytes) -> None:
    """Exactly: each record decoded alone is quarantined (for the same reason) or gives the same rows as it did in
    the whole file, so no record is lost and none gives another's rows."""
    quarantined = {q.line: q.reason for q in batch.quarantined}
    rows = 0
    for number, line in enumerate(data.removeprefix(UTF8_BOM).split(b"\n"), start=1):
        if not line.strip():
            continue
        alone = CaptureDecoder(config, "fuzz").decode_batch(LineBatch(1, line))
        assert [q.reason for q in alone.quarantined] == ([quarantined[number]] if number in quarantined else [])
        assert (alone.rows.height > 0) == (number not in quarantined)
        rows += alone.rows.height
    assert rows == batch.rows.height


def decode_both_ways(config: ModelConfig, data: bytes) -> tuple[DecodedBatch, DecodedBatch]:
    """Both decoding paths on the file's lines as the reader hands them over (a leading UTF-8 BOM removed)."""
    lines = LineBatch(1, data.removeprefix(UTF8_BOM))
    fast = CaptureDecoder(config, "fuzz").decode_batch(lines)
    slow_decoder = CaptureDecoder(config, "fuzz")
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(lines)
    return fast, slow


def mutate_strings(value: Any, draw: Any) -> Any:
    """Replace some string values (keeping them strings) and some numbers/containers: JSON types of the
    capture's string fields stay strings, so the vectorised and per-record paths must agree exactly."""
    if isinstance(value, dict):
        return {k: mutate_strings(v, draw) for k, v in value.items() if draw(st.integers(0, 40)) != 0}
    if isinstance(value, str) and draw(st.integers(0, 11)) == 0:
        choice = draw(st.integers(0, 4))
        if choice == 0:
            return draw(CSVISH)
        if choice == 1:
            return draw(st.sampled_from(["CSV", "BASE64", "JSON", "base64", "GZIP", ""]))
        if choice == 2:
            return draw(st.sampled_from(["text/csv", "application/json", "text/csv; charset=utf-8", "", "x/y"]))
        if choice == 3:
            return draw(
                st.sampled_from(
                    [
                        "2024-03-01T10:00:00Z",
                        "2024-03-01T10:00:00.123456789Z",
                        "2024-13-01T00:00:00Z",
                        "2024-03-01 10:00:00",
                        "2024-03-01",
                        "",
                        "now",
                        "2024-03-01T10:00:00+01:00",
                    ]
                )
            )
        return value[: draw(st.integers(0, len(value)))] + draw(CSVISH) + value[draw(st.integers(0, len(value))) :]
    return value


@st.composite
def mutated_files(draw: Any) -> tuple[str, bytes]:
    key = draw(st.sampled_from(sorted(SAMPLE_LINES)))
    lines = draw(st.lists(st.sampled_from(SAMPLE_LINES[key]), min_size=1, max_size=6))
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        out.append(json.dumps(mutate_strings(record, draw)).encode())
    return key, b"\n".join(out)


@st.composite
def byte_mutations(draw: Any) -> tuple[str, bytes]:
    key = draw(st.sampled_from(sorted(SAMPLE_LINES)))
    data = bytearray(b"\n".join(draw(st.lists(st.sampled_from(SAMPLE_LINES[key]), min_size=1, max_size=4))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            del data[position : position + draw(st.integers(1, 8))]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=6))
    return key, bytes(data)


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    # Given any bytes; When decoded; Then nothing raises and every record is accounted for, except that bytes
    # starting like gzip and not being gzip make the file unreadable (CaptureReadError: retried, then the DLQ)
    if data.startswith(GZIP_MAGIC):
        with contextlib.suppress(CaptureReadError):
            decode_capture_bytes(data, CONFIGS["binary"], "fuzz")
        return
    for config in CONFIGS.values():
        check_accounting(decode_capture_bytes(data, config, "fuzz"), data, capture_schema(config))
    config = CONFIGS["binary"]
    check_accounting(decode_ground_truth_bytes(data, config, "fuzz"), data, ground_truth_schema(config))


@FUZZ
@given(byte_mutations())
# A mutation that leaves a UTF-8 BOM in front (drawn once on CI): the reader removes it before decoding.
@example(("binary", UTF8_BOM + SAMPLE_LINES["binary"][0]))
def test_byte_mutations_of_valid_records_never_raise(case: tuple[str, bytes]) -> None:
    key, data = case
    config = CONFIGS[key]
    if data.startswith(GZIP_MAGIC):  # unreadable as a whole, see test_arbitrary_bytes_never_raise
        return
    check_accounting(decode_capture_bytes(data, config, "fuzz"), data, capture_schema(config))
    check_accounting(decode_ground_truth_bytes(data, config, "fuzz"), data, ground_truth_schema(config))
    fast, slow = decode_both_ways(config, data)
    assert fast.quarantined == slow.quarantined
    assert fast.rows.equals(slow.rows)
    check_never_lost(config, fast, data)


@FUZZ
@given(mutated_files())
def test_value_mutations_decode_the_same_on_both_paths(case: tuple[str, bytes]) -> None:
    # Given valid records whose string fields were mutated (still strings)
    key, data = case
    config = CONFIGS[key]
    # When decoded by the vectorised path and by the per-record path
    fast, slow = decode_both_ways(config, data)
    # Then both account for every record and agree exactly
    check_accounting(fast, data, capture_schema(config))
    check_never_lost(config, fast, data)
    assert fast.quarantined == slow.quarantined
    assert fast.rows.equals(slow.rows)
    assert fast.rows_without_prediction == slow.rows_without_prediction


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_regressions(path: Any) -> None:
    # Given an input that once broke the decoder
    key = path.name.split("__")[0]
    config = CONFIGS[key]
    data = path.read_bytes()
    # When decoded both ways, Then nothing raises, every record is accounted for and the paths agree
    check_accounting(decode_capture_bytes(data, config, "corpus"), data, capture_schema(config))
    fast, slow = decode_both_ways(config, data)
    assert fast.quarantined == slow.quarantined
    assert fast.rows.equals(slow.rows)
    check_never_lost(config, fast, data)
