"""The one injectable clock: wall time on AWS, simulated time locally, end of input for `modelwatch run`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to (the local stack's clock)."""

    def __init__(self, start: datetime) -> None:
        self._now = to_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        self._now = to_utc(when)


def to_utc(value: datetime) -> datetime:
    """Make a datetime timezone-aware UTC (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_iso(value: str) -> datetime:
    """Parse ISO-8601 (with `Z`, with or without fractions) into aware UTC."""
    return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
