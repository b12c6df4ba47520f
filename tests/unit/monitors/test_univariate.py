"""Univariate drift computed for every chunk at once equals nannyml's UnivariateDriftCalculator run chunk by chunk:
values, thresholds and alerts, for Jensen-Shannon computed here and the methods left to nannyml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch.chunks import period_chunk_key, size_chunk_key
from modelwatch.monitors.base import AnalysisData, ChunkInfo
from modelwatch.monitors.frames import CHUNK, TIMESTAMP
from modelwatch.monitors.nml_chunker import ModelwatchChunker
from modelwatch.monitors.results import VALUE_FIELDS
from modelwatch.monitors.univariate import nml_blocks, univariate_blocks

CONTINUOUS = ["x", "count"]
CATEGORICAL = ["colour", "grade"]  # grade: an integer-coded category
FEATURES = [*CONTINUOUS, *CATEGORICAL]
HOUR = timedelta(hours=1)
PERIOD_NS = int(HOUR.total_seconds() * 1e9)
START = datetime(2026, 1, 5, tzinfo=UTC)
KIND = "univariate"


def _rows(rng: np.random.Generator, rows: int, start: datetime, shift: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, rows),
            "count": rng.poisson(3.0, rows).astype("int64"),
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
            "grade": rng.integers(1, 5, rows).astype("int64"),
            TIMESTAMP: pd.Timestamp(start.replace(tzinfo=None)) + pd.to_timedelta(np.arange(rows) * 3_600 // rows, "s"),
        }
    )
    return frame


def _reference(rng: np.random.Generator, hours: int = 12, rows: int = 200) -> pd.DataFrame:
    return pd.concat([_rows(rng, rows, START - (hours - h) * HOUR) for h in range(hours)], ignore_index=True)


def _analysis(rng: np.random.Generator) -> pd.DataFrame:
    """Hours: clean with missing values (NaN / None) in every column; shifted beyond the reference's range with
    unseen categories; one whose continuous and categorical columns are all missing; a single row."""
    clean = _rows(rng, 300, START)
    clean.loc[rng.random(300) < 0.1, "x"] = np.nan
    clean.loc[rng.random(300) < 0.1, "colour"] = None
    clean.loc[rng.random(300) < 0.1, "colour"] = np.nan
    clean["grade"] = clean["grade"].astype("float64")  # NaN makes the integer codes floats, as in a decoded capture
    clean.loc[rng.random(300) < 0.1, "grade"] = np.nan
    shifted = _rows(rng, 250, START + HOUR, shift=6.0)  # most of x beyond the reference's last bin edge
    shifted.loc[:40, "x"] = -50.0  # below the first edge too
    shifted.loc[:60, "colour"] = "purple"
    shifted.loc[50:90, "grade"] = 9
    shifted.loc[:30, "count"] = 40
    empty = _rows(rng, 50, START + 2 * HOUR)
    empty["x"] = np.nan
    empty["colour"] = None
    single = _rows(rng, 1, START + 3 * HOUR)
    return pd.concat([clean, shifted, empty, single], ignore_index=True)


def _period_data(frame: pd.DataFrame) -> AnalysisData:
    frame = frame.copy()
    frame[CHUNK] = frame[TIMESTAMP].astype("int64") // PERIOD_NS
    chunks = []
    for number, rows in frame.groupby(CHUNK):
        begin = datetime.fromtimestamp(int(number) * 3_600, tz=UTC)
        chunks.append(ChunkInfo(period_chunk_key(int(number), HOUR), int(number), begin, begin + HOUR, len(rows)))
    return AnalysisData(frame, chunks)


def _calculator(chunker: ModelwatchChunker, continuous: list[str], categorical: list[str]) -> Any:
    import nannyml as nml

    return nml.UnivariateDriftCalculator(
        column_names=FEATURES,
        treat_as_categorical=CATEGORICAL,
        timestamp_column_name=TIMESTAMP,
        chunker=chunker,
        continuous_methods=continuous,
        categorical_methods=categorical,
    )


def _subjects(continuous: list[str], categorical: list[str]) -> list[tuple[tuple[str, ...], str, str | None]]:
    subjects: list[tuple[tuple[str, ...], str, str | None]] = []
    for column in FEATURES:
        methods = categorical if column in CATEGORICAL else continuous
        subjects.extend(((column, method), method, column) for method in methods)
    return subjects


def _direct(calculator: Any, data: AnalysisData, subjects: list[Any]) -> pd.DataFrame:
    result = calculator.calculate(data.frame[[*FEATURES, TIMESTAMP]])
    return pd.concat(nml_blocks(result, subjects, KIND), ignore_index=True)


def _assert_equal(ours: pd.DataFrame, direct: pd.DataFrame) -> None:
    assert list(ours.columns) == list(direct.columns)
    for column in ("chunk_key", "metric", "kind", "feature"):
        assert ours[column].tolist() == direct[column].tolist()
    for field in VALUE_FIELDS:
        np.testing.assert_allclose(
            ours[field].to_numpy(dtype=float), direct[field].to_numpy(dtype=float), rtol=0, atol=1e-12, equal_nan=True
        )
    assert ours["alert"].tolist() == direct["alert"].tolist()


def _refuse_nannyml_jensen_shannon(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jensen-Shannon computed by nannyml chunk by chunk from here on fails the test: ours must not call it."""
    from nannyml.drift.univariate import methods

    def refuse(self: Any, data: Any) -> float:
        raise AssertionError(f"nannyml computed {self.column_name} chunk by chunk")

    for cls in (methods.ContinuousJensenShannonDistance, methods.CategoricalJensenShannonDistance):
        monkeypatch.setattr(cls, "_calculate", refuse)


