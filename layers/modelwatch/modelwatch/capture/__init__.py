"""Capture decoding: SageMaker data-capture and ground-truth JSONL into typed rows."""

from __future__ import annotations

from modelwatch.capture.decode import (
    DecodedBatch,
    QuarantinedRecord,
    capture_schema,
    decode_capture_bytes,
    iter_decode_capture,
)
from modelwatch.capture.ground_truth import (
    COL_SOURCE_LINE,
    decode_ground_truth_bytes,
    ground_truth_schema,
    iter_decode_ground_truth,
)
from modelwatch.jsonpath import JsonPath, JsonPathError, compile_path

__all__ = [
    "COL_SOURCE_LINE",
    "DecodedBatch",
    "JsonPath",
    "JsonPathError",
    "QuarantinedRecord",
    "capture_schema",
    "compile_path",
    "decode_capture_bytes",
    "decode_ground_truth_bytes",
    "ground_truth_schema",
    "iter_decode_capture",
    "iter_decode_ground_truth",
]
