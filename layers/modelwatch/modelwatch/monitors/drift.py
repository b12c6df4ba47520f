"""Drift that says why, per chunk: univariate drift of every feature and of the model's outputs (nannyml, methods
per type from the config, Jensen-Shannon by default), per-chunk statistics of the predictions, multivariate drift
(nannyml's PCA data reconstruction error), the features' missing-value rates, the window's ranking of the features
by drift alerts, and each feature's distribution in the chunk beside the reference's (for the report)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING, Any, ClassVar

from modelwatch.constants import (
    DIM_FEATURE,
    DIM_OUTPUT,
    METRIC_FEATURES_DRIFTING,
    METRIC_MISSING_RATE,
    METRIC_MULTIVARIATE_DRIFT,
    METRIC_PREDICTION_DRIFT,
)
from modelwatch.lake.layout import drift_key
from modelwatch.monitors.base import AnalysisData, ChunkInfo, MetricPoint, Monitor, Publication
from modelwatch.monitors.frames import CHUNK
from modelwatch.monitors.nml import (
    DRIFT_METHOD,
    ESTIMATOR_SCHEMA,
    FIT_SEED,
    build_chunker,
    build_drift_calculator,
    build_multivariate_calculator,
    build_output_drift_calculator,
    fitted,
    output_kinds,
    without_reference_copy,
)
from modelwatch.monitors.plots import ALERT_COLOUR, FEATURE_COLOURS, Section, alert_markers, finite, new_figure
from modelwatch.monitors.results import ResultRow, conform, empty_table
from modelwatch.monitors.univariate import univariate_blocks
from modelwatch.units import model_dimensions

if TYPE_CHECKING:
    import pandas as pd

MONITOR = "drift"
KIND_UNIVARIATE = "univariate"
KIND_DATA_QUALITY = "data_quality"
KIND_PREDICTION = "prediction"  # univariate drift of an output column (feature = the column)
KIND_MULTIVARIATE = "multivariate"
KIND_PREDICTION_STATISTICS = "prediction_statistics"  # metric min | max | mean | std of an output column
METRIC_MISSING = "missing_rate"
METRIC_RECONSTRUCTION = "reconstruction_error"
PREDICTION_STATISTICS = ("min", "max", "mean", "std")
SERIES_DRIFT = "drift"
SERIES_MISSING = "missing_rate"
SERIES_MULTIVARIATE = "multivariate_drift"
SERIES_PREDICTION = "prediction_drift"
MULTIVARIATE_BLOCK_ROWS = 262_144  # rows transformed at once for the reconstruction error (about 60 MB a matrix)
DISTRIBUTION_BINS = 10  # equal-width bins over the reference's range (end bins take what lies beyond)
DISTRIBUTION_CATEGORIES = 10  # the reference's most frequent categories, the rest as "other"
OTHER = "(other)"
MISSING_BIN = "(missing)"


@dataclass
class DriftBaseline:
    """nannyml's calculators fitted on the reference (features; outputs and multivariate when configured) and each
    feature's reference distribution (report)."""

    calculator: Any
    outputs: Any | None = None
    multivariate: Any | None = None
    distributions: dict[str, dict[str, Any]] | None = None


