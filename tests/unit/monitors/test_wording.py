"""Numbers, times and directions for people (#20)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelwatch.monitors.wording import band_words, number, numbers_apart, when


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.912345678901234, "0.912"), (12.3456789, "12.35"), (847.123456, "847"), (-0.00012, "-0.000"), (None, "n/a")],
)
def test_numbers_are_rounded_by_magnitude(value: float | None, text: str) -> None:
    assert number(value) == text


def test_non_finite_numbers_are_not_available() -> None:
    assert number(float("nan")) == "n/a" and number(float("inf")) == "n/a"


def test_times_drop_the_date_within_a_day() -> None:
    moment = datetime(2026, 3, 2, 3, 0, 59, tzinfo=UTC)
    assert when(moment, datetime(2026, 3, 2, 9, tzinfo=UTC)) == "03:00"
    assert when(moment, datetime(2026, 3, 4, tzinfo=UTC)) == "2026-03-02 03:00"
    assert when(moment) == "2026-03-02 03:00"


def test_band_words_name_the_side_and_agree_in_number() -> None:
    assert band_words("lower") == "below its band"
    assert band_words("upper", 2) == "above their bands"
    assert band_words(None, 2) == "outside their bands"


@pytest.mark.parametrize(
    ("value", "thresholds", "texts"),
    [
        (0.94062, (0.94104, 0.978), ["0.9406", "0.9410", "0.9780"]),  # a crossing that rounds to a tie at 3 decimals
        (0.911, (0.932, None), ["0.911", "0.932", "n/a"]),  # apart already: the usual decimals
        (0.9410001, (0.9410002,), ["0.9410", "0.9410"]),  # at most four decimals (full precision in the results)
        (12.341, (12.344,), ["12.341", "12.344"]),
        (0.93, (0.93,), ["0.930", "0.930"]),  # equal values may read equal
    ],
)
def test_a_value_and_its_thresholds_never_read_as_a_tie_they_are_not(value, thresholds, texts) -> None:  # type: ignore[no-untyped-def]
    assert numbers_apart(value, *thresholds) == texts
