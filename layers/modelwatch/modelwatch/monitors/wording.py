"""Numbers, times and directions as people read them in reports, indexes and notifications (#20)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from modelwatch.clock import to_utc

SIDE_WORDS = {"lower": "below", "upper": "above"}


def number(value: float | None) -> str:
    """Three decimals for scores, fewer as values grow (0.913, 12.35, 847); `n/a` when there is no value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def numbers_apart(value: float, *others: float | None, most: int = 4) -> list[str]:
    """`value` and the numbers it is read against (its thresholds), rounded alike with `number`'s decimals, or more
    (up to `most`) when that rounding would show a value equal to a threshold it differs from (0.9406 < 0.9410, not
    0.941 < 0.941): a crossing never reads as a tie."""
    shown = [number(value), *(number(other) for other in others)]
    if not math.isfinite(value) or abs(value) >= 100:
        return shown
    decimals = 2 if abs(value) >= 1 else 3
    while decimals < most and any(
        other is not None and math.isfinite(other) and other != value and text == shown[0]
        for other, text in zip(others, shown[1:], strict=True)
    ):
        decimals += 1
        shown = [f"{value:.{decimals}f}"] + [
            text if other is None or not math.isfinite(other) else f"{other:.{decimals}f}"
            for other, text in zip(others, shown[1:], strict=True)
        ]
    return shown


def when(value: datetime, now: datetime | None = None) -> str:
    """`03:00` within a day of `now`, else `2026-01-05 03:00` (UTC); without `now`, always the full form."""
    value = to_utc(value)
    if now is not None and abs(to_utc(now) - value) < timedelta(hours=24):
        return f"{value:%H:%M}"
    return f"{value:%Y-%m-%d %H:%M}"


def band_words(side: str | None, count: int = 1) -> str:
    """`below its band`, `above their bands`: which side of the alert band values lie on."""
    where = SIDE_WORDS.get(side or "", "outside")
    return f"{where} its band" if count == 1 else f"{where} their bands"