def multivariate_block(calculator: Any, data: AnalysisData, features: list[str]) -> Any:
    """nannyml's DataReconstructionDriftCalculator.calculate, every chunk at once: its row-wise transforms (imputers,
    count encoder, scaler, PCA and back) over all rows in one pass, then each chunk's mean and standard deviation of
    the reconstruction error, sampling error, bounds, thresholds and alert exactly as nannyml computes them per chunk
    (nannyml transforms chunk by chunk, which made it most of the drift monitor's time). Equal to nannyml's own
    results: tests/unit/monitors/test_multivariate.py."""
    import numpy as np
    import pandas as pd
    from nannyml.sampling_error import SAMPLING_ERROR_RANGE

    rows = len(data.frame)
    errors = np.empty(rows)
    for begin in range(0, rows, MULTIVARIATE_BLOCK_ROWS):
        end = min(begin + MULTIVARIATE_BLOCK_ROWS, rows)
        errors[begin:end] = _reconstruction_errors(calculator, data, features, begin, end)
    lower = -np.inf if calculator.lower_threshold_value is None else calculator.lower_threshold_value
    upper = np.inf if calculator.upper_threshold_value is None else calculator.upper_threshold_value
    by_number = {c.number: c.key for c in data.chunks}
    unique, position = data.chunk_groups
    order = np.argsort(position, kind="stable")  # each chunk's errors together, in row order
    bounds = np.cumsum(np.bincount(position, minlength=len(unique)))
    records = []
    for number, end, begin in zip(unique.tolist(), bounds.tolist(), [0, *bounds[:-1].tolist()], strict=True):
        chunk = errors[order[begin:end]]
        mean, std = np.mean(chunk), np.std(chunk, ddof=1) if len(chunk) > 1 else np.nan  # nannyml: NaN for one row
        sampling_error = std / np.sqrt(len(chunk))
        records.append(
            {
                "chunk_key": by_number[int(number)],
                "value": float(mean),
                "sampling_error": float(sampling_error),
                "upper_confidence_boundary": float(mean + SAMPLING_ERROR_RANGE * sampling_error),
                "lower_confidence_boundary": float(
                    np.maximum(mean - SAMPLING_ERROR_RANGE * sampling_error, calculator.lower_threshold_value_limit)
                ),
                "alert": not (lower < mean < upper),  # nannyml's rule (a NaN error alerts)
            }
        )
    block = pd.DataFrame.from_records(records)
    block["upper_threshold"] = np.nan if calculator.upper_threshold_value is None else calculator.upper_threshold_value
    block["lower_threshold"] = np.nan if calculator.lower_threshold_value is None else calculator.lower_threshold_value
    block["metric"] = METRIC_RECONSTRUCTION
    block["kind"] = KIND_MULTIVARIATE
    block["feature"] = None
    return block


def _reconstruction_errors(calculator: Any, data: AnalysisData, features: list[str], begin: int, end: int) -> Any:
    """Each row's reconstruction error for rows [begin, end): the transforms are row by row (fitted imputers, count
    encoder, scaler, PCA and back), so a block at a time gives every row's error as the whole frame would, holding
    a block's matrices instead of the window's (an hour of 4.2M rows x 30 features held five 1 GB copies)."""
    import numpy as np

    frame = data.frame.iloc[begin:end][features]
    imputed = False
    for names, imputer in (
        (calculator.categorical_column_names, calculator._imputer_categorical),
        (calculator.continuous_column_names, calculator._imputer_continuous),
    ):
        # The imputer changes nothing in columns without a missing value when it kept every column (the frame is
        # copied only when it does)
        if names and (_drops_columns(imputer, names) or any(data.missing(n)[begin:end].any() for n in names)):
            if not imputed:
                frame, imputed = frame.copy(), True
            frame[names] = imputer.transform(frame[names])
    scaled = calculator._scaler.transform(_encoded(calculator._encoder, frame[calculator.column_names]))
    with one_blas_thread():
        reconstructed = calculator._pca.inverse_transform(calculator._pca.transform(scaled))
    return np.linalg.norm(scaled - reconstructed, axis=1)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside the block. The PCA's products are small (the rows by a few tens of columns): BLAS's
    threads cost more to start and join than they save, and lose most when the cores are busy (three times slower on
    the benchmark's two shared cores). The threads split the rows between them, never a sum, so the results are the
    same."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@cache
def _blas_controller() -> Any:
    """threadpoolctl's controller, made once: it inspects the loaded libraries (milliseconds), a limit then costs
    microseconds."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _drops_columns(imputer: Any, names: list[str]) -> bool:
    """Whether the fitted imputer leaves columns out (those without any value in the reference): nannyml's own
    transform then fails, and so must ours."""
    import pandas as pd

    statistics = getattr(imputer, "statistics_", None)
    return statistics is None or len(statistics) != len(names) or bool(pd.isna(statistics).any())


def _encoded(encoder: Any, frame: Any) -> Any:
    """`encoder.transform(frame).to_numpy()` of nannyml's fitted CountEncoder, its columns encoded on their distinct
    values and spread back to the rows: the encoder maps each value on its own (its share of the reference), and it
    walked every row in Python. A frame of the distinct values (each column's repeated to the longest, so no column
    gains a value it lacks) goes through the encoder itself. Equal to the full transform:
    tests/unit/monitors/test_multivariate.py."""
    import numpy as np
    import pandas as pd

    columns = [c for c in getattr(encoder, "cols", None) or [] if c in frame.columns]
    if not columns or not len(frame):
        return encoder.transform(frame).to_numpy()
    factorized = {c: pd.factorize(frame[c].to_numpy(dtype="object"), use_na_sentinel=False) for c in columns}
    longest = max(len(uniques) for _, uniques in factorized.values())
    distinct = frame.iloc[np.zeros(longest, dtype="int64")].reset_index(drop=True)
    for column, (_, uniques) in factorized.items():
        distinct[column] = pd.Series(np.resize(uniques, longest), dtype="object")
    mapped = encoder.transform(distinct)
    encoded = {column: mapped[column].to_numpy()[codes] for column, (codes, _) in factorized.items()}
    values = [encoded[c] if c in encoded else frame[c].to_numpy() for c in frame.columns]
    if all(v.dtype == np.float64 for v in values):
        # Filled column by column, in column-major order as pandas' to_numpy lays it out (no frame to consolidate)
        matrix = np.empty((len(frame), len(values)), dtype="float64", order="F")
        for index, column in enumerate(values):
            matrix[:, index] = column
        return matrix
    out = frame.copy()
    for column, mapped_values in encoded.items():
        out[column] = mapped_values
    return out.to_numpy()


def with_chunks(table: Any, chunks: list[ChunkInfo], monitor: str) -> Any:
    """Long blocks joined with their chunks' windows and counts, as a conformed results table."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "chunk_key": [c.key for c in chunks],
            "chunk_start": [pd.Timestamp(c.start) for c in chunks],
            "chunk_end": [pd.Timestamp(c.end) for c in chunks],
            "rows": [c.rows for c in chunks],
            "labelled_rows": [c.labelled_rows for c in chunks],
            "label_coverage": [c.label_coverage for c in chunks],
        }
    )
    table = table.merge(frame, on="chunk_key", how="inner", validate="many_to_one")
    table["monitor"] = monitor
    table["chunk_index"] = 0
    return conform(table.sort_values(["chunk_start", "metric", "feature"], kind="stable"))


