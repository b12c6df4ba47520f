"""Chunk windows: epoch-aligned period chunks on inference time, size chunks in ingestion order (no nannyml import)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelwatch.clock import to_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ChunkWindow:
    """One chunk's time window [start, end), timezone-aware UTC."""

    start: datetime
    end: datetime

    def contains(self, when: datetime) -> bool:
        when = to_utc(when)
        return self.start <= when < self.end


def _check_period(period: timedelta) -> None:
    if period <= timedelta(0):
        raise ValueError(f"chunk period must be positive, got {period}")


def chunk_start(ts: datetime, period: timedelta) -> datetime:
    """Floor `ts` to its period boundary, aligned to the Unix epoch in UTC (1h -> whole hours, 1d -> UTC days)."""
    _check_period(period)
    offset = to_utc(ts) - EPOCH
    return EPOCH + (offset // period) * period


def chunk_window(ts: datetime, period: timedelta) -> ChunkWindow:
    """The period chunk holding `ts`."""
    start = chunk_start(ts, period)
    return ChunkWindow(start, start + period)


def is_complete(window: ChunkWindow, now: datetime, lateness: timedelta) -> bool:
    """A period chunk [s, e) is complete once the clock passes e + lateness (late rows are still allowed in)."""
    return to_utc(now) >= window.end + lateness


def complete_chunks(
    first: datetime, last: datetime, period: timedelta, now: datetime, lateness: timedelta
) -> list[ChunkWindow]:
    """Every complete period chunk from the one holding `first` to the one holding `last`, in time order."""
    _check_period(period)
    first, last = to_utc(first), to_utc(last)
    if last < first:
        return []
    windows: list[ChunkWindow] = []
    start = chunk_start(first, period)
    final = chunk_start(last, period)
    while start <= final:
        window = ChunkWindow(start, start + period)
        if not is_complete(window, now, lateness):
            break
        windows.append(window)
        start = window.end
    return windows
