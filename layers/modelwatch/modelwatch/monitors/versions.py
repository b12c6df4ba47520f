"""Model versions: chunks never mix two versions of the model behind an endpoint (`versions:` in the model config).

A version is live from its `from` until the next version's (`ModelConfig.version_spans`). While more than one is
live (`ModelConfig.versioned`), each period chunk is split at a switch: the rows captured before it are a partial
chunk of the old version, the rest a partial chunk of the new one (the documented rule for a switch in the middle of
a chunk). Each part is analysed against its own version's reference, baseline and fitted estimators, keyed
`<chunk key>@<version>`, its window clipped to the version's span; a part with fewer rows than
`estimation.min_rows_per_chunk` is skipped with that reason like any small chunk. A version with no reference is
reported (its chunks skipped with the reason), never estimated against another version's reference. Result rows
carry the version; datapoints a `Version` dimension, except Model Monitor-compatible ones, whose dimensions are
Model Monitor's (a schedule outlives an endpoint update there too).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelwatch.chunks import chunk_number, period_chunk_key
from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig, VersionSpan
from modelwatch.constants import DIM_VERSION
from modelwatch.monitors.base import ChunkInfo, MetricPoint, Publication
from modelwatch.monitors.frames import CHUNK, TIMESTAMP

if TYPE_CHECKING:
    import pandas as pd

KEY_SEPARATOR = "@"


def version_key(chunk_key: str, version: str) -> str:
    """A versioned chunk's key: the period chunk's key and the version (`2026-01-05T01:00:00@v2`)."""
    return f"{chunk_key}{KEY_SEPARATOR}{version}"


def _overlap(span: VersionSpan, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    lower = start if span.start is None else max(start, span.start)
    upper = end if span.end is None else min(end, span.end)
    return (lower, upper) if lower < upper else None


def chunk_parts(
    config: ModelConfig, key: str, start: datetime, end: datetime
) -> list[tuple[str, VersionSpan, tuple[datetime, datetime]]]:
    """The keys a period chunk [start, end) is analysed under, with their versions and windows (the chunk's clipped
    to the version's span): itself for a config with one live version, else one per version live in it."""
    start, end = to_utc(start), to_utc(end)
    if not config.versioned:
        return [(key, VersionSpan("", None, None, None), (start, end))]
    parts = []
    for span in config.version_spans():
        window = _overlap(span, start, end)
        if window is not None:
            parts.append((version_key(key, span.name), span, window))
    return parts


def span_mask(span: VersionSpan, frame: pd.DataFrame) -> Any:
    """Which rows of a prepared frame (naive UTC `frames.TIMESTAMP`) were captured while `span` was live."""
    import numpy as np

    stamps = frame[TIMESTAMP].to_numpy(dtype="datetime64[ns]")
    mask = np.ones(len(frame), dtype=bool)
    if span.start is not None:
        mask &= stamps >= np.datetime64(span.start.replace(tzinfo=None), "ns")
    if span.end is not None:
        mask &= stamps < np.datetime64(span.end.replace(tzinfo=None), "ns")
    return mask


def split_chunks(config: ModelConfig, frame: pd.DataFrame, chunks: list[ChunkInfo]) -> list[ChunkInfo]:
    """The chunks of a prepared, chunked frame split at version switches: each part keyed by its version, its
    window clipped to the version's span and its rows counted (parts without rows left out). Unchanged for a config
    with one live version."""
    import numpy as np

    if not config.versioned:
        return chunks
    numbers = frame[CHUNK].to_numpy()
    parts: list[ChunkInfo] = []
    masks = {span.name: span_mask(span, frame) for span in config.version_spans()}
    for chunk in chunks:
        in_chunk = numbers == chunk.number
        for key, span, window in chunk_parts(config, chunk.key, chunk.start, chunk.end):
            rows = int(np.count_nonzero(in_chunk & masks[span.name]))
            if rows:
                parts.append(ChunkInfo(key, chunk.number, window[0], window[1], rows, 0, span.name))
    return parts


def version_parts(config: ModelConfig, start: datetime, period: timedelta) -> list[str]:
    """The keys of the period chunk starting at `start` (one per version live in it): what the reuse plan keys
    fingerprints by."""
    key = period_chunk_key(chunk_number(start, period), period)
    return [k for k, _, _ in chunk_parts(config, key, start, start + period)]


def with_version(point: MetricPoint, version: str) -> MetricPoint:
    """A version's datapoint: the Version dimension added (Model Monitor-compatible points keep Model Monitor's
    dimensions), its ledger series apart from the other versions'."""
    if point.namespace is not None:
        return point
    return replace(point, dimensions=(*point.dimensions, (DIM_VERSION, version)), series=f"{point.series}@{version}")


def version_publication(publication: Publication, version: str) -> Publication:
    """A monitor's publication of one version's rows: its points with the Version dimension, alerts unchanged (the
    model's incident follows whichever version is serving)."""
    return replace(
        publication,
        points=[with_version(p, version) for p in publication.points],
        gated=[replace(g, point=with_version(g.point, version)) for g in publication.gated],
    )