def reference_distribution(values: Any, categorical: bool) -> dict[str, Any]:
    """The bins a feature's distribution is shown in, with the reference's shares."""
    import numpy as np
    import pandas as pd

    series = pd.Series(values)
    if categorical:
        top = series.dropna().astype(str).value_counts().head(DISTRIBUTION_CATEGORIES).index.tolist()
        spec: dict[str, Any] = {"categories": [str(c) for c in top]}
    else:
        present = series.dropna().to_numpy(dtype="float64")
        present = present[np.isfinite(present)]
        low, high = (float(present.min()), float(present.max())) if len(present) else (0.0, 1.0)
        spec = {"edges": np.linspace(low, high if high > low else low + 1.0, DISTRIBUTION_BINS + 1).tolist()}
    spec["reference"] = distribution_shares(spec, values)
    return spec


def distribution_shares(spec: dict[str, Any], values: Any) -> list[float]:
    """Shares of `values` in the spec's bins (categories + other, or edges with open ends), then missing."""
    import numpy as np
    import pandas as pd

    series = pd.Series(values)
    total = len(series)
    if not total:
        return []
    missing = int(series.isna().sum())
    present = series.dropna()
    if "categories" in spec:
        counts = present.astype(str).value_counts()
        shares = [int(counts.get(c, 0)) for c in spec["categories"]]
        shares.append(len(present) - sum(shares))
    else:
        edges = np.asarray(spec["edges"], dtype="float64")
        numbers = present.to_numpy(dtype="float64")
        finite = numbers[np.isfinite(numbers)]
        index = np.clip(np.searchsorted(edges, finite, side="right") - 1, 0, len(edges) - 2)
        shares = np.bincount(index, minlength=len(edges) - 1).tolist()
        shares.append(len(numbers) - len(finite))  # infinities
    shares.append(missing)
    return [round(s / total, 5) for s in shares]


def chunk_shares(
    spec: dict[str, Any],
    values: Any,
    chunks: Any,
    grouped: tuple[Any, Any] | None = None,
    missing: Any | None = None,
) -> dict[int, list[float]]:
    """`distribution_shares` of each chunk's values at once (chunk numbers aligned with the values; `grouped`: their
    np.unique with return_inverse, and `missing`: the values' isna, when the caller has them)."""
    import numpy as np
    import pandas as pd

    series = pd.Series(values).reset_index(drop=True)
    missing = series.isna().to_numpy() if missing is None else missing
    bins = len(spec["categories"]) + 1 if "categories" in spec else len(spec["edges"])  # + other (+ missing below)
    if "categories" in spec:
        # Each distinct value looked up among the categories once (as pandas' Categorical matches them: by equality)
        codes, uniques = pd.factorize(series.to_numpy(dtype="object"))
        lookup = {category: i for i, category in enumerate(spec["categories"])}
        other = len(spec["categories"])
        found = np.array([lookup.get(u, other) for u in uniques] + [other], dtype="int64")
        index = found[codes]  # a missing value's code -1 takes the last entry; it goes to the missing bin below
    else:
        edges = np.asarray(spec["edges"], dtype="float64")
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        finite = np.isfinite(numbers)
        index = np.clip(
            np.searchsorted(edges, np.where(finite, numbers, edges[0]), side="right") - 1, 0, len(edges) - 2
        )
        index = np.where(finite, index, len(edges) - 1)  # infinities: "other"
    index = np.where(missing, bins, index)
    unique, position = grouped if grouped is not None else np.unique(np.asarray(chunks), return_inverse=True)
    counts = np.bincount(position * (bins + 1) + index, minlength=len(unique) * (bins + 1)).reshape(len(unique), -1)
    totals = counts.sum(axis=1)
    return {
        int(number): [round(int(c) / int(total), 5) for c in row]
        for number, row, total in zip(unique, counts, totals, strict=True)
    }


