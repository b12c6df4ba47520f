"""nannyml's data-quality calculators computed for every chunk and column at once equal nannyml's own, chunk by chunk:
missing, unseen and out-of-range values rates with their sampling errors, bounds, thresholds and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from modelwatch.chunks import period_chunk_key
from modelwatch.monitors.base import AnalysisData, ChunkInfo
from modelwatch.monitors.data_quality import KIND_NANNYML, nannyml_rates_block
from modelwatch.monitors.frames import CHUNK, TIMESTAMP
from modelwatch.monitors.nml_chunker import ModelwatchChunker
from modelwatch.monitors.results import VALUE_FIELDS
from modelwatch.monitors.univariate import nml_blocks

HOUR = timedelta(hours=1)
START = datetime(2026, 1, 5, tzinfo=UTC)
PERIOD_NS = 3_600 * 10**9


def _rows(rng: np.random.Generator, rows: int, start: datetime) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x": rng.normal(0.0, 1.0, rows),
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
            TIMESTAMP: pd.Timestamp(start.replace(tzinfo=None)) + pd.to_timedelta(np.arange(rows) * 3_600 // rows, "s"),
        }
    )
    frame.loc[rng.random(rows) < 0.03, "x"] = np.nan
    frame.loc[rng.random(rows) < 0.03, "colour"] = None
    return frame


@pytest.fixture(scope="module")
def hours() -> tuple[pd.DataFrame, AnalysisData]:
    rng = np.random.default_rng(21)
    reference = pd.concat([_rows(rng, 150, START - (10 - h) * HOUR) for h in range(10)], ignore_index=True)
    faulty = [_rows(rng, 150, START + h * HOUR) for h in range(4)]
    faulty[1].loc[:60, "x"] = np.nan  # many missing values
    faulty[2].loc[:15, "colour"] = "purple"  # an unseen category
    faulty[3].loc[:30, "x"] = 50.0  # out of the reference's range
    frame = pd.concat(faulty, ignore_index=True)
    frame[CHUNK] = frame[TIMESTAMP].astype("int64") // PERIOD_NS
    chunks = []
    for number, rows in frame.groupby(CHUNK):
        begin = datetime.fromtimestamp(int(number) * 3_600, tz=UTC)
        chunks.append(ChunkInfo(period_chunk_key(int(number), HOUR), int(number), begin, begin + HOUR, len(rows)))
    return reference, AnalysisData(frame, chunks)


@pytest.mark.parametrize(
    ("metric", "calculator", "columns", "alerting"),
    [
        ("missing_values_rate", "MissingValuesCalculator", ["x", "colour"], (1, "x")),
        ("unseen_values_rate", "UnseenValuesCalculator", ["colour"], (2, "colour")),
        ("numerical_range_rate", "NumericalRangeCalculator", ["x"], (3, "x")),
    ],
)
def test_every_chunk_at_once_equals_nannyml(hours, metric: str, calculator: str, columns: list[str], alerting) -> None:  # type: ignore[no-untyped-def]
    import nannyml as nml

    # Given a nannyml calculator fitted on reference hours
    reference, data = hours
    fitted = getattr(nml, calculator)(
        column_names=columns, timestamp_column_name=TIMESTAMP, chunker=ModelwatchChunker(period_ns=PERIOD_NS)
    ).fit(reference)

    # When both compute the analysis hours
    ours = nannyml_rates_block(metric, fitted, data)
    direct = pd.concat(
        nml_blocks(
            fitted.calculate(data.frame[[*columns, TIMESTAMP]]), [((c,), metric, c) for c in columns], KIND_NANNYML
        ),
        ignore_index=True,
    )

    # Then every field and alert is nannyml's, and the injected fault alerts
    assert ours["chunk_key"].tolist() == direct["chunk_key"].tolist()
    assert ours["feature"].tolist() == direct["feature"].tolist()
    for field in VALUE_FIELDS:
        np.testing.assert_allclose(
            ours[field].to_numpy(dtype=float), direct[field].to_numpy(dtype=float), rtol=0, atol=1e-12, equal_nan=True
        )
    assert ours["alert"].tolist() == direct["alert"].tolist()
    hour, column = alerting
    assert ours.loc[(ours["chunk_key"] == data.chunks[hour].key) & (ours["feature"] == column), "alert"].item()
