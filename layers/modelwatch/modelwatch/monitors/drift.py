"""Univariate drift of every feature (nannyml, Jensen-Shannon) per chunk, the features' missing-value rates, and
the window's ranking of the features by drift alerts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from modelwatch.constants import DIM_FEATURE, DIM_MODEL, METRIC_FEATURES_DRIFTING, METRIC_MISSING_RATE
from modelwatch.monitors.base import AnalysisData, MetricPoint, Monitor, Publication
from modelwatch.monitors.frames import CHUNK, TIMESTAMP
from modelwatch.monitors.nml import (
    DRIFT_METHOD,
    ESTIMATOR_SCHEMA,
    FIT_SEED,
    build_chunker,
    build_drift_calculator,
    fitted,
)
from modelwatch.monitors.plots import ALERT_COLOUR, FEATURE_COLOURS, Section, finite
from modelwatch.monitors.results import ResultRow, conform, empty_table

if TYPE_CHECKING:
    import pandas as pd

MONITOR = "drift"
KIND_UNIVARIATE = "univariate"
KIND_DATA_QUALITY = "data_quality"
METRIC_MISSING = "missing_rate"
SERIES_DRIFT = "drift"
SERIES_MISSING = "missing_rate"


@dataclass
class DriftBaseline:
    """nannyml's UnivariateDriftCalculator fitted on the reference."""

    calculator: Any


def ranking(table: pd.DataFrame, features: list[str]) -> list[dict[str, Any]]:
    """Features ranked by drift alerts over the table's chunks, as nannyml's AlertCountRanker ranks them (alert
    count, then feature name, both descending): [{feature, alerts, rank}]."""
    drift = table.loc[(table["monitor"] == MONITOR) & (table["metric"] == DRIFT_METHOD)]
    counts = drift.groupby("feature")["alert"].sum().to_dict() if len(drift) else {}
    ordered = sorted(((int(counts.get(f, 0)), f) for f in features), reverse=True)
    return [{"feature": f, "alerts": n, "rank": i + 1} for i, (n, f) in enumerate(ordered)]


def drift_figure(rows: pd.DataFrame, features: list[str]) -> Any:
    """Jensen-Shannon distance of the top features per chunk, with each feature's threshold and alerts."""
    import plotly.graph_objects as go

    figure = go.Figure()
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
        alerts = mine.loc[mine["alert"]]
        if len(alerts):
            figure.add_scatter(
                x=[t.isoformat() for t in alerts["chunk_start"]],
                y=alerts["value"].tolist(),
                mode="markers",
                name=f"{feature} alert",
                marker={"color": ALERT_COLOUR, "size": 10, "symbol": "diamond-open"},
            )
    figure.update_layout(
        title="Drift: Jensen-Shannon distance from the reference",
        xaxis_title="Chunk start (UTC)",
        yaxis_title="Jensen-Shannon distance",
        template="plotly_white",
        height=420,
    )
    return figure