def distribution_labels(spec: dict[str, Any]) -> list[str]:
    if "categories" in spec:
        return [*spec["categories"], OTHER, MISSING_BIN]
    edges = spec["edges"]
    return [f"{edges[i]:.4g}..{edges[i + 1]:.4g}" for i in range(len(edges) - 1)] + [OTHER, MISSING_BIN]


def ranking(table: pd.DataFrame, features: list[str]) -> list[dict[str, Any]]:
    """Features ranked by drift alerts over the table's chunks, as nannyml's AlertCountRanker ranks them (alert
    count, then feature name, both descending): [{feature, alerts, rank}]."""
    drift = table.loc[(table["monitor"] == MONITOR) & (table["kind"] == KIND_UNIVARIATE)]
    counts = drift.groupby("feature")["alert"].sum().to_dict() if len(drift) else {}
    ordered = sorted(((int(counts.get(f, 0)), f) for f in features), reverse=True)
    return [{"feature": f, "alerts": n, "rank": i + 1} for i, (n, f) in enumerate(ordered)]


def drift_figure(rows: pd.DataFrame, features: list[str]) -> Any:
    """Jensen-Shannon distance of the top features per chunk, with each feature's threshold and alerts."""
    figure = new_figure()
    for index, feature in enumerate(features):
        mine = rows.loc[rows["feature"] == feature].sort_values("chunk_start")
        colour = FEATURE_COLOURS[index % len(FEATURE_COLOURS)]
        x = [t.isoformat() for t in mine["chunk_start"]]
        figure.add_scatter(x=x, y=mine["value"].tolist(), mode="lines+markers", name=feature, line={"color": colour})
        thresholds = finite(mine["upper_threshold"].dropna().head(1))
        if thresholds and x:
            figure.add_scatter(
                x=[x[0], x[-1]],
                y=[thresholds[0]] * 2,
                mode="lines",
                name=f"{feature} threshold",
                line={"color": colour, "dash": "dash", "width": 1},
                hoverinfo="skip",
            )
        alert_markers(figure, mine, f"{feature} alert")
    figure.update_layout(
        title="Drift: Jensen-Shannon distance from the reference",
        xaxis_title="Chunk start (UTC)",
        yaxis_title="Jensen-Shannon distance",
        height=420,
    )
    return figure


