"""EventBridge schedule expressions (`rate(...)`, `cron(...)`, `at(...)`) evaluated on the simulated clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from modelwatch.clock import to_utc
from modelwatch.errors import ConfigError

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """Values a cron field allows (None = any)."""
    if text in ("*", "?"):
        return None
    allowed: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = _value(a, names), _value(b, names)
        else:
            first = _value(part, names)
            last = high if "/" in text else first
        allowed.update(range(first, last + 1, step))
    return allowed


def _value(text: str, names: dict[str, int] | None) -> int:
    text = text.strip().upper()
    if names and text in names:
        return names[text]
    return int(text)


class Schedule:
    """One schedule expression; `due(after, until)` lists the fire times in (after, until]."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self._interval: timedelta | None = None
        self._at: datetime | None = None
        self._cron: list[set[int] | None] = []
        rate = _RATE.match(self.expression)
        if rate:
            unit = rate.group(2).rstrip("s")
            self._interval = timedelta(seconds=int(rate.group(1)) * _UNITS[unit])
        elif self.expression.startswith("cron(") and self.expression.endswith(")"):
            fields = self.expression[5:-1].split()
            if len(fields) != 6:
                raise ConfigError(f"schedule {expression!r}: cron needs 6 fields")
            minute, hour, dom, month, dow, year = fields
            self._cron = [
                _field(minute, 0, 59),
                _field(hour, 0, 23),
                _field(dom, 1, 31),
                _field(month, 1, 12, _MONTHS),
                _field(dow, 1, 7, _DAYS),
                _field(year, 1970, 2199),
            ]
        elif self.expression.startswith("at(") and self.expression.endswith(")"):
            self._at = to_utc(datetime.fromisoformat(self.expression[3:-1]))
        else:
            raise ConfigError(f"schedule {expression!r} is not a rate(), cron() or at() expression")

    @property
    def interval(self) -> timedelta | None:
        """A rate expression's interval (None for cron and at)."""
        return self._interval

    def due(self, after: datetime, until: datetime) -> list[datetime]:
        """Fire times t with after < t <= until (rates are aligned to the epoch, like a minute-aligned schedule)."""
        after, until = to_utc(after), to_utc(until)
        if until <= after:
            return []
        if self._at is not None:
            return [self._at] if after < self._at <= until else []
        if self._interval is not None:
            step = int(self._interval.total_seconds())
            first = (int(after.timestamp()) // step + 1) * step
            return [datetime.fromtimestamp(t, tz=UTC) for t in range(first, int(until.timestamp()) + 1, step)]
        return self._cron_due(after, until)

    def _cron_due(self, after: datetime, until: datetime) -> list[datetime]:
        minute, hour, dom, month, dow, year = self._cron
        fires: list[datetime] = []
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while t <= until:
            cron_dow = (t.isoweekday() % 7) + 1  # cron: SUN=1 .. SAT=7
            if (
                (month is None or t.month in month)
                and (year is None or t.year in year)
                and (dom is None or t.day in dom)
                and (dow is None or cron_dow in dow)
            ):
                if hour is None or t.hour in hour:
                    if minute is None or t.minute in minute:
                        fires.append(t)
                    t += timedelta(minutes=1)
                else:
                    t = (t + timedelta(hours=1)).replace(minute=0)
            else:
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
        return fires