def test_period_chunks_equal_nannyml(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Jensen-Shannon fitted on 12 reference hours, and analysis hours with missing values, values beyond the
    # reference's range and on its bin edges, unseen categories, an integer-coded category turned float by NaN, a
    # column all missing in an hour and a single-row hour
    rng = np.random.default_rng(21)
    methods = ["jensen_shannon"]
    calculator = _calculator(ModelwatchChunker(period_ns=PERIOD_NS), methods, methods).fit(_reference(rng))
    frame = _analysis(rng)
    edges = calculator._column_to_models_mapping["x"][0]._bins
    frame.loc[:9, "x"] = [edges[0], edges[-1], edges[-1], edges[1], edges[2], edges[2], edges[-2], 0, 0, 0]
    data = _period_data(frame)
    subjects = _subjects(methods, methods)
    direct = _direct(calculator, data, subjects)

    # When ours computes them without nannyml's per-chunk Jensen-Shannon
    _refuse_nannyml_jensen_shannon(monkeypatch)
    ours = pd.concat(univariate_blocks(calculator, data, subjects, KIND), ignore_index=True)

    # Then every value, threshold and alert is nannyml's: the shifted hour alerts in every column, the all-missing
    # columns have no value (and no alert)
    _assert_equal(ours, direct)
    assert ours["chunk_key"].unique().tolist() == [c.key for c in data.chunks]
    shifted = ours.loc[ours["chunk_key"] == data.chunks[1].key]
    assert shifted["alert"].all()
    assert not ours.loc[ours["chunk_key"] == data.chunks[0].key, "alert"].any()
    empty = ours.loc[(ours["chunk_key"] == data.chunks[2].key) & ours["feature"].isin(["x", "colour"])]
    assert empty["value"].isna().all() and not empty["alert"].any()
    assert ours["upper_threshold"].notna().all()


def test_size_chunks_equal_nannyml(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given size chunks numbered from the first analysed chunk (the drift monitor sets nannyml's offset), keyed as the
    # analysis keys them
    rng = np.random.default_rng(22)
    methods = ["jensen_shannon"]
    chunker = ModelwatchChunker(size=150)
    calculator = _calculator(chunker, methods, methods).fit(_reference(rng, hours=8, rows=300))
    frame = _analysis(rng)
    first = 40
    frame[CHUNK] = first + np.arange(len(frame)) // 150
    counts = frame[CHUNK].value_counts().sort_index()
    chunks = [
        ChunkInfo(size_chunk_key(int(n), 150, int(r)), int(n), START, START + HOUR, int(r)) for n, r in counts.items()
    ]
    data = AnalysisData(frame, chunks)
    chunker.offset = first
    subjects = _subjects(methods, methods)
    direct = _direct(calculator, data, subjects)

    # When ours computes them
    _refuse_nannyml_jensen_shannon(monkeypatch)
    ours = pd.concat(univariate_blocks(calculator, data, subjects, KIND), ignore_index=True)

    # Then they agree chunk for chunk, keyed as nannyml's chunker keys them
    _assert_equal(ours, direct)
    assert len(ours["chunk_key"].unique()) == len(chunks) == 5
    assert ours["alert"].any()


def test_mixed_methods_fall_back_to_nannyml_for_their_columns() -> None:
    # Given continuous columns with Jensen-Shannon and Kolmogorov-Smirnov, categorical ones with chi2 only
    rng = np.random.default_rng(23)
    continuous, categorical = ["jensen_shannon", "kolmogorov_smirnov"], ["chi2"]
    calculator = _calculator(ModelwatchChunker(period_ns=PERIOD_NS), continuous, categorical).fit(_reference(rng))
    data = _period_data(_analysis(rng))
    subjects = _subjects(continuous, categorical)

    # When ours computes them (nannyml's calculate for every column here: each has a method not computed at once)
    ours = pd.concat(univariate_blocks(calculator, data, subjects, KIND), ignore_index=True)

    # Then every subject, in the order given, is nannyml's
    _assert_equal(ours, _direct(calculator, data, subjects))
    assert ours["metric"].unique().tolist() == ["jensen_shannon", "kolmogorov_smirnov", "chi2"]
    assert ours["alert"].any()


def test_some_columns_at_once_the_others_by_nannyml(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Jensen-Shannon for continuous columns and L-infinity for categorical ones
    rng = np.random.default_rng(24)
    continuous, categorical = ["jensen_shannon"], ["l_infinity"]
    calculator = _calculator(ModelwatchChunker(period_ns=PERIOD_NS), continuous, categorical).fit(_reference(rng))
    data = _period_data(_analysis(rng))
    subjects = _subjects(continuous, categorical)
    direct = _direct(calculator, data, subjects)

    # When ours computes them, the categorical columns by nannyml's calculate (restricted to them)
    _refuse_nannyml_jensen_shannon(monkeypatch)
    ours = pd.concat(univariate_blocks(calculator, data, subjects, KIND), ignore_index=True)

    # Then both parts are nannyml's, in the subjects' order
    _assert_equal(ours, direct)
    assert ours["feature"].unique().tolist() == FEATURES
    assert ours.loc[ours["metric"] == "l_infinity", "alert"].any()
    assert ours.loc[ours["metric"] == "jensen_shannon", "alert"].any()


def test_mixed_object_column_is_left_to_nannyml() -> None:
    # Given a categorical column of strings in the reference and a chunk that also sends numbers (nannyml cannot
    # sort the chunk's values: its distance there is NaN)
    rng = np.random.default_rng(25)
    methods = ["jensen_shannon"]
    calculator = _calculator(ModelwatchChunker(period_ns=PERIOD_NS), methods, methods).fit(_reference(rng))
    frame = _analysis(rng)
    frame.loc[:20, "colour"] = 7
    data = _period_data(frame)
    subjects = _subjects(methods, methods)

    # When ours computes them
    ours = pd.concat(univariate_blocks(calculator, data, subjects, KIND), ignore_index=True)

    # Then they are nannyml's, NaN included
    _assert_equal(ours, _direct(calculator, data, subjects))
    assert np.isnan(ours.loc[(ours["feature"] == "colour"), "value"].iloc[0])


def test_a_column_ours_fails_on_is_left_to_nannyml(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given continuous values ours fails on in an unforeseen way (nannyml turns a method's failure into a NaN)
    import modelwatch.monitors.univariate as univariate

    rng = np.random.default_rng(26)
    methods = ["jensen_shannon"]
    calculator = _calculator(ModelwatchChunker(period_ns=PERIOD_NS), methods, methods).fit(_reference(rng))
    data = _period_data(_analysis(rng))
    subjects = _subjects(methods, methods)

    def fail(*args: Any) -> None:
        raise ValueError("unforeseen")

    monkeypatch.setattr(univariate, "_continuous_counts", fail)

    # When ours computes them
    ours = pd.concat(univariate_blocks(calculator, data, subjects, KIND), ignore_index=True)

    # Then the analysis goes on: those columns are nannyml's, the rest too
    _assert_equal(ours, _direct(calculator, data, subjects))
    assert ours.loc[ours["feature"] == "x", "value"].notna().any()


def test_baseline_without_the_reference_copy_computes_the_same() -> None:
    # Given calculators fitted with methods computed at once (Jensen-Shannon) and left to nannyml (Kolmogorov-Smirnov,
    # chi2, whose fitted methods keep reference values of their own)
    import pickle

    from modelwatch.monitors.nml import without_reference_copy

    rng = np.random.default_rng(24)
    continuous, categorical = ["jensen_shannon", "kolmogorov_smirnov"], ["jensen_shannon", "chi2"]
    reference = _reference(rng, hours=24, rows=400)
    calculator = _calculator(ModelwatchChunker(period_ns=PERIOD_NS), continuous, categorical).fit(reference)
    data = _period_data(_analysis(rng))
    subjects = _subjects(continuous, categorical)
    direct = _direct(pickle.loads(pickle.dumps(calculator)), data, subjects)
    whole = len(pickle.dumps(calculator))

    # When the cached baseline drops nannyml's copy of the reference frame and is read back
    slim = pickle.loads(pickle.dumps(without_reference_copy(calculator)))

    # Then it stores a fraction of the bytes, and every value, threshold and alert is still nannyml's
    assert slim.result.reference_data is None
    assert len(pickle.dumps(slim)) < whole / 2
    _assert_equal(pd.concat(univariate_blocks(slim, data, subjects, KIND), ignore_index=True), direct)