class DriftMonitor(Monitor):
    """Each feature's and output's distance from the reference (nannyml's methods and thresholds), prediction
    statistics and multivariate drift per chunk."""

    name: ClassVar[str] = MONITOR
    baseline_type: ClassVar[type] = DriftBaseline
    segmentable: ClassVar[bool] = True

    @classmethod
    def enabled(cls, config: Any) -> bool:
        return bool(config.estimation.uses_drift)

    def columns(self) -> list[str]:
        return self.config.feature_names

    def fitting_key(self) -> dict[str, Any]:
        return {
            "schema": ESTIMATOR_SCHEMA,
            "features": [f.model_dump(mode="json") for f in self.config.features],
            "chunking": self.config.chunking.model_dump(mode="json"),
            "drift_method": DRIFT_METHOD,
            "drift": self.config.drift.model_dump(mode="json"),
            "outputs": self.config.prediction_columns if self.config.drift.outputs else [],
            "fit_seed": FIT_SEED,
        }

    def fit(self, reference: pd.DataFrame) -> DriftBaseline:
        config = self.config
        chunker = build_chunker(config)  # shared: one offset per analysis covers every calculator
        calculator = fitted(config, build_drift_calculator(config, chunker), reference)
        baseline = DriftBaseline(without_reference_copy(calculator))
        if config.drift.outputs:
            outputs = fitted(config, build_output_drift_calculator(config, chunker), reference)
            baseline.outputs = without_reference_copy(outputs)
        if config.drift.multivariate:
            baseline.multivariate = fitted(config, build_multivariate_calculator(config, chunker), reference)
        baseline.distributions = {
            f.name: reference_distribution(reference[f.name], f.type == "categorical") for f in config.features
        }
        return baseline

    def _univariate_subjects(self, columns: list[str], categorical: set[str]) -> list[tuple[tuple[str, ...], str, str]]:
        drift = self.config.drift
        subjects: list[tuple[tuple[str, ...], str, str]] = []
        for column in columns:
            methods = drift.categorical_methods if column in categorical else drift.continuous_methods
            subjects.extend(((column, method), method, column) for method in methods)
        return subjects

    def analyse(self, baseline: DriftBaseline, data: AnalysisData) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        config = self.config
        features = config.feature_names
        if config.chunking.size is not None:
            baseline.calculator.chunker.offset = data.chunks[0].number
        categorical = {f.name for f in config.features if f.type == "categorical"}
        subjects = self._univariate_subjects(features, categorical)
        blocks = univariate_blocks(baseline.calculator, data, subjects, KIND_UNIVARIATE)
        self._add_distributions(blocks, baseline, data)
        continuous, categorical_outputs = output_kinds(config)
        outputs = [*continuous, *categorical_outputs]
        if baseline.outputs is not None:
            subjects = self._univariate_subjects(outputs, set(categorical_outputs))
            blocks += univariate_blocks(baseline.outputs, data, subjects, KIND_PREDICTION)
            blocks += _prediction_statistics(data, continuous)
        if baseline.multivariate is not None:
            blocks.append(multivariate_block(baseline.multivariate, data, features))
        unique, position = data.chunk_groups
        rows = np.bincount(position, minlength=len(unique))
        by_number = {c.number: c.key for c in data.chunks}
        keys = [by_number[int(n)] for n in unique]
        for feature in features:
            missing = np.bincount(position, weights=data.missing(feature), minlength=len(unique))
            blocks.append(
                pd.DataFrame(
                    {
                        "chunk_key": keys,
                        "feature": feature,
                        "metric": METRIC_MISSING,
                        "kind": KIND_DATA_QUALITY,
                        "value": missing / rows,  # a chunk's share of missing values (whole counts: exact)
                        "alert": False,
                    }
                )
            )
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return empty_table()
        return with_chunks(pd.concat(blocks, ignore_index=True), data.chunks, MONITOR)

    def _add_distributions(self, blocks: list[Any], baseline: DriftBaseline, data: AnalysisData) -> None:
        """Each feature's shares per chunk, beside the reference's, in the detail of its first method's rows."""
        if not baseline.distributions:
            return
        by_number = {c.number: c.key for c in data.chunks}
        numbers = data.frame[CHUNK].to_numpy()
        detail: dict[tuple[str, str], str] = {}
        for feature, spec in baseline.distributions.items():
            bins = distribution_labels(spec)
            shares_of = chunk_shares(spec, data.frame[feature], numbers, data.chunk_groups, data.missing(feature))
            for number, shares in shares_of.items():
                key = by_number.get(number)
                if key is not None:
                    document = {"bins": bins, "reference": spec["reference"], "chunk": shares}
                    detail[(key, feature)] = json.dumps(document, separators=(",", ":"))
        seen: set[str] = set()
        for block in blocks:
            feature = str(block["feature"].iloc[0]) if len(block) else ""
            if feature in seen:
                continue
            seen.add(feature)
            block["detail"] = [detail.get((k, feature)) for k in block["chunk_key"]]

    def lake_files(self, table: pd.DataFrame) -> dict[str, bytes]:
        """The drift rows of each analysed chunk, for Athena's `drift` table (the table is converted once)."""
        import io

        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        mine = table.loc[table["monitor"] == MONITOR].assign(model=self.config.name, run_id=None)
        if not len(mine):
            return {}
        arrow = pa.Table.from_pandas(mine.reset_index(drop=True), preserve_index=False)
        # A column without any value (e.g. `detail` before distributions are drawn) would be Parquet's null type,
        # which Athena cannot read as the string the Glue table declares.
        fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in arrow.schema]
        arrow = arrow.cast(pa.schema(fields, metadata=arrow.schema.metadata))
        starts = mine["chunk_start"].to_numpy()
        files: dict[str, bytes] = {}
        for start in np.unique(starts):
            buffer = io.BytesIO()
            pq.write_table(arrow.take(np.flatnonzero(starts == start)), buffer)
            files[drift_key(self.config.name, _aware(start))] = buffer.getvalue()
        return files

    def summarise(self, table: pd.DataFrame) -> dict[str, Any]:
        """The window's top features by drift alerts (configured number), those with alerts, and per chunk the
        features in drift alert and the top features' missing-value rates (a feature an upstream stops sending
        shows up); the chunks in multivariate drift alert."""
        ranked = ranking(table, self.config.feature_names)
        top_n = self.config.estimation.top_features
        top = [r["feature"] for r in ranked[:top_n]]
        mine = table.loc[table["monitor"] == MONITOR]
        # Each chunk's counts from one pass over the rows (a filter per chunk was most of the summary's time)
        ends = mine.groupby("chunk_start", sort=True)["chunk_end"].first()
        alerting = mine.loc[(mine["kind"] == KIND_UNIVARIATE) & mine["alert"]]
        in_alert = alerting.groupby("chunk_start")["feature"].nunique().to_dict()
        rates = mine.loc[(mine["metric"] == METRIC_MISSING) & mine["feature"].isin(top)]
        rates_of: dict[Any, dict[str, float]] = {}
        values = rates["value"].astype(float)
        for start, feature, value in zip(rates["chunk_start"], rates["feature"], values, strict=True):
            rates_of.setdefault(start, {})[feature] = value  # the last row of a feature, as a dict of them keeps
        per_chunk = []
        for start, end in ends.items():
            rate_of = rates_of.get(start, {})
            per_chunk.append(
                {
                    "chunk_start": _iso(start),
                    "chunk_end": _iso(end),
                    "features_in_drift_alert": int(in_alert.get(start, 0)),
                    "missing_rate": {f: rate_of[f] for f in top if f in rate_of},
                }
            )
        multivariate = mine.loc[(mine["kind"] == KIND_MULTIVARIATE) & mine["alert"]]
        return {
            "top_features": top,
            "top_drifting_features": [r["feature"] for r in ranked[:top_n] if r["alerts"] > 0],
            "multivariate_alert_chunks": [_iso(s) for s in sorted(multivariate["chunk_start"].unique())],
            "per_chunk": per_chunk,
        }

    def report(self, table: pd.DataFrame, summary: dict[str, Any]) -> list[Section]:
        """The distance per chunk of the top features that alerted; every feature's distance (heatmap); multivariate
        drift; the predictions' statistics; those features' distributions, reference vs. the degraded chunk. Features
        no drift alert names are not put forward (the heatmap still shows them)."""
        mine = table.loc[table["monitor"] == MONITOR]
        drift = mine.loc[mine["kind"] == KIND_UNIVARIATE]
        top = list(summary.get("top_drifting_features", []))
        sections = []
        if len(drift) and top:
            first = drift.loc[drift["metric"] == drift["metric"].iloc[0]]
            sections.append(Section("Drift of the top features", partial(drift_figure, first, top)))
        if len(drift):
            sections.append(Section("Drift of every feature", partial(heatmap_figure, drift)))
        multivariate = mine.loc[mine["kind"] == KIND_MULTIVARIATE]
        if len(multivariate):
            sections.append(
                Section("Multivariate drift (PCA reconstruction error)", partial(multivariate_figure, multivariate))
            )
        statistics = mine.loc[mine["kind"] == KIND_PREDICTION_STATISTICS]
        if len(statistics):
            sections.append(Section("Prediction statistics per chunk", partial(prediction_figure, statistics)))
        degraded = degraded_chunk(table)
        if degraded is not None and top:
            rows = drift.loc[(drift["chunk_start"] == degraded) & drift["feature"].isin(top) & drift["detail"].notna()]
            if len(rows):
                title = f"Distributions of the top features: reference vs. the chunk of {_iso(degraded)}"
                sections.append(Section(title, partial(distribution_figure, rows, top)))
        return sections

    def publish(self, rows: list[ResultRow], summary: dict[str, Any]) -> Publication:
        """Features in drift alert (Model) and the top features' missing-value rate (Model, Feature) per chunk,
        multivariate drift (Model) and each output's drift (Model, Output; the first configured method), when the
        config asks for drift metrics. Drift alerts are not notified on their own: the performance notification
        names the features drifting in its chunks."""
        out = Publication()
        if not self.config.estimation.drift_metrics:
            return out
        top = set(summary.get("top_features", []))
        drifting: dict[Any, set[str]] = {}
        for row in rows:
            if row.kind == KIND_UNIVARIATE:
                found = drifting.setdefault(row.chunk_start, set())
                if row.alert and row.feature is not None:
                    found.add(row.feature)
        model = self.config.name
        for start, features in sorted(drifting.items()):
            out.points.append(
                MetricPoint(
                    METRIC_FEATURES_DRIFTING,
                    model_dimensions(model),
                    start,
                    float(len(features)),
                    series=SERIES_DRIFT,
                    ledger_metric=METRIC_FEATURES_DRIFTING,
                    unit="Count",
                )
            )
        for row in sorted(rows, key=lambda r: (r.chunk_start, r.feature or "")):
            if row.metric == METRIC_MISSING and row.feature is not None and row.feature in top:
                out.points.append(
                    MetricPoint(
                        METRIC_MISSING_RATE,
                        (*model_dimensions(model), (DIM_FEATURE, row.feature)),
                        row.chunk_start,
                        row.value,
                        series=SERIES_MISSING,
                        ledger_metric=row.feature,
                        detail=True,  # per feature
                    )
                )
        first = {
            c: (
                self.config.drift.categorical_methods[0]
                if c == "y_pred" and not self._regression
                else self.config.drift.continuous_methods[0]
            )
            for c in self.config.prediction_columns
        }
        for row in sorted(rows, key=lambda r: (r.chunk_start, r.feature or "")):
            if row.kind == KIND_MULTIVARIATE:
                out.points.append(
                    MetricPoint(
                        METRIC_MULTIVARIATE_DRIFT,
                        model_dimensions(model),
                        row.chunk_start,
                        row.value,
                        series=SERIES_MULTIVARIATE,
                        ledger_metric=METRIC_MULTIVARIATE_DRIFT,
                        version_parts=(row.rows,),
                    )
                )
            elif row.kind == KIND_PREDICTION and row.feature is not None and first.get(row.feature) == row.metric:
                out.points.append(
                    MetricPoint(
                        METRIC_PREDICTION_DRIFT,
                        (*model_dimensions(model), (DIM_OUTPUT, row.feature)),
                        row.chunk_start,
                        row.value,
                        series=SERIES_PREDICTION,
                        ledger_metric=row.feature,
                        version_parts=(row.rows,),
                    )
                )
        return out

    @property
    def _regression(self) -> bool:
        return self.config.problem_type.value == "regression"


