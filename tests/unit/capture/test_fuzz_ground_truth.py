"""Fuzzing the ground-truth decoder: arbitrary bytes and mutated label records never raise, every record is decoded
or quarantined (never lost), both paths agree, and no reason repeats a label value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwatch.capture import decode_ground_truth_bytes, ground_truth_schema
from modelwatch.capture.decode import DecodedBatch
from modelwatch.capture.ground_truth import GroundTruthDecoder
from modelwatch.capture.records import GZIP_MAGIC, LineBatch
from modelwatch.config.model import ModelConfig
from tests.unit.capture.conftest import (
    CAR_PRICE_FEATURES,
    CREDIT_CARD_CLASSES,
    CREDIT_CARD_FEATURES,
    capture_bytes,
    make_config,
)
from tests.unit.capture.test_fuzz import check_accounting

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONFIGS: dict[str, ModelConfig] = {
    "binary": make_config(),
    "binary_named": make_config(classes=["rejected", "repaid"]),
    "binary_json_hint": make_config(ground_truth={"encoding_hint": "json"}),
    "multiclass": make_config(
        name="credit_card",
        problem_type="multiclass_classification",
        features=CREDIT_CARD_FEATURES,
        classes=CREDIT_CARD_CLASSES,
        output={"format": "csv", "columns": [f"y_pred_proba_{c}" for c in CREDIT_CARD_CLASSES]},
    ),
    "regression": make_config(
        name="car_price",
        problem_type="regression",
        features=CAR_PRICE_FEATURES,
        output={"format": "csv", "columns": ["y_pred"]},
    ),
}
SAMPLES = {
    "binary": ["ground_truth_binary.jsonl", "ground_truth_binary_bad.jsonl"],
    "binary_named": ["ground_truth_binary.jsonl"],
    "binary_json_hint": ["ground_truth_binary.jsonl"],
    "multiclass": ["ground_truth_multiclass.jsonl"],
    "regression": ["ground_truth_regression.jsonl"],
}
SAMPLE_LINES = {
    key: [line for name in names for line in capture_bytes(name).split(b"\n") if line.strip()]
    for key, names in SAMPLES.items()
}
LABEL_TEXTS = ["0", "1", "7", "-1", "1.0", "0.5", "NaN", "inf", "", " ", "1\n0", "1,0", '"1"', "repaid", "rejected"]
LABEL_TEXTS += ["[1, 0]", "[]", "{}", "true", "null", "MQ==", "MQ", "M Q = =", "1_0", "\ufeff1", *CREDIT_CARD_CLASSES]
LABELISH = st.one_of(
    st.sampled_from(LABEL_TEXTS), st.text(alphabet="0123456789.,-+eE\n\r\"' []{}abcNnaI_=", max_size=16)
)


def decode_both_ways(config: ModelConfig, data: bytes) -> tuple[DecodedBatch, DecodedBatch]:
    fast = GroundTruthDecoder(config, "fuzz", None).decode_batch(LineBatch(1, data))
    slow_decoder = GroundTruthDecoder(config, "fuzz", None)
    slow_decoder.force_slow = True
    return fast, slow_decoder.decode_batch(LineBatch(1, data))


def check_labels(config: ModelConfig, data: bytes) -> None:
    """Accounting on the whole file, agreement of the two paths, and no label value in any reason."""
    whole = decode_ground_truth_bytes(data, config, "fuzz")
    check_accounting(whole, data, ground_truth_schema(config))
    fast, slow = decode_both_ways(config, data)
    assert fast.quarantined == slow.quarantined
    assert fast.rows.equals(slow.rows)
    for q in whole.quarantined:
        assert q.reason.startswith(_KNOWN_REASONS), q.reason


# Every reason a label record may be quarantined with starts so; none goes on to quote the label.
_KNOWN_REASONS = (
    "line is not valid UTF-8",
    "invalid JSON",
    "record is a JSON",
    "missing ",
    "eventMetadata",
    "groundTruthData",
    "unknown encoding",
    "invalid base64 in groundTruthData.data: ",
    "invalid CSV in groundTruthData.data",
    "wrong column count: groundTruthData.data line",
    "empty label in groundTruthData.data label",
    "non-numeric label in groundTruthData.data label",
    "non-finite label in groundTruthData.data label",
    "label outside the model's classes in groundTruthData.data label",
)


def mutate(value: Any, draw: Any) -> Any:
    """Replace some string values with label-like text, drop some keys, swap some encodings."""
    if isinstance(value, dict):
        return {k: mutate(v, draw) for k, v in value.items() if draw(st.integers(0, 30)) != 0}
    if isinstance(value, str) and draw(st.integers(0, 3)) == 0:
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return draw(LABELISH)
        if choice == 1:
            return draw(st.sampled_from(["CSV", "JSON", "BASE64", "csv", "XML", ""]))
        return value + draw(LABELISH)
    return value


@st.composite
def mutated_files(draw: Any) -> tuple[str, bytes]:
    key = draw(st.sampled_from(sorted(SAMPLE_LINES)))
    lines = draw(st.lists(st.sampled_from(SAMPLE_LINES[key]), min_size=1, max_size=6))
    return key, b"\n".join(json.dumps(mutate(json.loads(line), draw)).encode() for line in lines)


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
@given(st.binary(max_size=400).filter(lambda data: not data.startswith(GZIP_MAGIC)))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    # Given any bytes (but a gzip header, see the capture fuzz test); When decoded; Then all is accounted for
    for config in CONFIGS.values():
        check_labels(config, data)


@FUZZ
@given(byte_mutations())
def test_byte_mutations_of_label_records(case: tuple[str, bytes]) -> None:
    key, data = case
    if not data.startswith(GZIP_MAGIC):  # unreadable as a whole, see the capture fuzz test
        check_labels(CONFIGS[key], data)


@FUZZ
@given(mutated_files())
def test_value_mutations_of_label_records(case: tuple[str, bytes]) -> None:
    # Given label records whose values, encodings and keys were mutated
    key, data = case
    # When decoded both ways, Then both agree, every record is decoded or quarantined, no reason quotes a label
    check_labels(CONFIGS[key], data)
