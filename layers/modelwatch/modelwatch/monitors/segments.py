"""Segments: a monitor that can be split (`Monitor.segmentable`: performance, drift) also analyses the rows of each
value of a segment column apart (`segments: [{column: clinic, top: 5}]`).

A column's segments are its `top` values by volume in the reference (ties by value), and `other` for every other
value (missing ones included); each is fitted on the reference rows of that segment, cached like the whole model's
baseline, and analysed on the captured rows of that segment with the same chunks. Their result rows carry the
segment as JSON in the `segment` column (`{"clinic":"east"}`), their datapoints a `Segment` dimension
(`clinic=east`). A segment whose reference rows or captured rows the monitor cannot use is skipped with the reason;
it never fails the model's run. Segment alerts are in the results, the report's "who is hurt" table and their metric
(alarm on it where wanted); the model's incident and its alarm follow the whole model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from modelwatch.config.model import ModelConfig
from modelwatch.constants import DIM_SEGMENT
from modelwatch.monitors.base import AnalysisData, MetricPoint, Publication
from modelwatch.monitors.direction import excess, worse_side
from modelwatch.monitors.frames import CHUNK, TARGET
from modelwatch.monitors.results import ResultRow

if TYPE_CHECKING:
    import pandas as pd

OTHER = "other"


@dataclass(frozen=True)
class SegmentSlice:
    """One segment: its column, value (OTHER for the rest) and the column's top values (to tell the rest)."""

    column: str
    value: str
    top: tuple[str, ...]

    @property
    def label(self) -> str:
        """The `segment` of its result rows: `{"clinic":"east"}`."""
        return segment_label(self.column, self.value)

    def mask(self, frame: pd.DataFrame) -> Any:
        """Which rows of `frame` are in the segment (values compared as text)."""
        text = frame[self.column].astype("string")
        if self.value == OTHER:
            return ~text.isin(list(self.top)).fillna(False).to_numpy(dtype=bool)
        return (text == self.value).fillna(False).to_numpy(dtype=bool)


def segment_label(column: str, value: str) -> str:
    return json.dumps({column: value}, separators=(",", ":"), sort_keys=True)


def segment_dimension(label: str) -> str:
    """The Segment dimension's value of a segment label: `clinic=east`."""
    ((column, value),) = json.loads(label).items()
    return f"{column}={value}"


def slices(config: ModelConfig, reference: pd.DataFrame) -> list[SegmentSlice]:
    """Every segment of the config's segment columns, from the raw reference (its top values by volume)."""
    found: list[SegmentSlice] = []
    for segment in config.segments:
        if segment.column not in reference.columns:
            continue  # the reference check names the missing column
        counts = reference[segment.column].dropna().astype("string").value_counts()
        ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
        top = tuple(str(value) for value, _ in ranked[: segment.top] if str(value) != OTHER)
        found += [SegmentSlice(segment.column, value, top) for value in top]
        if len(ranked) > len(top) or reference[segment.column].isna().any():
            found.append(SegmentSlice(segment.column, OTHER, top))
    return found


def segment_data(data: AnalysisData, part: SegmentSlice) -> AnalysisData:
    """The chunks' rows of one segment, each chunk with the segment's row counts (chunks it has no row of left
    out)."""
    import numpy as np

    frame = data.frame.loc[part.mask(data.frame)]
    numbers = frame[CHUNK].to_numpy()
    labelled = frame[TARGET].notna().to_numpy() if TARGET in frame.columns else np.zeros(len(frame), dtype=bool)
    chunks = []
    for chunk in data.chunks:
        rows = numbers == chunk.number
        count = int(rows.sum())
        if count:
            chunks.append(replace(chunk, rows=count, labelled_rows=int(labelled[rows].sum())))
    return AnalysisData(frame, chunks)


def with_segment(point: MetricPoint, label: str) -> MetricPoint:
    """A segment's datapoint: the Segment dimension added, its ledger series apart from the whole model's."""
    return replace(
        point,
        dimensions=(*point.dimensions, (DIM_SEGMENT, segment_dimension(label))),
        series=f"{point.series}|{segment_dimension(label)}",
    )


def segment_publication(publication: Publication, label: str) -> Publication:
    """A monitor's publication of one segment's rows: its points with the Segment dimension; its alerts are kept in
    the results and the report, not in the model's incidents (see the module doc)."""
    return Publication(points=[with_segment(p, label) for p in publication.points])


def who_is_hurt(rows: list[ResultRow]) -> list[dict[str, Any]]:
    """The latest chunk's segments in alert on a performance metric, furthest beyond their threshold first: segment,
    metric, kind, value, threshold side, by how much."""
    performance = [r for r in rows if r.monitor == "performance" and r.segment and r.value is not None]
    if not performance:
        return []
    latest = max(r.chunk_start for r in performance)
    hurt = []
    for row in performance:
        if row.chunk_start != latest or not row.alert:
            continue
        beyond = excess(row.metric, row.value, row.lower_threshold, row.upper_threshold)
        side = worse_side(row.metric)
        threshold = row.lower_threshold if side == "lower" else row.upper_threshold
        hurt.append(
            {
                "segment": segment_dimension(row.segment or "{}"),
                "metric": row.metric,
                "kind": row.kind,
                "chunk_start": row.chunk_start,
                "value": row.value,
                "threshold": threshold,
                "beyond": beyond,
            }
        )
    return sorted(hurt, key=lambda h: (-h["beyond"], h["segment"], h["metric"], h["kind"]))
