"""Segments: top values by reference volume and `other`, each segment's chunks, its datapoints, who is hurt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from modelwatch.config import load_model_config_text
from modelwatch.monitors.base import AnalysisData, ChunkInfo
from modelwatch.monitors.frames import CHUNK, TARGET
from modelwatch.monitors.results import ResultRow
from modelwatch.monitors.segments import OTHER, segment_data, segment_label, slices, who_is_hurt
from modelwatch.publishing.datapoints import candidates

CONFIG = """
name: m
endpoint: ep
problem_type: binary_classification
features: [{name: x}, {name: clinic, type: categorical}]
output: {format: csv, columns: [y_pred_proba]}
segments: [{column: clinic, top: 2}]
"""
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_top_values_by_reference_volume_then_other_with_the_missing() -> None:
    config = load_model_config_text(CONFIG, "m.yaml")
    reference = pd.DataFrame({"clinic": ["b", "a", "a", "b", "c", None, "d"]})  # a and b tie: by value
    found = slices(config, reference)
    assert [(s.column, s.value) for s in found] == [("clinic", "a"), ("clinic", "b"), ("clinic", OTHER)]
    other = found[-1]
    assert other.mask(reference).tolist() == [False, False, False, False, True, True, True]
    assert found[0].label == '{"clinic":"a"}' == segment_label("clinic", "a")
    # No other when the top values are every value
    assert [s.value for s in slices(config, pd.DataFrame({"clinic": ["a", "b"]}))] == ["a", "b"]


def test_a_segment_s_chunks_count_its_own_rows_and_labels() -> None:
    config = load_model_config_text(CONFIG, "m.yaml")
    frame = pd.DataFrame(
        {"clinic": ["a", "b", "a", "a", "b"], CHUNK: [0, 0, 1, 1, 2], TARGET: [1.0, np.nan, np.nan, 0.0, 1.0]}
    )
    chunks = [ChunkInfo(f"c{i}", i, T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1), 9, 9) for i in range(3)]
    part = slices(config, frame)[0]
    data = segment_data(AnalysisData(frame, chunks), part)
    assert part.value == "a" and len(data.frame) == 3
    assert [(c.key, c.rows, c.labelled_rows) for c in data.chunks] == [("c0", 1, 1), ("c1", 2, 1)]


def _row(segment: str | None, value: float, alert: bool, hour: int = 0) -> ResultRow:
    start = T0 + timedelta(hours=hour)
    return ResultRow(
        "performance", "roc_auc", "estimated", start, start + timedelta(hours=1), value, value - 0.01, value + 0.01,
        0.8, None, alert, None, 100, segment=segment,
    )  # fmt: skip


def test_who_is_hurt_ranks_the_latest_chunk_s_segments_by_how_far_below_threshold() -> None:
    rows = [
        _row(None, 0.7, True, 1),  # the whole model: not a segment
        _row('{"clinic":"a"}', 0.75, True, 1),
        _row('{"clinic":"b"}', 0.60, True, 1),
        _row('{"clinic":"c"}', 0.90, False, 1),
        _row('{"clinic":"c"}', 0.10, True, 0),  # an earlier chunk
    ]
    hurt = who_is_hurt(rows)
    assert [(h["segment"], round(h["beyond"], 6)) for h in hurt] == [("clinic=b", 0.2), ("clinic=a", 0.05)]
    assert hurt[0]["threshold"] == 0.8


def test_segment_datapoints_carry_the_segment_and_open_no_incident() -> None:
    config = load_model_config_text(CONFIG, "m.yaml")
    rows = [_row(None, 0.9, False), _row('{"clinic":"a"}', 0.7, True)]
    found = candidates(config, rows, {})
    estimated = [p for p in found.points if dict(p.dimensions).get("Kind") == "estimated"]
    assert sorted(dict(p.dimensions).get("Segment", "-") for p in estimated) == ["-", "clinic=a"]
    keys = {p.ledger_key for p in found.points}
    assert len(keys) == len(found.points)  # the segment's series is its own in the ledger
    assert found.alerts == []  # the segment's alert is in the results and the report, not an incident
