"""Univariate drift of every chunk at once from nannyml's fitted methods (Jensen-Shannon), nannyml's calculate else."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from modelwatch.monitors.base import AnalysisData
from modelwatch.monitors.results import VALUE_FIELDS

Subject = tuple[tuple[str, ...], str, str | None]  # (nannyml column prefix, metric, feature)
JENSEN_SHANNON = "jensen_shannon"


def nml_blocks(result: Any, subjects: Sequence[Subject], kind: str) -> list[Any]:
    """nannyml results (analysis period) as long results blocks: one per subject (column prefix, metric, feature),
    a row per chunk with the VALUE_FIELDS (NaN where absent) and the alert flag (None/NaN: no alert)."""
    import numpy as np

    frame = result.filter(period="analysis").to_df()
    key_column = next(c for c in frame.columns if c[0] == "chunk" and c[-1] == "key")
    keys = frame[key_column].astype(str).to_numpy()
    present = set(frame.columns)
    blocks = []
    for prefix, metric, feature in subjects:
        values: dict[str, Any] = {}
        for name in VALUE_FIELDS:
            column = (*prefix, name)
            values[name] = frame[column].astype("float64").to_numpy() if column in present else np.nan
        column = (*prefix, "alert")
        alerts = frame[column].tolist() if column in present else [False] * len(frame)
        flags = np.array([a is not None and a == a and bool(a) for a in alerts], dtype=bool)
        blocks.append(_block(keys, metric, kind, feature, values, flags))
    return blocks


def _block(keys: Any, metric: str, kind: str, feature: str | None, values: dict[str, Any], alerts: Any) -> Any:
    """One subject's rows: columns gathered first, one frame built (inserting column by column was most of the
    time)."""
    import numpy as np
    import pandas as pd

    columns: dict[str, Any] = {"chunk_key": keys, "metric": metric, "kind": kind, "feature": feature}
    for name in VALUE_FIELDS:
        columns[name] = values.get(name, np.nan)
    columns["alert"] = alerts
    return pd.DataFrame(columns)


def univariate_blocks(calculator: Any, data: AnalysisData, subjects: Sequence[Subject], kind: str) -> list[Any]:
    """`nml_blocks(calculator.calculate(...), subjects, kind)` of a fitted UnivariateDriftCalculator, computed for
    every chunk at once where the method allows: Jensen-Shannon (continuous and categorical) from the fitted method's
    reference bins and proportions, each row's bin found once for all chunks; thresholds and alerts are the fitted
    method's own. Each chunk's distance is then nannyml's very computation on the same counts (values equal to the
    bit). Other methods, and columns of types nannyml might treat otherwise (e.g. mixed objects), are nannyml's
    calculate over those columns. Equal to nannyml's results: tests/unit/monitors/test_univariate.py."""
    import numpy as np

    unique, position = data.chunk_groups
    by_number = {c.number: c.key for c in data.chunks}
    keys = np.array([by_number.get(int(n)) for n in unique], dtype=object)  # None: not a chunk of the run (dropped)
    fast: dict[tuple[str, str], Any] = {}
    fallback: list[str] = []
    for column in dict.fromkeys(s[0][0] for s in subjects):
        methods = calculator._column_to_models_mapping[column]
        try:
            missing = data.missing(column)
            counted = [_chunk_values(m, data.frame[column], missing, position, len(unique)) for m in methods]
        except Exception:  # unforeseen values: nannyml decides, as it would have (a NaN, or its error)
            counted = [None]
        if any(c is None for c in counted):
            fallback.append(column)
            continue
        for method, values in zip(methods, counted, strict=True):
            fast[(column, method.column_name)] = (method, values)
    direct = {}
    if fallback:
        subset = [s for s in subjects if s[0][0] in fallback]
        result = _restricted(calculator, fallback).calculate(data.frame[[*fallback, *_timestamp(calculator)]])
        direct = dict(zip(subset, nml_blocks(result, subset, kind), strict=True))
    blocks = []
    for subject in subjects:
        prefix, metric, feature = subject
        if subject in direct:
            blocks.append(direct[subject])
            continue
        method, values = fast[(prefix[0], prefix[1])]
        fields = {
            "value": values,
            "upper_threshold": _float(method.upper_threshold_value),
            "lower_threshold": _float(method.lower_threshold_value),
        }
        alerts = np.array([bool(method.alert(v)) for v in values], dtype=bool)
        blocks.append(_block(keys, metric, kind, feature, fields, alerts))
    return blocks


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _timestamp(calculator: Any) -> list[str]:
    return [calculator.timestamp_column_name] if calculator.timestamp_column_name else []


