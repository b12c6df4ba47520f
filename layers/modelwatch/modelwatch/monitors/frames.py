"""Reference data and decoded lake rows as the frames monitors analyse, validated against the config.

Imports pandas and numpy only inside functions: publishing imports the monitors, and the zip functions have neither.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelwatch.config.model import ExtraColumn, Feature, ModelConfig, ProblemType
from modelwatch.constants import (
    COL_CHUNK,
    COL_EVENT_ID,
    COL_EXTRA_KEYS,
    COL_FEATURE_ISSUES,
    COL_INFERENCE_ID,
    COL_INFERENCE_TIME,
    COL_ROW_IN_REQUEST,
    COL_Y_PRED,
    COL_Y_TRUE,
)
from modelwatch.errors import ChunkDataError, ConfigMismatchError, ReferenceDataError, describe

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

# Column names of the frames handed to nannyml (reference and analysis alike).
TIMESTAMP = COL_INFERENCE_TIME
TARGET = COL_Y_TRUE
CHUNK = COL_CHUNK  # chunk number: epoch-aligned period index, or the size chunk's position in ingestion order
INGESTION_ORDER = [COL_INFERENCE_TIME, COL_EVENT_ID, COL_INFERENCE_ID, COL_ROW_IN_REQUEST]
# Unique per row: as Python str objects they cost more to convert than all other columns together.
ID_COLUMNS = (COL_EVENT_ID, COL_INFERENCE_ID)


def lake_to_pandas(frame: pl.DataFrame, *, consume: bool = False) -> pd.DataFrame:
    """Lake rows (polars) as pandas; the id columns stay Arrow-backed strings (nannyml never reads them, the label
    join and the ingestion-order sort handle them as they are), everything else as plain numpy/object columns.

    Converted one column at a time into a frame of one block per column: converting the whole frame at once held
    the polars rows, an Arrow copy and pandas' consolidated blocks together (an hour of 4.2M rows and 30 features:
    2.6 GB on top of the 1.4 GB of rows). With `consume`, each polars column is dropped from `frame` as soon as it
    is converted, so the rows are never held twice; `frame` is left without columns."""
    import pandas as pd
    import polars as pl

    moving = frame if consume else frame.clone()  # a clone shares the columns' memory
    ids = {c for c in ID_COLUMNS if c in moving.columns and moving.schema[c] == pl.String()}
    height = moving.height
    columns: dict[str, pd.Series] = {}
    for name in list(moving.columns):
        series = moving.drop_in_place(name)
        columns[name] = series.to_pandas(use_pyarrow_extension_array=name in ids)
        del series  # with `consume`, the last reference to the polars column
    if not columns:
        return pd.DataFrame(index=pd.RangeIndex(height))
    return pd.DataFrame(columns, copy=False)


def shared_columns(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A new frame of `frame`'s `columns` (all by default) sharing their memory: a column assigned on it replaces
    that column there only (pandas 2 never writes a column's values in place on assignment). A copy held an hour of
    4.2M rows twice."""
    import pandas as pd

    names = frame.columns if columns is None else columns
    return pd.DataFrame({name: frame[name] for name in names}, index=frame.index, copy=False)


@dataclass(frozen=True)
class PreparedCaptures:
    """Analysis rows ready for nannyml, plus what was dropped on the way."""

    frame: pd.DataFrame
    rows_without_prediction: int


def _missing(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c not in frame.columns]


