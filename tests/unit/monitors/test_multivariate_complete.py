"""Multivariate drift of rows without missing values (the imputers are skipped where they would change nothing)
equals nannyml's, as rows with missing values do (tests/unit/monitors/test_multivariate.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .test_multivariate import (
    HOUR,
    START,
    _rows,
    assert_equal_to_nannyml,
    hourly_calculator,
    hourly_chunks,
    ours_and_nannyml,
)


@pytest.mark.parametrize("missing", ["none", "categorical only", "continuous only"])
def test_rows_without_missing_values_equal_nannyml(missing: str) -> None:
    # Given a calculator fitted on a reference with missing values, and analysis hours with none (or in one group)
    rng = np.random.default_rng(31)
    reference = pd.concat([_rows(rng, 200, START - (12 - h) * HOUR) for h in range(12)], ignore_index=True)
    frame = pd.concat([_rows(rng, 300, START + h * HOUR, shift=h / 2) for h in range(3)], ignore_index=True)
    frame["y"] = frame["y"].fillna(0.1) if missing != "continuous only" else frame["y"]
    frame["colour"] = frame["colour"].fillna("red") if missing != "categorical only" else frame["colour"]
    chunks = hourly_chunks(frame)
    calculator = hourly_calculator(reference)

    # When both compute the chunks
    ours, direct = ours_and_nannyml(calculator, frame, chunks)

    # Then every field and alert is nannyml's
    assert_equal_to_nannyml(ours, direct)
