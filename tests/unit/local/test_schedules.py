"""Schedule expressions fire at the right simulated times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.errors import ConfigError
from modelwatch_cli.local.schedules import Schedule

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday


def test_rate_fires_on_aligned_boundaries_after_the_start() -> None:
    due = Schedule("rate(1 hour)").due(T0, T0 + timedelta(hours=3))
    assert due == [T0 + timedelta(hours=h) for h in (1, 2, 3)]
    assert Schedule("rate(15 minutes)").due(T0 + timedelta(minutes=1), T0 + timedelta(minutes=31)) == [
        T0 + timedelta(minutes=15),
        T0 + timedelta(minutes=30),
    ]


def test_cron_daily_and_weekday_fields() -> None:
    daily = Schedule("cron(30 2 * * ? *)").due(T0, T0 + timedelta(days=2))
    assert daily == [T0 + timedelta(hours=2, minutes=30), T0 + timedelta(days=1, hours=2, minutes=30)]
    weekdays = Schedule("cron(0 9 ? * MON-FRI *)").due(T0, T0 + timedelta(days=7))
    assert [d.isoweekday() for d in weekdays] == [1, 2, 3, 4, 5]
    every_ten = Schedule("cron(0/10 * * * ? *)").due(T0, T0 + timedelta(minutes=30))
    assert [d.minute for d in every_ten] == [10, 20, 30]


def test_at_and_bad_expressions() -> None:
    assert Schedule("at(2026-03-02T05:00:00)").due(T0, T0 + timedelta(days=1)) == [T0 + timedelta(hours=5)]
    with pytest.raises(ConfigError):
        Schedule("every hour")