def _coerce_features(config: ModelConfig, frame: pd.DataFrame) -> None:
    """Numeric features (and extra columns) as float64, categorical as str (None stays missing), in place; columns
    the frame does not hold are left out."""
    import pandas as pd

    columns: list[Feature | ExtraColumn] = [*config.features, *config.extra_columns]
    for feature in columns:
        if feature.name not in frame.columns:
            continue
        column = frame[feature.name]
        if feature.type == "numeric":
            if column.dtype == "float64":
                continue  # already as to_numeric gives it (each assignment costs the frame a new block)
            frame[feature.name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            frame[feature.name] = _as_text(column)


def _as_text(column: pd.Series) -> pd.Series:
    """Values as str, missing values as None, in an object column; vectorised when the values already are str."""
    import numpy as np
    import pandas as pd

    missing = column.isna().to_numpy()
    text = column.astype("object")
    if pd.api.types.infer_dtype(text, skipna=True) not in ("string", "empty"):
        # Mixed values (numbers, booleans, ...): str() of each present value that is not a str yet.
        values = text.to_numpy(copy=True)
        present = ~missing
        converted = np.empty(int(present.sum()), dtype="object")
        converted[:] = [v if isinstance(v, str) else str(v) for v in values[present]]
        values[present] = converted
        text = pd.Series(values, index=column.index, name=column.name, dtype="object")
    if missing.any():
        text = text.where(~missing, None)
    return text


def _binary_values(config: ModelConfig, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """0/1 as float64 from numbers, booleans, '0'/'1' or the configured class names (negative, positive); and which
    present values are none of those (left missing)."""
    import numpy as np
    import pandas as pd

    if values.dtype == object or str(values.dtype) in ("string", "str"):
        mapping: dict[str, float] = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "false": 0.0, "true": 1.0}
        if config.classes:
            mapping.update({config.classes[0].lower(): 0.0, config.classes[1].lower(): 1.0})
        text = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).lower())
        converted = text.map(mapping).astype("float64")
        return converted, text.notna() & converted.isna()
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    invalid = values.notna() & ~numeric.isin([0.0, 1.0])
    return numeric.where(~invalid), invalid


