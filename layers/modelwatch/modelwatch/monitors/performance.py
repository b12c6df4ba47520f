"""Performance: nannyml's label-free estimate (CBPE for classification, DLE for regression) and, where labels have
arrived, realized performance with the estimation error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.config.model_quality import GREATER_THAN, violates
from modelwatch.constants import (
    DIM_KIND,
    DIM_METRIC,
    KIND_ERROR,
    KIND_ESTIMATED,
    KIND_LOWER_BOUND,
    KIND_REALIZED,
    KIND_UPPER_BOUND,
    METRIC_PERFORMANCE,
)
from modelwatch.lake.layout import model_quality_keys
from modelwatch.monitors.base import AnalysisData, ChunkInfo, Gated, MetricPoint, Monitor, Publication
from modelwatch.monitors.direction import Crossing, band_beyond, classify, crossed_side
from modelwatch.monitors.frames import CHUNK, TARGET, TIMESTAMP
from modelwatch.monitors.mm_model_quality import (
    KIND_MODEL_MONITOR,
    STATISTICS_METRIC,
    chunk_seed,
    dumps,
    metric_names_published,
    non_scalar_members,
    scalar_values,
    standard_deviations,
    statistics_document,
    violation_entry,
)
from modelwatch.monitors.nml import (
    DLE_HYPERPARAMETERS,
    ESTIMATOR_SCHEMA,
    FIT_SEED,
    build_chunker,
    build_estimator,
    build_realized_calculator,
    fitted,
)
from modelwatch.monitors.plots import (
    ESTIMATED_COLOUR,
    REALIZED_COLOUR,
    Section,
    alert_markers,
    finite,
    new_figure,
    threshold_lines,
)
from modelwatch.monitors.results import VALUE_FIELDS, ResultRow, conform, empty_table
from modelwatch.units import model_dimensions

if TYPE_CHECKING:
    import pandas as pd

MONITOR = "performance"


@dataclass
class PerformanceBaseline:
    """CBPE or DLE fitted on the reference, and the realized-performance calculator once labels first arrive."""

    estimator: Any
    realized: Any | None = None


def _analysis_rows(result: Any) -> pd.DataFrame:
    frame = result.to_df()
    return frame.loc[frame[("chunk", "period")] == "analysis"].reset_index(drop=True)


def _long_rows(frame: pd.DataFrame, metrics: list[str], kind: str) -> list[pd.DataFrame]:
    """One long block per metric: a row per chunk with the VALUE_FIELDS (NaN where absent) and the alert flag."""
    import numpy as np
    import pandas as pd

    blocks = []
    for metric in metrics:
        block = pd.DataFrame(
            {"chunk_key": frame[("chunk", "key")].astype(str).to_numpy(), "metric": metric, "kind": kind}
        )
        for name in VALUE_FIELDS:
            column = (metric, name)
            block[name] = frame[column].astype("float64").to_numpy() if column in frame.columns else np.nan
        if (metric, "alert") in frame.columns:  # None and NaN (no value) are no alert
            alerts = frame[(metric, "alert")].tolist()
            block["alert"] = np.array([a is not None and a == a and bool(a) for a in alerts], dtype=bool)
        else:
            block["alert"] = False
        blocks.append(block)
    return blocks


def chunk_table(chunks: list[ChunkInfo]) -> pd.DataFrame:
    """The chunk columns of the results table, one row per chunk."""
    import pandas as pd

    return pd.DataFrame.from_records(
        [
            {
                "chunk_key": c.key,
                "chunk_start": pd.Timestamp(c.start),
                "chunk_end": pd.Timestamp(c.end),
                "rows": c.rows,
                "labelled_rows": c.labelled_rows,
                "label_coverage": c.label_coverage,
            }
            for c in chunks
        ]
    )


def tidy(metrics: list[str], estimated: Any, realized: Any | None, chunks: list[ChunkInfo]) -> pd.DataFrame:
    """nannyml's results (analysis period) as results rows: realized rows only for chunks with labels, and the
    estimation error (estimated minus realized) on both rows of a chunk and metric."""
    import pandas as pd

    blocks = _long_rows(_analysis_rows(estimated), metrics, KIND_ESTIMATED)
    if realized is not None:
        blocks += _long_rows(_analysis_rows(realized), metrics, KIND_REALIZED)
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        return empty_table()
    table = pd.concat(blocks, ignore_index=True)
    # nannyml names chunks by the chunk scheme's key; a model version's part of a chunk has its own key.
    ours = {c.scheme_key: c.key for c in chunks}
    table["chunk_key"] = table["chunk_key"].map(lambda key: ours.get(key, key))
    table = table.merge(chunk_table(chunks), on="chunk_key", how="inner", validate="many_to_one")
    table = table.loc[(table["kind"] != KIND_REALIZED) | (table["labelled_rows"] > 0)]
    keys = ["chunk_key", "metric"]
    estimated_values = table.loc[table["kind"] == KIND_ESTIMATED, [*keys, "value"]].rename(columns={"value": "est"})
    realized_values = table.loc[table["kind"] == KIND_REALIZED, [*keys, "value"]].rename(columns={"value": "real"})
    error = estimated_values.merge(realized_values, on=keys, how="inner")
    error["estimation_error"] = error["est"] - error["real"]
    table = table.merge(error[[*keys, "estimation_error"]], on=keys, how="left")
    table["monitor"] = MONITOR
    table["chunk_index"] = 0  # numbered over the window when the run is assembled
    table = table.sort_values(["chunk_start", "metric", "kind"], kind="stable")
    return conform(table)


def model_monitor_rows(config: ModelConfig, data: AnalysisData) -> pd.DataFrame:
    """Model Monitor's model-quality statistics of each chunk's labelled rows: a row per scalar metric (kind
    model_monitor, sampling_error its standard deviation), the `statistics` row (value the labelled rows, detail
    the confusion matrix and curves as JSON) and, per Model Monitor constraint on a metric nannyml cannot estimate,
    a realized row with the constraint as its threshold."""
    import numpy as np
    import pandas as pd

    frame = data.frame
    labelled = frame.loc[frame[TARGET].notna()]
    constraints = config.estimation.model_monitor.constraints
    by_number = {c.number: c for c in data.chunks}
    records: list[dict[str, Any]] = []
    for number, rows in labelled.groupby(CHUNK, sort=True):
        chunk = by_number.get(int(number))
        if chunk is None:
            continue
        values = scalar_values(config, rows, TARGET)
        deviations = standard_deviations(config, rows, chunk_seed(chunk.key), TARGET)
        for metric, value in values.items():
            records.append(
                {
                    "chunk_key": chunk.key,
                    "metric": metric,
                    "kind": KIND_MODEL_MONITOR,
                    "value": value,
                    "sampling_error": deviations[metric],
                }
            )
        records.append(
            {
                "chunk_key": chunk.key,
                "metric": STATISTICS_METRIC,
                "kind": KIND_MODEL_MONITOR,
                "value": float(len(rows)),
                "detail": json.dumps(non_scalar_members(config, rows, TARGET), separators=(",", ":")),
            }
        )
        for metric in config.realized_only_metrics:
            constraint = constraints[metric]
            upper = constraint.comparison_operator == GREATER_THAN
            records.append(
                {
                    "chunk_key": chunk.key,
                    "metric": metric,
                    "kind": KIND_REALIZED,
                    "value": values[metric],
                    "upper_threshold": constraint.threshold if upper else np.nan,
                    "lower_threshold": np.nan if upper else constraint.threshold,
                    "alert": violates(values[metric], constraint.threshold, constraint.comparison_operator),
                }
            )
    if not records:
        return empty_table()
    table = pd.DataFrame.from_records(records).merge(
        chunk_table(data.chunks), on="chunk_key", how="inner", validate="many_to_one"
    )
    table["monitor"] = MONITOR
    table["chunk_index"] = 0
    return conform(table)


def model_monitor_files(config: ModelConfig, table: pd.DataFrame) -> dict[str, bytes]:
    """Model Monitor's statistics.json and constraint violations (one JSON line each, with the model and the
    chunk's window) of every chunk of `table` with Model Monitor statistics. A violation is a stored alert of the
    realized row a constraint thresholds (nannyml's metric, or the Model Monitor metric itself)."""
    files: dict[str, bytes] = {}
    quality = config.estimation.model_monitor
    mine = table.loc[table["monitor"] == MONITOR]
    statistics = mine.loc[mine["kind"] == KIND_MODEL_MONITOR]
    realized = mine.loc[mine["kind"] == KIND_REALIZED]
    targets = config.constrained_metrics
    for start, rows in statistics.groupby("chunk_start", sort=True):
        summary = rows.loc[rows["metric"] == STATISTICS_METRIC]
        if not len(summary):
            continue
        scalars = {
            str(r.metric): (float(r.value), float(r.sampling_error))
            for r in rows.itertuples()
            if r.metric != STATISTICS_METRIC
        }
        members = json.loads(summary["detail"].iloc[0] or "{}")
        window = {
            "model": config.name,
            "chunk_start": _iso(start),
            "chunk_end": _iso(summary["chunk_end"].iloc[0]),
        }
        document = statistics_document(config, int(summary["value"].iloc[0]), scalars, members)
        entries = []
        chunk_realized = realized.loc[realized["chunk_start"] == start]
        for metric, constraint in quality.constraints.items():
            found = chunk_realized.loc[chunk_realized["metric"] == targets.get(metric, metric)]
            if len(found) and bool(found["alert"].iloc[0]):
                value = float(found["value"].iloc[0])
                entries.append(violation_entry(metric, value, constraint.threshold, constraint.comparison_operator))
        statistics_key, violations_key = model_quality_keys(config.name, _aware(start))
        files[statistics_key] = dumps({**document, **window}, line=True)
        files[violations_key] = dumps({"violations": entries, **window}, line=True)
    return files


def _iso(value: Any) -> str:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _aware(value: Any) -> datetime:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


def coverage_passes(row: ResultRow, min_label_coverage: float) -> bool:
    return row.label_coverage is not None and row.label_coverage >= min_label_coverage


def _coverage_reason(row: ResultRow, gate: float) -> str:
    coverage = "unknown" if row.label_coverage is None else f"{row.label_coverage:.1%}"
    return f"label coverage {coverage} is below min_label_coverage {gate:.1%}"


def performance_figure(metric: str, rows: pd.DataFrame) -> Any:
    """Estimated (with its confidence band) and, where labelled, realized values of one metric per chunk."""
    estimated = rows.loc[rows["kind"] == KIND_ESTIMATED].sort_values("chunk_start")
    realized = rows.loc[rows["kind"] == KIND_REALIZED].sort_values("chunk_start")
    x = [t.isoformat() for t in estimated["chunk_start"]]
    figure = new_figure()
    upper = estimated["upper_confidence_boundary"].tolist()
    lower = estimated["lower_confidence_boundary"].tolist()
    if finite(upper) and finite(lower):
        figure.add_scatter(x=x, y=upper, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        figure.add_scatter(
            x=x,
            y=lower,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(59, 2, 128, 0.15)",
            name="Confidence band",
            hoverinfo="skip",
        )
    figure.add_scatter(
        x=x, y=estimated["value"].tolist(), mode="lines+markers", name="Estimated", line={"color": ESTIMATED_COLOUR}
    )
    if len(realized):
        figure.add_scatter(
            x=[t.isoformat() for t in realized["chunk_start"]],
            y=realized["value"].tolist(),
            mode="lines+markers",
            name="Realized",
            line={"color": REALIZED_COLOUR},
        )
    if x:
        threshold_lines(figure, x, estimated)
    elif len(realized):  # a metric nannyml cannot estimate: its Model Monitor constraint on the realized values
        threshold_lines(figure, [t.isoformat() for t in realized["chunk_start"]], realized)
    alert_markers(figure, rows, "Alert", size=11, line={"width": 2})
    title = f"Estimated performance ({metric})"
    if len(realized) and not x:
        title = f"Realized performance ({metric})"
    elif len(realized):
        title = f"Estimated performance vs Realized performance ({metric})"
    figure.update_layout(title=title, xaxis_title="Chunk start (UTC)", yaxis_title=metric, height=420)
    return figure


class PerformanceMonitor(Monitor):
    """Estimated performance on every complete chunk; realized performance on the chunks with labels."""

    name: ClassVar[str] = MONITOR
    baseline_type: ClassVar[type] = PerformanceBaseline
    reads_labels: ClassVar[bool] = True
    segmentable: ClassVar[bool] = True

    def columns(self) -> list[str]:
        # CBPE needs only the predictions; DLE models the features too.
        return self.config.feature_names if self.config.problem_type is ProblemType.REGRESSION else []

    def fitting_key(self) -> dict[str, Any]:
        config = self.config
        return {
            "schema": ESTIMATOR_SCHEMA,
            "problem_type": config.problem_type.value,
            "features": [f.model_dump(mode="json") for f in config.features],
            "classes": list(config.classes),
            "metrics": config.metrics,
            "thresholds": {k: v.model_dump(mode="json") for k, v in sorted(config.thresholds.items())},
            "chunking": config.chunking.model_dump(mode="json"),
            "dle_hyperparameters": DLE_HYPERPARAMETERS if config.problem_type is ProblemType.REGRESSION else None,
            "fit_seed": FIT_SEED,
        }

    def fit(self, reference: pd.DataFrame) -> PerformanceBaseline:
        estimator = build_estimator(self.config, build_chunker(self.config))
        return PerformanceBaseline(fitted(self.config, estimator, reference))

    def incomplete(self, baseline: PerformanceBaseline, data: AnalysisData) -> bool:
        return baseline.realized is None and data.labelled

    def complete(self, baseline: PerformanceBaseline, reference: pd.DataFrame, data: AnalysisData) -> None:
        """The realized calculator is fitted (sharing the estimator's chunker) the first time labels arrive."""
        if not self.incomplete(baseline, data):
            return
        chunker = baseline.estimator.chunker
        chunker.offset = 0  # the reference is split from its first row
        baseline.realized = fitted(self.config, build_realized_calculator(self.config, chunker), reference)

    def _estimator_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Only the columns the estimator reads, not the ids or labels: nannyml copies every column of every chunk."""
        return frame[[*self.columns(), *self.config.prediction_columns, TIMESTAMP, CHUNK]]

    def analyse(self, baseline: PerformanceBaseline, data: AnalysisData) -> pd.DataFrame:
        if self.config.chunking.size is not None:
            # Size chunks are split by position: tell the chunker which stream chunk the first analysed one is.
            baseline.estimator.chunker.offset = data.chunks[0].number
        estimated = baseline.estimator.estimate(self._estimator_input(data.frame))
        realized = None
        if data.labelled and baseline.realized is not None:
            # Realized on every analysed chunk (nannyml gives NaN where a chunk has no label); only chunks with
            # labels keep their realized rows.
            realized = baseline.realized.calculate(data.frame)
        table = tidy(self.config.metrics, estimated, realized, data.chunks)
        if self.config.estimation.model_monitor.enabled and data.labelled:
            import pandas as pd

            extra = model_monitor_rows(self.config, data)
            if len(extra):
                table = pd.concat([table, extra], ignore_index=True)
                table = conform(table.sort_values(["chunk_start", "metric", "kind"], kind="stable"))
        return table

    def lake_files(self, table: pd.DataFrame) -> dict[str, bytes]:
        """Model Monitor's statistics.json and constraint violations of each analysed labelled chunk (when the
        model's Model Monitor compatibility asks for them)."""
        quality = self.config.estimation.model_monitor
        if not quality.enabled or not quality.files:
            return {}
        return model_monitor_files(self.config, table)

    def publish(self, rows: list[ResultRow], summary: dict[str, Any]) -> Publication:
        """Estimated value and confidence bounds per chunk; realized value and estimation error past the coverage
        gate. Crossings: estimates always, realized values only past the gate (few labels are noise); each is an
        alert when it lies on the side that is worse for the metric, else an improvement."""
        gate = self.config.estimation.min_label_coverage
        out = Publication()
        estimates = {(r.chunk_start, r.metric): r for r in rows if r.kind == KIND_ESTIMATED}
        quality = self.config.estimation.model_monitor
        published = set(metric_names_published(self.config)) if quality.metrics else set()
        for row in rows:
            if row.kind == KIND_MODEL_MONITOR:
                if row.metric in published:
                    point = self._model_monitor_point(row)
                    if coverage_passes(row, gate):
                        out.points.append(point)
                    else:
                        out.gated.append(Gated(point, _coverage_reason(row, gate)))
                continue
            if row.kind == KIND_ESTIMATED:
                out.points.append(self._point(row, KIND_ESTIMATED, row.value))
                out.points.append(self._point(row, KIND_LOWER_BOUND, row.lower_bound))
                out.points.append(self._point(row, KIND_UPPER_BOUND, row.upper_bound))
                if row.alert:
                    self._crossing(row, out)
            elif row.kind == KIND_REALIZED:
                estimate = estimates.get((row.chunk_start, row.metric))
                error = None
                if estimate is not None and estimate.value is not None and row.value is not None:
                    error = estimate.value - row.value
                realized = self._point(row, KIND_REALIZED, row.value, row.label_coverage)
                errors = [self._point(row, KIND_ERROR, error, row.label_coverage)] if estimate else []
                if coverage_passes(row, gate):
                    out.points.append(realized)
                    out.points.extend(errors)
                    if row.alert:
                        self._crossing(row, out)
                else:
                    reason = _coverage_reason(row, gate)
                    out.gated.extend(Gated(point, reason) for point in [realized, *errors])
        return out

    def _crossing(self, row: ResultRow, out: Publication) -> None:
        """An alerting row as an alert (worse side) or an improvement (better side); with `band_beyond_threshold`,
        an estimate counts only when its whole confidence band lies past the threshold."""
        side = crossed_side(row.value, row.lower_threshold, row.upper_threshold)
        beyond = side is None or band_beyond(
            row.lower_bound, row.upper_bound, row.lower_threshold, row.upper_threshold, side
        )
        if self.config.alerts.band_beyond_threshold and not beyond:
            return
        if classify(row.metric, row.value, row.lower_threshold, row.upper_threshold) is Crossing.IMPROVEMENT:
            out.improvements.append(row)
        else:
            out.alerts.append(row)

    def _model_monitor_point(self, row: ResultRow) -> MetricPoint:
        """A Model Monitor metric under its bare name, with its Endpoint and MonitoringSchedule dimensions."""
        return MetricPoint(
            metric_name=row.metric,
            dimensions=self.config.model_quality_dimensions,
            timestamp=row.chunk_start,
            value=row.value,
            series=KIND_MODEL_MONITOR,
            ledger_metric=row.metric,
            version_parts=(row.rows, row.label_coverage),
            namespace=self.config.model_quality_namespace,
            detail=True,  # a series per metric name, read by no alarm or dashboard graph of modelwatch
        )

    def report(self, table: pd.DataFrame, summary: dict[str, Any]) -> list[Section]:
        """Per metric: estimated (with its confidence band) against realized where labelled, thresholds, alerts;
        realized values of the Model Monitor constraints nannyml cannot estimate."""
        mine = table.loc[table["monitor"] == MONITOR]
        sections = []
        for metric in self.config.metrics:
            rows = mine.loc[mine["metric"] == metric]
            labelled = bool((rows["kind"] == KIND_REALIZED).any())
            title = f"{metric}: estimated vs realized" if labelled else f"{metric}: estimated"
            sections.append(Section(title, partial(performance_figure, metric, rows)))
        for metric in self.config.realized_only_metrics:  # Model Monitor constraints nannyml cannot estimate
            rows = mine.loc[(mine["metric"] == metric) & (mine["kind"] == KIND_REALIZED)]
            title = f"{metric}: realized (Model Monitor constraint)"
            sections.append(Section(title, partial(performance_figure, metric, rows)))
        return sections

    def _point(self, row: ResultRow, kind: str, value: float | None, *parts: object) -> MetricPoint:
        return MetricPoint(
            metric_name=METRIC_PERFORMANCE,
            dimensions=(*model_dimensions(self.config.name), (DIM_METRIC, row.metric), (DIM_KIND, kind)),
            timestamp=row.chunk_start,
            value=value,
            series=kind,
            ledger_metric=row.metric,
            version_parts=(row.rows, *parts),
            detail=kind not in (KIND_ESTIMATED, KIND_REALIZED),  # bounds and estimation error
        )