class DriftMonitor(Monitor):
    """Jensen-Shannon distance of each feature's distribution from the reference's, with nannyml's thresholds."""

    name: ClassVar[str] = MONITOR
    baseline_type: ClassVar[type] = DriftBaseline

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
            "fit_seed": FIT_SEED,
        }

    def fit(self, reference: pd.DataFrame) -> DriftBaseline:
        calculator = build_drift_calculator(self.config, build_chunker(self.config))
        return DriftBaseline(fitted(self.config, calculator, reference))

    def analyse(self, baseline: DriftBaseline, data: AnalysisData) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        features = self.config.feature_names
        calculator = baseline.calculator
        if self.config.chunking.size is not None:
            calculator.chunker.offset = data.chunks[0].number
        result = calculator.calculate(data.frame[[*features, TIMESTAMP]]).to_df()
        result = result.loc[result[("chunk", "chunk", "period")] == "analysis"]
        keys = result[("chunk", "chunk", "key")].astype(str).to_numpy()
        blocks = []
        for feature in features:
            block = pd.DataFrame({"chunk_key": keys, "feature": feature, "metric": DRIFT_METHOD})
            block["kind"] = KIND_UNIVARIATE
            for name in ("value", "upper_threshold", "lower_threshold"):
                column = (feature, DRIFT_METHOD, name)
                block[name] = result[column].astype("float64").to_numpy() if column in result.columns else np.nan
            alerts = result[(feature, DRIFT_METHOD, "alert")].tolist()
            block["alert"] = np.array([a is not None and a == a and bool(a) for a in alerts], dtype=bool)
            blocks.append(block)
        missing = data.frame[features].isna().groupby(data.frame[CHUNK], sort=True).mean()
        by_number = {c.number: c.key for c in data.chunks}
        for feature in features:
            blocks.append(
                pd.DataFrame(
                    {
                        "chunk_key": [by_number[int(n)] for n in missing.index],
                        "feature": feature,
                        "metric": METRIC_MISSING,
                        "kind": KIND_DATA_QUALITY,
                        "value": missing[feature].astype("float64").to_numpy(),
                        "alert": False,
                    }
                )
            )
        if not blocks:
            return empty_table()
        table = pd.concat(blocks, ignore_index=True)
        chunks = pd.DataFrame(
            {
                "chunk_key": [c.key for c in data.chunks],
                "chunk_start": [pd.Timestamp(c.start) for c in data.chunks],
                "chunk_end": [pd.Timestamp(c.end) for c in data.chunks],
                "rows": [c.rows for c in data.chunks],
                "labelled_rows": [c.labelled_rows for c in data.chunks],
                "label_coverage": [c.label_coverage for c in data.chunks],
            }
        )
        table = table.merge(chunks, on="chunk_key", how="inner", validate="many_to_one")
        table["monitor"] = MONITOR
        table["chunk_index"] = 0
        return conform(table.sort_values(["chunk_start", "metric", "feature"], kind="stable"))

    def summarise(self, table: pd.DataFrame) -> dict[str, Any]:
        """The window's top features by drift alerts (configured number), those with alerts, and per chunk the
        features in drift alert and the top features' missing-value rates (a feature an upstream stops sending
        shows up)."""
        ranked = ranking(table, self.config.feature_names)
        top_n = self.config.estimation.top_features
        top = [r["feature"] for r in ranked[:top_n]]
        mine = table.loc[table["monitor"] == MONITOR]
        per_chunk = []
        for start, chunk in mine.groupby("chunk_start", sort=True):
            drift = chunk.loc[chunk["metric"] == DRIFT_METHOD]
            rates = chunk.loc[(chunk["metric"] == METRIC_MISSING) & chunk["feature"].isin(top)]
            rate_of = dict(zip(rates["feature"], rates["value"].astype(float), strict=True))
            per_chunk.append(
                {
                    "chunk_start": _iso(start),
                    "chunk_end": _iso(chunk["chunk_end"].iloc[0]),
                    "features_in_drift_alert": int(drift["alert"].sum()),
                    "missing_rate": {f: rate_of[f] for f in top if f in rate_of},
                }
            )
        return {
            "top_features": top,
            "top_drifting_features": [r["feature"] for r in ranked[:top_n] if r["alerts"] > 0],
            "per_chunk": per_chunk,
        }

    def report(self, table: pd.DataFrame, summary: dict[str, Any]) -> list[Section]:
        """The Jensen-Shannon distance of the window's top features per chunk."""
        drift = table.loc[(table["monitor"] == MONITOR) & (table["metric"] == DRIFT_METHOD)]
        top = list(summary.get("top_features", []))
        if not len(drift) or not top:
            return []
        return [Section("Drift of the top features", partial(drift_figure, drift, top))]

    def publish(self, rows: list[ResultRow], summary: dict[str, Any]) -> Publication:
        """Features in drift alert (Model) and the top features' missing-value rate (Model, Feature) per chunk,
        when the config asks for drift metrics. Drift alerts are not notified on their own: the performance
        notification names the drifting features."""
        out = Publication()
        if not self.config.estimation.drift_metrics:
            return out
        top = set(summary.get("top_features", []))
        counts: dict[Any, int] = {}
        for row in rows:
            if row.metric == DRIFT_METHOD:
                counts[row.chunk_start] = counts.get(row.chunk_start, 0) + int(row.alert)
        model = self.config.name
        for start, count in sorted(counts.items()):
            out.points.append(
                MetricPoint(
                    METRIC_FEATURES_DRIFTING,
                    ((DIM_MODEL, model),),
                    start,
                    float(count),
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
                        ((DIM_MODEL, model), (DIM_FEATURE, row.feature)),
                        row.chunk_start,
                        row.value,
                        series=SERIES_MISSING,
                        ledger_metric=row.feature,
                    )
                )
        return out


def _iso(value: Any) -> str:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")