def _class_values(config: ModelConfig, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Class names as str; and which present values are not among the configured classes (left missing)."""
    text = values.astype("object").where(values.notna(), None).map(lambda v: v if v is None else str(v))
    invalid = text.notna() & ~text.isin(config.classes)
    return text.where(~invalid, None), invalid


def _binary_series(config: ModelConfig, values: pd.Series, what: str, error: type[Exception]) -> pd.Series:
    converted, invalid = _binary_values(config, values)
    if invalid.any():
        # How many and where, never which: the values are data.
        raise error(f"{what}: {int(invalid.sum())} value(s) are not 0/1 or the classes {config.classes}")
    return converted


def _class_series(config: ModelConfig, values: pd.Series, what: str, error: type[Exception]) -> pd.Series:
    converted, invalid = _class_values(config, values)
    if invalid.any():
        raise error(f"{what}: {int(invalid.sum())} value(s) are not in the configured classes {config.classes}")
    return converted


def _coerce_outputs(config: ModelConfig, frame: pd.DataFrame, error: type[Exception], source: str) -> None:
    import pandas as pd

    for column in config.proba_columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    if config.problem_type is ProblemType.BINARY:
        frame[COL_Y_PRED] = _binary_series(config, frame[COL_Y_PRED], f"{source} column y_pred", error)
        frame[COL_Y_PRED] = (
            frame[COL_Y_PRED].astype("Int64") if frame[COL_Y_PRED].isna().any() else (frame[COL_Y_PRED].astype("int64"))
        )
    elif config.problem_type is ProblemType.MULTICLASS:
        frame[COL_Y_PRED] = _class_series(config, frame[COL_Y_PRED], f"{source} column y_pred", error)
    else:
        frame[COL_Y_PRED] = pd.to_numeric(frame[COL_Y_PRED], errors="coerce").astype("float64")


def coerce_target(config: ModelConfig, values: pd.Series, source: str, error: type[Exception]) -> pd.Series:
    """Labels in the type nannyml expects for the problem: 0/1 float, class name str, or float."""
    import pandas as pd

    if config.problem_type is ProblemType.BINARY:
        return _binary_series(config, values, source, error)
    if config.problem_type is ProblemType.MULTICLASS:
        return _class_series(config, values, source, error)
    return pd.to_numeric(values, errors="coerce").astype("float64")


def usable_labels(config: ModelConfig, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Labels in the type nannyml expects, and which present labels cannot be used (outside the classes, not a
    finite number): those are left missing and counted by the caller, never a reason to fail the run."""
    import numpy as np
    import pandas as pd

    if config.problem_type is ProblemType.BINARY:
        return _binary_values(config, values)
    if config.problem_type is ProblemType.MULTICLASS:
        return _class_values(config, values)
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    invalid = values.notna() & ~np.isfinite(numeric.fillna(np.inf))
    return numeric.where(~invalid), invalid


def naive_utc(values: pd.Series) -> pd.Series:
    """Timestamps as tz-naive UTC datetime64[ns] (what nannyml's chunkers and plots handle)."""
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps = values
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        stamps = values.dt.tz_localize("UTC")
    else:  # text or objects: parsed (to_datetime on a datetime column walks every value first to decide caching)
        stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")


def reference_columns(config: ModelConfig, reference: pd.DataFrame) -> pd.DataFrame:
    """The reference columns the model uses (features, extra columns, outputs, target, timestamp), as given;
    ReferenceDataError naming what is missing."""
    required = [
        *config.feature_names,
        *config.extra_column_names,
        *config.prediction_columns,
        config.target,
        config.timestamp,
    ]
    missing = _missing(reference, required)
    if missing:
        raise ReferenceDataError(
            f"reference data for model {config.name} lacks column(s) {missing} "
            f"(needs the features, {config.prediction_columns}, target {config.target!r} "
            f"and timestamp {config.timestamp!r})"
        )
    return reference[required]


def prepare_reference(config: ModelConfig, reference: pd.DataFrame) -> pd.DataFrame:
    """Validate the reference data and rename its target/timestamp columns to the analysis names."""
    frame = reference_columns(config, reference).copy()
    frame = frame.rename(columns={config.target: TARGET, config.timestamp: TIMESTAMP})
    _coerce_features(config, frame)
    _coerce_outputs(config, frame, ReferenceDataError, "reference data")
    frame[TARGET] = coerce_target(config, frame[TARGET], f"reference column {config.target}", ReferenceDataError)
    try:
        frame[TIMESTAMP] = naive_utc(frame[TIMESTAMP])
    except (ValueError, TypeError) as exc:
        problem = describe(exc)  # pandas quotes the value it could not parse
        raise ReferenceDataError(f"reference column {config.timestamp!r} does not hold timestamps: {problem}") from exc
    labelled = frame[TARGET].dropna()
    if labelled.empty:
        raise ReferenceDataError(f"reference column {config.target!r} holds no labels")
    if config.problem_type is not ProblemType.REGRESSION and labelled.nunique() < 2:
        raise ReferenceDataError(
            f"reference column {config.target!r} holds a single class ({labelled.iloc[0]!r}); "
            "performance estimation needs every class"
        )
    for column in config.proba_columns:
        if frame[column].isna().all():
            raise ReferenceDataError(f"reference column {column!r} holds no probabilities")
    frame = frame.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    return frame


def prepare_captures(
    config: ModelConfig, captures: pd.DataFrame, features: list[str], issues: bool = False
) -> PreparedCaptures:
    """Validate decoded lake rows against the config and put them in ingestion order, with the `features` a
    monitor reads typed (their presence checked: a step leaves the features it does not read in the lake); with
    `issues`, the decoder's `feature_issues` and `extra_keys` columns are kept where the rows have them."""
    missing_features = _missing(captures, [f for f in config.feature_names if f in features])
    if missing_features:
        raise ConfigMismatchError(
            f"model {config.name}: captured rows lack feature column(s) {missing_features}; "
            f"captured columns are {sorted(captures.columns)}"
        )
    missing_extra = _missing(captures, [c for c in features if c not in config.feature_names])
    if missing_extra:
        raise ConfigMismatchError(
            f"model {config.name}: captured rows lack extra column(s) {missing_extra} (declared in extra_columns); "
            f"captured columns are {sorted(captures.columns)}"
        )
    missing_proba = _missing(captures, config.proba_columns)
    if missing_proba or any(captures[c].isna().all() for c in config.proba_columns if len(captures)):
        columns = missing_proba or [c for c in config.proba_columns if captures[c].isna().all()]
        raise ConfigMismatchError(
            f"model {config.name}: no probabilities for CBPE in column(s) {columns}; "
            "configure output.columns/probabilities so the endpoint's scores are captured"
        )
    missing_meta = _missing(captures, [COL_Y_PRED, COL_INFERENCE_TIME, COL_INFERENCE_ID, COL_ROW_IN_REQUEST])
    if missing_meta:
        raise ConfigMismatchError(f"model {config.name}: captured rows lack column(s) {missing_meta}")
    if config.problem_type is ProblemType.REGRESSION and captures[COL_Y_PRED].isna().all() and len(captures):
        raise ConfigMismatchError(f"model {config.name}: captured rows hold no predictions in column y_pred")
    keep = [*features, *config.prediction_columns, COL_INFERENCE_TIME, COL_INFERENCE_ID, COL_ROW_IN_REQUEST]
    if COL_EVENT_ID in captures.columns:
        keep.append(COL_EVENT_ID)
    if issues:
        keep.extend(c for c in (COL_FEATURE_ISSUES, COL_EXTRA_KEYS) if c in captures.columns)
    frame = shared_columns(captures, keep)  # everything below assigns whole columns: `captures` never changes
    if COL_EVENT_ID not in frame.columns:
        frame[COL_EVENT_ID] = frame[COL_INFERENCE_ID]
    if features:
        _coerce_features(config, frame)
    # A value problem is the rows' (ChunkDataError: the analysis skips the chunk holding it), not the config's.
    _coerce_outputs(config, frame, ChunkDataError, f"model {config.name}: captured")
    frame[TIMESTAMP] = naive_utc(frame[TIMESTAMP])
    without = frame[config.prediction_columns].isna().any(axis=1)
    if without.any():
        frame = frame.loc[~without]
    if config.problem_type is ProblemType.BINARY:
        frame[COL_Y_PRED] = frame[COL_Y_PRED].astype("int64")
    frame = _in_ingestion_order(frame)
    return PreparedCaptures(frame=frame, rows_without_prediction=int(without.sum()))


def _in_ingestion_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame stably sorted by INGESTION_ORDER, with a fresh RangeIndex (the frame itself when already in order).

    Same order as `frame.sort_values(INGESTION_ORDER, kind="stable")`, but sorts on the timestamp alone (an int64
    argsort) and compares the string keys only among rows sharing a timestamp; usually few or none do."""
    import numpy as np
    import pandas as pd

    stamps = frame[TIMESTAMP]
    if stamps.isna().any():  # NaT goes last in sort_values, first in an int64 argsort: keep the general path
        return frame.sort_values(INGESTION_ORDER, kind="stable").reset_index(drop=True)
    values = stamps.to_numpy().view("int64")
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    tied = np.zeros(len(ordered), dtype=bool)
    if len(ordered) > 1:
        same = ordered[1:] == ordered[:-1]
        tied[1:] |= same
        tied[:-1] |= same
    if tied.any():
        # Rows sharing a timestamp sit in contiguous runs of `order`, in their original relative order: sorting
        # just them by the full key (stably) and writing them back into the run positions refines the order.
        positions = order[tied]
        subset = frame.iloc[positions][INGESTION_ORDER].reset_index(drop=True)
        refined = subset.sort_values(INGESTION_ORDER, kind="stable").index.to_numpy()
        order = order.copy()
        order[tied] = positions[refined]
    if not np.array_equal(order, np.arange(len(order))):
        frame = frame.take(order)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def reference_hash(frame: pd.DataFrame) -> str:
    """A content hash of a reference frame (columns, dtypes and values), for the estimator manifest."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def assign_period_chunks(frame: pd.DataFrame, period_ns: int) -> pd.Series:
    """Epoch-aligned period number of each row's (naive UTC) timestamp: floor(ts / period)."""
    return frame[TIMESTAMP].astype("int64") // period_ns


def assign_size_chunks(frame: pd.DataFrame, size: int) -> pd.Series:
    """Size chunk number of each row, counting rows in the frame's (ingestion) order."""
    import numpy as np
    import pandas as pd

    return pd.Series(np.arange(len(frame), dtype="int64") // size, index=frame.index)