def _restricted(calculator: Any, columns: list[str]) -> Any:
    """The fitted calculator over `columns` only (its fitted methods shared, no reference results kept)."""
    chosen = set(columns)
    restricted = copy.copy(calculator)
    restricted.column_names = [c for c in calculator.column_names if c in chosen]
    restricted.continuous_column_names = [c for c in calculator.continuous_column_names if c in chosen]
    restricted.categorical_column_names = [c for c in calculator.categorical_column_names if c in chosen]
    restricted.result = None
    return restricted


def _chunk_values(method: Any, series: Any, missing: Any, position: Any, chunks: int) -> Any | None:
    """The method's value in each chunk (`missing`: the rows' isna, `position`: each row's chunk, 0..chunks-1), or
    None when this is not a method (or a column type) computed here."""
    import numpy as np
    from nannyml.drift.univariate.methods import CategoricalJensenShannonDistance, ContinuousJensenShannonDistance

    if not isinstance(series.dtype, np.dtype):  # pandas' extension types (nullable, categorical): nannyml's own
        return None
    if type(method) is ContinuousJensenShannonDistance:
        counts = _continuous_counts(method._bins, series, ~missing, position, chunks)
    elif type(method) is CategoricalJensenShannonDistance:
        counts = _categorical_counts(method._bins, series, ~missing, position, chunks)
    else:
        return None
    if counts is None:
        return None
    return _jensen_shannon(method._reference_proba_in_bins, *counts)


def _continuous_counts(edges: Any, series: Any, present: Any, position: Any, chunks: int) -> tuple[Any, Any] | None:
    """Per chunk: the rows in each of np.histogram's bins on the fitted edges ([e_i, e_i+1), the last closed; rows
    outside the edges in none), and the rows present (not NaN)."""
    import numpy as np

    if series.dtype.kind not in "iuf":
        return None
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    bins = len(edges) - 1
    inside = present & (values >= edges[0]) & (values <= edges[-1])
    index = np.minimum(np.searchsorted(edges, values[inside], side="right") - 1, bins - 1)
    counts = np.bincount(position[inside] * bins + index, minlength=chunks * bins).reshape(chunks, bins)
    return counts, np.bincount(position[present], minlength=chunks)


def _categorical_counts(
    categories: Any, series: Any, present: Any, position: Any, chunks: int
) -> tuple[Any, Any] | None:
    """Per chunk: the rows of each reference category (equal as nannyml's dictionary lookup finds them), and the rows
    present (not NaN); strings or numbers only (nannyml's sort of mixed objects fails, its value is NaN)."""
    import numpy as np
    import pandas as pd

    strings = series.dtype.kind == "O"
    if series.dtype.kind not in "iufb" and not strings:
        return None
    if strings and any(not isinstance(c, str) for c in categories):
        return None
    codes, uniques = pd.factorize(series.to_numpy()[present])
    if strings and any(not isinstance(u, str) for u in uniques):
        return None
    lookup = {category: i for i, category in enumerate(categories)}
    found = np.array([lookup.get(u, -1) for u in uniques], dtype="int64")
    index = found[codes] if len(codes) else np.empty(0, dtype="int64")
    known = index >= 0
    bins = len(categories)
    where = position[present][known]
    counts = np.bincount(where * bins + index[known], minlength=chunks * bins).reshape(chunks, bins)
    return counts, np.bincount(position[present], minlength=chunks)


def _jensen_shannon(reference: Any, counts: Any, present: Any) -> Any:
    """nannyml's Jensen-Shannon distance of each chunk from its bin counts, step for step as its `_calculate` (the
    shares, the leftover bin of rows outside the reference's bins, scipy's distance): NaN for a chunk without rows."""
    import numpy as np
    from scipy.spatial.distance import jensenshannon

    values = np.full(len(counts), np.nan)
    for chunk, (row, rows) in enumerate(zip(counts, present, strict=True)):
        if not rows:
            continue
        expected = reference.copy()
        shares = row / int(rows)
        leftover = 1 - np.sum(shares)
        if leftover > 0:
            shares = np.append(shares, leftover)
            expected = np.append(expected, 0)
        values[chunk] = jensenshannon(expected, shares, base=2)
    return values