def coinciding_drift(rows: list[ResultRow], starts: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
    """Per chunk start: the features in univariate drift alert in that chunk, with their distance, method and
    threshold, most drifted (distance over threshold) first; chunks without any are left out."""
    wanted = set(starts)
    found: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        if row.monitor != MONITOR or row.kind != KIND_UNIVARIATE or not row.alert or row.chunk_start not in wanted:
            continue
        found.setdefault(row.chunk_start, []).append(
            {"feature": row.feature, "method": row.metric, "distance": row.value, "threshold": row.upper_threshold}
        )

    def excess(entry: dict[str, Any]) -> float:
        distance, threshold = entry["distance"] or 0.0, entry["threshold"]
        return distance / threshold if threshold else distance

    return {start: sorted(entries, key=lambda e: (-excess(e), str(e["feature"]))) for start, entries in found.items()}


def _prediction_statistics(data: AnalysisData, columns: list[str]) -> list[Any]:
    """min, max, mean and standard deviation (ddof 1, as pandas) of each numeric output per chunk."""
    import pandas as pd

    by_number = {c.number: c.key for c in data.chunks}
    blocks = []
    for column in columns:
        grouped = data.frame[column].astype("float64").groupby(data.frame[CHUNK], sort=True)
        stats = grouped.agg(["min", "max", "mean", "std"])
        keys = [by_number[int(n)] for n in stats.index]
        for statistic in PREDICTION_STATISTICS:
            blocks.append(
                pd.DataFrame(
                    {
                        "chunk_key": keys,
                        "feature": column,
                        "metric": statistic,
                        "kind": KIND_PREDICTION_STATISTICS,
                        "value": stats[statistic].astype("float64").to_numpy(),
                        "alert": False,
                    }
                )
            )
    return blocks


def degraded_chunk(table: pd.DataFrame) -> Any | None:
    """The latest chunk with a performance alert, else the latest with the most features in drift alert."""
    alerts = table.loc[(table["monitor"] == "performance") & table["alert"]]
    if len(alerts):
        return alerts["chunk_start"].max()
    drift = table.loc[(table["monitor"] == MONITOR) & (table["kind"] == KIND_UNIVARIATE) & table["alert"]]
    if not len(drift):
        return None
    counts = drift.groupby("chunk_start")["feature"].nunique()
    return counts[counts == counts.max()].index.max()


def heatmap_figure(rows: pd.DataFrame) -> Any:
    """Every feature's distance (first method) per chunk; alerts marked."""
    import plotly.graph_objects as go

    first = rows.loc[rows["metric"] == rows["metric"].iloc[0]]
    table = first.pivot_table(index="feature", columns="chunk_start", values="value", aggfunc="first")
    alerts = first.pivot_table(index="feature", columns="chunk_start", values="alert", aggfunc="max")
    text = [["alert" if a else "" for a in row] for row in alerts.reindex_like(table).fillna(False).to_numpy()]
    figure = new_figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=[t.isoformat() for t in table.columns],
            y=list(table.index),
            text=text,
            texttemplate="%{text}",
            colorscale="Purples",
            colorbar={"title": str(first["metric"].iloc[0])},
        )
    )
    figure.update_layout(
        title=f"Drift of every feature ({first['metric'].iloc[0]}; 'alert' past nannyml's threshold)",
        xaxis_title="Chunk start (UTC)",
        height=max(320, 28 * len(table) + 160),
    )
    return figure


