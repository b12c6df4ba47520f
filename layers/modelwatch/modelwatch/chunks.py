"""The one chunk scheme: epoch-aligned period chunks on inference time, size chunks in ingestion order, and hours.

Every part of modelwatch that numbers, names or bounds a chunk uses these functions: the run planner, the reuse
fingerprints, the frames handed to nannyml and nannyml's chunker itself, and the state table's hour counters.
A period chunk `k` of period `p` is [EPOCH + k*p, EPOCH + (k+1)*p) in UTC; its key is its start, ISO-8601 naive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelwatch.clock import to_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOUR_FORMAT = "%Y-%m-%dT%H"  # an hour as the state table's sort keys write it
_NS_PER_MICROSECOND = 1000


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


def period_ns(period: timedelta) -> int:
    """A period in nanoseconds (what timestamp columns count in)."""
    _check_period(period)
    return period // timedelta(microseconds=1) * _NS_PER_MICROSECOND


def chunk_number(when: datetime, period: timedelta) -> int:
    """The period chunk number holding `when`: floor((when - EPOCH) / period)."""
    _check_period(period)
    return (to_utc(when) - EPOCH) // period


def number_start(number: int, period: timedelta) -> datetime:
    """The start of period chunk `number` (aware UTC)."""
    return EPOCH + number * period


def chunk_start(when: datetime, period: timedelta) -> datetime:
    """Floor `when` to its period boundary, aligned to the Unix epoch in UTC (1h -> whole hours, 1d -> UTC days)."""
    return number_start(chunk_number(when, period), period)


def chunk_window(when: datetime, period: timedelta) -> ChunkWindow:
    """The period chunk holding `when`."""
    start = chunk_start(when, period)
    return ChunkWindow(start, start + period)


def period_chunk_key(number: int, period: timedelta) -> str:
    """The key of period chunk `number`: its start, ISO-8601 without a zone (as nannyml shows naive UTC times)."""
    return number_start(number, period).replace(tzinfo=None).isoformat()


def size_chunk_key(number: int, size: int, rows: int) -> str:
    """The key of size chunk `number` holding `rows` rows, as nannyml names size chunks: `[first:last]` positions."""
    return f"[{number * size}:{number * size + rows - 1}]"


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


def starts_overlapping_hour(hour: datetime, period: timedelta) -> Iterator[datetime]:
    """Starts of the period chunks overlapping one hour (several when the period is shorter than an hour)."""
    start = chunk_start(hour, period)
    while start < hour + HOUR:
        yield start
        start += period


# ---------------------------------------------------------------- hours (the unit of the state table's counters)
def floor_hour(when: datetime) -> datetime:
    """The hour holding `when` (aware UTC)."""
    return to_utc(when).replace(minute=0, second=0, microsecond=0)


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every hour that starts in [floor_hour(start), end)."""
    hour = floor_hour(start)
    while hour < end:
        yield hour
        hour += HOUR


def format_hour(when: datetime) -> str:
    """`YYYY-MM-DDTHH` of the hour holding `when`."""
    return floor_hour(when).strftime(HOUR_FORMAT)


def hour_of(value: datetime | str) -> datetime:
    """An hour as aware UTC, from a datetime or the `YYYY-MM-DDTHH` text the state table stores."""
    if isinstance(value, datetime):
        return floor_hour(value)
    text = str(value).removeprefix("hour#").replace("Z", "")
    if len(text) == 13:  # YYYY-MM-DDTHH
        text += ":00"
    return floor_hour(datetime.fromisoformat(text))
