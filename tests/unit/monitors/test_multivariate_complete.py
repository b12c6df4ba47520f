"""Multivariate drift of rows without missing values (the imputers are skipped where they would change nothing)
equals nannyml's, as rows with missing values do (tests/unit/monitors/test_multivariate.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from modelwatch.chunks import period_chunk_key
from modelwatch.monitors.base import AnalysisData, ChunkInfo
from modelwatch.monitors.drift import KIND_MULTIVARIATE, METRIC_RECONSTRUCTION, multivariate_block
from modelwatch.monitors.frames import CHUNK, TIMESTAMP
from modelwatch.monitors.nml_chunker import ModelwatchChunker
from modelwatch.monitors.results import VALUE_FIELDS
from modelwatch.monitors.univariate import nml_blocks

from .test_multivariate import FEATURES, HOUR, START, _rows


@pytest.mark.parametrize("missing", ["none", "categorical only", "continuous only"])
def test_rows_without_missing_values_equal_nannyml(missing: str) -> None:
    import nannyml as nml

    # Given a calculator fitted on a reference with missing values, and analysis hours with none (or in one group)
    rng = np.random.default_rng(31)
    reference = pd.concat([_rows(rng, 200, START - (12 - h) * HOUR) for h in range(12)], ignore_index=True)
    frame = pd.concat([_rows(rng, 300, START + h * HOUR, shift=h / 2) for h in range(3)], ignore_index=True)
    frame["y"] = frame["y"].fillna(0.1) if missing != "continuous only" else frame["y"]
    frame["colour"] = frame["colour"].fillna("red") if missing != "categorical only" else frame["colour"]
    period_ns = int(HOUR.total_seconds() * 1e9)
    frame[CHUNK] = frame[TIMESTAMP].astype("int64") // period_ns
    chunks = []
    for number, rows in frame.groupby(CHUNK):
        begin = datetime.fromtimestamp(int(number) * 3_600, tz=UTC)
        chunks.append(ChunkInfo(period_chunk_key(int(number), HOUR), int(number), begin, begin + HOUR, len(rows)))
    calculator = nml.DataReconstructionDriftCalculator(
        column_names=FEATURES, timestamp_column_name=TIMESTAMP, chunker=ModelwatchChunker(period_ns=period_ns)
    ).fit(reference)

    # When both compute the chunks
    ours = multivariate_block(calculator, AnalysisData(frame, chunks), FEATURES)
    (direct,) = nml_blocks(
        calculator.calculate(frame[[*FEATURES, TIMESTAMP]]),
        [((METRIC_RECONSTRUCTION,), METRIC_RECONSTRUCTION, None)],
        KIND_MULTIVARIATE,
    )

    # Then every field and alert is nannyml's
    assert ours["chunk_key"].tolist() == direct["chunk_key"].tolist()
    for field in VALUE_FIELDS:
        np.testing.assert_allclose(
            ours[field].to_numpy(dtype=float), direct[field].to_numpy(dtype=float), rtol=0, atol=1e-12, equal_nan=True
        )
    assert ours["alert"].tolist() == direct["alert"].tolist()
