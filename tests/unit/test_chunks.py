"""Period chunk boundaries are epoch-aligned in UTC; a chunk is complete once the clock passes end + lateness."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from modelwatch.chunks import ChunkWindow, chunk_start, complete_chunks

HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_chunk_start_floors_to_the_period_in_utc() -> None:
    assert chunk_start(datetime(2026, 3, 2, 10, 59, 59, 999999, tzinfo=UTC), HOUR) == T0
    assert chunk_start(T0, HOUR) == T0
    # a +02:00 time is floored in UTC, not in its own zone
    local = datetime(2026, 3, 2, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    assert chunk_start(local, HOUR) == T0
    assert chunk_start(datetime(2026, 3, 2, 10, 7, tzinfo=UTC), timedelta(minutes=15)) == T0
    assert chunk_start(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), timedelta(days=1)) == datetime(2026, 3, 2, tzinfo=UTC)
    # multi-hour periods are aligned to the epoch, not to the first row
    assert chunk_start(datetime(2026, 3, 2, 11, 0, tzinfo=UTC), timedelta(hours=2)) == T0


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from([timedelta(minutes=5), HOUR, timedelta(hours=6), timedelta(days=1)]),
)
def test_chunk_start_is_a_boundary_at_or_before_ts(ts: datetime, period: timedelta) -> None:
    start = chunk_start(ts, period)
    assert start <= ts < start + period
    assert chunk_start(start, period) == start


def test_complete_chunks_respects_lateness() -> None:
    lateness = timedelta(minutes=15)
    first, last = T0 + timedelta(minutes=5), T0 + timedelta(hours=2, minutes=10)
    # at 12:14 the 11:00 chunk (ends 12:00) is still within its 15 minutes of lateness
    assert complete_chunks(first, last, HOUR, T0 + timedelta(hours=2, minutes=14), lateness) == [
        ChunkWindow(T0, T0 + HOUR)
    ]
    assert complete_chunks(first, last, HOUR, T0 + timedelta(hours=2, minutes=15), lateness) == [
        ChunkWindow(T0, T0 + HOUR),
        ChunkWindow(T0 + HOUR, T0 + 2 * HOUR),
    ]
    assert len(complete_chunks(first, last, HOUR, T0 + timedelta(hours=3, minutes=15), lateness)) == 3
    assert complete_chunks(last, first, HOUR, T0 + timedelta(days=1), lateness) == []


def test_chunking_module_does_not_import_nannyml_or_pandas() -> None:
    code = "import sys, modelwatch.chunks; print('nannyml' in sys.modules, 'pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
