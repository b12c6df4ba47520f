"""Multivariate drift computed for every chunk at once equals nannyml's DataReconstructionDriftCalculator run chunk by
chunk: values, sampling errors, bounds, thresholds and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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

FEATURES = ["x", "y", "colour"]
HOUR = timedelta(hours=1)
START = datetime(2026, 1, 5, tzinfo=UTC)
PERIOD_NS = int(HOUR.total_seconds() * 1e9)


def _rows(rng: np.random.Generator, rows: int, start: datetime, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, rows)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": 0.8 * x + rng.normal(0.0, 0.3, rows),
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
            TIMESTAMP: pd.Timestamp(start.replace(tzinfo=None)) + pd.to_timedelta(np.arange(rows) * 3_600 // rows, "s"),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "y"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "colour"] = None
    return frame


def hourly_chunks(frame: pd.DataFrame) -> list[ChunkInfo]:
    """The frame's rows numbered by hour (CHUNK, in place) and its hourly chunks as the analysis keys them."""
    frame[CHUNK] = frame[TIMESTAMP].astype("int64") // PERIOD_NS
    chunks = []
    for number, rows in frame.groupby(CHUNK):
        begin = datetime.fromtimestamp(int(number) * 3_600, tz=UTC)
        chunks.append(ChunkInfo(period_chunk_key(int(number), HOUR), int(number), begin, begin + HOUR, len(rows)))
    return chunks


def hourly_calculator(reference: pd.DataFrame) -> Any:
    """nannyml's DataReconstructionDriftCalculator fitted on the reference, in hourly chunks."""
    import nannyml as nml

    return nml.DataReconstructionDriftCalculator(
        column_names=FEATURES, timestamp_column_name=TIMESTAMP, chunker=ModelwatchChunker(period_ns=PERIOD_NS)
    ).fit(reference)


def ours_and_nannyml(calculator: Any, frame: pd.DataFrame, chunks: list[ChunkInfo]) -> tuple[Any, Any]:
    """The chunks' multivariate rows as the drift monitor computes them, and nannyml's calculate of the same rows."""
    ours = multivariate_block(calculator, AnalysisData(frame, chunks), FEATURES)
    (direct,) = nml_blocks(
        calculator.calculate(frame[[*FEATURES, TIMESTAMP]]),
        [((METRIC_RECONSTRUCTION,), METRIC_RECONSTRUCTION, None)],
        KIND_MULTIVARIATE,
    )
    return ours, direct


def assert_equal_to_nannyml(ours: Any, direct: Any) -> None:
    """Same chunks, every value field within 1e-12 (NaN where nannyml's is), the same alerts."""
    assert ours["chunk_key"].tolist() == direct["chunk_key"].tolist()
    for field in VALUE_FIELDS:
        np.testing.assert_allclose(
            ours[field].to_numpy(dtype=float), direct[field].to_numpy(dtype=float), rtol=0, atol=1e-12, equal_nan=True
        )
    assert ours["alert"].tolist() == direct["alert"].tolist()