def multivariate_figure(rows: pd.DataFrame) -> Any:
    """PCA reconstruction error per chunk with its thresholds and alerts."""
    from_rows = rows.sort_values("chunk_start")
    x = [t.isoformat() for t in from_rows["chunk_start"]]
    figure = new_figure()
    figure.add_scatter(x=x, y=from_rows["value"].tolist(), mode="lines+markers", name="reconstruction error")
    for column in ("upper_threshold", "lower_threshold"):
        values = finite(from_rows[column].dropna().head(1))
        if values and x:
            figure.add_scatter(
                x=[x[0], x[-1]],
                y=[values[0]] * 2,
                mode="lines",
                name=column.replace("_", " "),
                line={"color": ALERT_COLOUR, "dash": "dash"},
                hoverinfo="skip",
            )
    alert_markers(figure, from_rows, "alert")
    figure.update_layout(
        title="Multivariate drift: PCA data reconstruction error",
        xaxis_title="Chunk start (UTC)",
        yaxis_title="reconstruction error",
        height=380,
    )
    return figure


def prediction_figure(rows: pd.DataFrame) -> Any:
    """Mean of each numeric output per chunk with its min-max range and +-1 standard deviation."""
    figure = new_figure()
    for index, (column, mine) in enumerate(rows.groupby("feature", sort=True)):
        wide = mine.pivot_table(index="chunk_start", columns="metric", values="value", aggfunc="first")
        x = [t.isoformat() for t in wide.index]
        colour = FEATURE_COLOURS[index % len(FEATURE_COLOURS)]
        figure.add_scatter(x=x, y=wide["max"].tolist(), mode="lines", line={"width": 0}, showlegend=False)
        figure.add_scatter(
            x=x,
            y=wide["min"].tolist(),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(59, 130, 196, 0.12)",
            name=f"{column} min-max",
        )
        figure.add_scatter(
            x=x,
            y=wide["mean"].tolist(),
            mode="lines+markers",
            name=f"{column} mean",
            line={"color": colour},
            error_y={"type": "data", "array": wide["std"].fillna(0).tolist(), "visible": True},
        )
    figure.update_layout(
        title="Predictions per chunk: mean +- standard deviation, min-max band",
        xaxis_title="Chunk start (UTC)",
        height=380,
    )
    return figure


def distribution_figure(rows: pd.DataFrame, top: list[str]) -> Any:
    """Each top feature's shares per bin: the reference against the chunk (bars side by side)."""
    from plotly.subplots import make_subplots

    features = [f for f in top if f in set(rows["feature"])]
    figure = make_subplots(rows=len(features), cols=1, subplot_titles=features, figure=new_figure())
    for index, feature in enumerate(features, start=1):
        document = json.loads(rows.loc[rows["feature"] == feature, "detail"].iloc[0])
        figure.add_bar(
            x=document["bins"],
            y=document["reference"],
            name="reference",
            marker_color=FEATURE_COLOURS[1],
            showlegend=index == 1,
            row=index,
            col=1,
        )
        figure.add_bar(
            x=document["bins"],
            y=document["chunk"],
            name="chunk",
            marker_color=ALERT_COLOUR,
            showlegend=index == 1,
            row=index,
            col=1,
        )
    figure.update_layout(
        barmode="group",
        height=300 * max(1, len(features)),
        title="Share of rows per bin: reference vs. chunk",
    )
    return figure


def _aware(value: Any) -> Any:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


def _iso(value: Any) -> str:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")
