"""A nannyml Chunker that cuts exactly modelwatch's chunks (epoch-aligned periods or size chunks in ingestion order).

Imports nannyml at module level: import this module lazily. It is pickled with the fitted estimator.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from nannyml.chunk import Chunk, Chunker

from modelwatch.chunks import period_chunk_key, size_chunk_key
from modelwatch.monitors.frames import TIMESTAMP


class ModelwatchChunker(Chunker):
    """Period chunks [k*p, (k+1)*p) on the timestamp (p divides time from the Unix epoch, UTC), or size chunks.

    Size chunks split rows by position in the order given (ingestion order), numbered from `offset`: the caller
    hands over consecutive whole chunks of the stream and sets `offset` to the first one's number, so keys name
    the same rows run after run. Neither mode needs extra columns (drift methods split single-column frames).
    """

    def __init__(self, period_ns: int | None = None, size: int | None = None, timestamp: str = TIMESTAMP) -> None:
        if (period_ns is None) == (size is None):
            raise ValueError("ModelwatchChunker needs exactly one of period_ns or size")
        # No timestamp for the base class: it would re-sort rows with an unstable sort; rows come in ingestion order.
        super().__init__(None)
        self.period_ns = period_ns
        self.size = size
        self.timestamp = timestamp
        self.offset = 0

    def _split(self, data: pd.DataFrame) -> list[Any]:
        if self.period_ns is not None:
            ids = data[self.timestamp].astype("int64") // self.period_ns
        else:
            assert self.size is not None
            ids = pd.Series(self.offset + np.arange(len(data)) // self.size, index=data.index)
        chunks = []
        for chunk_id, group in data.groupby(ids, sort=True):
            number = int(chunk_id)
            if self.period_ns is not None:
                start = pd.Timestamp(number * self.period_ns)
                end = pd.Timestamp((number + 1) * self.period_ns - 1)  # inclusive end, as nannyml's Period chunks
                key = period_chunk_key(number, timedelta(microseconds=self.period_ns // 1000))
            else:
                assert self.size is not None
                has_time = self.timestamp in group.columns
                start = pd.Timestamp(group[self.timestamp].min()) if has_time else None
                end = pd.Timestamp(group[self.timestamp].max()) if has_time else None
                key = size_chunk_key(number, self.size, len(group))
            chunks.append(Chunk(key=key, data=group, start_datetime=start, end_datetime=end))
        return chunks