@pytest.mark.parametrize("block_rows", [None, 7, 250])
def test_every_chunk_at_once_equals_nannyml_chunk_by_chunk(block_rows: int | None, monkeypatch) -> None:
    if block_rows is not None:  # rows transformed a block at a time, blocks across chunks (the default: one block)
        monkeypatch.setattr("modelwatch.monitors.drift.MULTIVARIATE_BLOCK_ROWS", block_rows)

    # Given a calculator fitted on 12 reference hours, and analysis hours: clean, shifted (broken correlation), one
    # with an unseen category, and a chunk of a single row (nannyml's standard deviation is NaN there)
    rng = np.random.default_rng(5)
    reference = pd.concat([_rows(rng, 200, START - (12 - h) * HOUR) for h in range(12)], ignore_index=True)
    hours = [_rows(rng, 200, START), _rows(rng, 200, START + HOUR, shift=2.0), _rows(rng, 200, START + 2 * HOUR)]
    hours[2].loc[:20, "colour"] = "purple"
    hours[1]["y"] = rng.normal(0.0, 1.0, 200)
    hours.append(_rows(rng, 1, START + 3 * HOUR))
    frame = pd.concat(hours, ignore_index=True)
    chunks = hourly_chunks(frame)
    calculator = hourly_calculator(reference)

    # When both compute the chunks
    ours, direct = ours_and_nannyml(calculator, frame, chunks)

    # Then every field and alert is nannyml's (the shifted hour alerts, the single row has no sampling error)
    assert_equal_to_nannyml(ours, direct)
    assert ours["chunk_key"].tolist() == [c.key for c in chunks]
    assert ours["alert"].tolist()[1] is True
    assert np.isnan(ours["sampling_error"].iloc[3])
    assert set(ours["metric"]) == {METRIC_RECONSTRUCTION} and set(ours["kind"]) == {KIND_MULTIVARIATE}
    assert ours["feature"].isna().all()


def test_size_chunks_number_as_the_analysis_does() -> None:
    import nannyml as nml

    # Given size chunks (numbered from the first analysed chunk, as the drift monitor sets nannyml's offset)
    rng = np.random.default_rng(8)
    reference = pd.concat([_rows(rng, 300, START - (8 - h) * HOUR) for h in range(8)], ignore_index=True)
    frame = pd.concat([_rows(rng, 300, START), _rows(rng, 150, START + HOUR, shift=1.5)], ignore_index=True)
    first, size = 40, 150
    frame[CHUNK] = first + np.arange(len(frame)) // size
    chunks = [
        ChunkInfo(f"size-{n}", int(n), START, START + HOUR, int((frame[CHUNK] == n).sum()))
        for n in sorted(frame[CHUNK].unique())
    ]
    chunker = ModelwatchChunker(size=size)
    calculator = nml.DataReconstructionDriftCalculator(
        column_names=FEATURES, timestamp_column_name=TIMESTAMP, chunker=chunker
    ).fit(reference)
    chunker.offset = first

    # When both compute them
    ours, direct = ours_and_nannyml(calculator, frame, chunks)

    # Then the values agree chunk for chunk
    np.testing.assert_allclose(ours["value"], direct["value"], rtol=0, atol=1e-12)
    assert ours["alert"].tolist() == direct["alert"].tolist()


def test_categories_encoded_on_their_distinct_values_equal_the_encoder_on_every_row() -> None:
    import nannyml as nml

    from modelwatch.monitors.drift import _encoded

    # Given nannyml's count encoder fitted on a reference with two categorical columns of different cardinalities
    rng = np.random.default_rng(11)
    reference = _rows(rng, 600, START - HOUR)
    reference["size"] = rng.choice(["s", "m", "l", "xl"], len(reference)).astype(object)
    features = [*FEATURES, "size"]
    calculator = nml.DataReconstructionDriftCalculator(
        column_names=features, timestamp_column_name=TIMESTAMP, chunk_size=100
    ).fit(reference)
    # and analysis rows with None and NaN, categories the reference never had, and a column with a single value
    frame = _rows(rng, 500, START)[FEATURES]
    frame["size"] = rng.choice(["s", "m", "xxl", None], len(frame)).astype(object)
    frame.loc[::7, "colour"] = np.nan
    frame.loc[::11, "colour"] = "purple"
    single = frame.head(1).copy()
    uniform = frame.copy()
    uniform["size"] = "m"

    for rows in (frame, single, uniform):
        # When the rows are encoded on their distinct values and by the encoder row by row
        ours = _encoded(calculator._encoder, rows.copy())
        direct = calculator._encoder.transform(rows.copy()).to_numpy()

        # Then every value is the same, bit for bit (NaN where the encoder leaves NaN)
        assert ours.dtype == direct.dtype and ours.shape == direct.shape
        np.testing.assert_array_equal(ours, direct)
