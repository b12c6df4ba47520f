"""Feature-attribution drift without calling the endpoint: a surrogate of the model (LightGBM, features -> the
captured output) is fitted on the reference (cached with the baseline) and again on each chunk's captures, so a model
that changes is seen; each surrogate's faithfulness is its R² on held-out rows, and a chunk whose surrogate is not
faithful is skipped with the reason. Global attributions are the mean |SHAP| (LightGBM's TreeSHAP, `pred_contrib`),
compared with the baseline's by nDCG as Clarify does, alerting below the threshold (0.9)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.constants import KIND_REALIZED
from modelwatch.errors import ReferenceDataError
from modelwatch.lake.layout import violations_key
from modelwatch.monitors.base import AnalysisData, Gated, MetricPoint, Monitor, Publication
from modelwatch.monitors.performance import chunk_table
from modelwatch.monitors.plots import FEATURE_COLOURS, Section, alert_markers, new_figure, threshold_lines
from modelwatch.monitors.results import ResultRow, conform, empty_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MONITOR = "attribution"
ATTRIBUTION_SCHEMA = 1
METRIC_NDCG = "ndcg"
METRIC_SHAP = "global_shap"
METRIC_EXPECTED = "expected_value"
METRIC_FAITHFULNESS = "faithfulness"
BASELINE_DOCUMENT = "baseline_analysis.json"
CHECK_TYPE = "feature_attribution_drift_check"
METHOD = "TreeShap"  # Clarify's ExplainabilityMethod dimension is KernelShap; these are a surrogate's TreeSHAP values
SURROGATE_TREES = 60
HOLD_OUT_EVERY = 5  # every 5th row (in ingestion order) is held out to measure the surrogate's faithfulness
# Global attributions from at most this many evenly spaced rows: LightGBM's TreeSHAP costs ~0.15 ms a row, and the
# mean |SHAP| of 500 rows ranks the features as all rows do but for features of near-equal attribution, whose swap
# costs nDCG little (it weighs each feature by its baseline attribution).
SHAP_ROWS = 500
# A surrogate learns from at most this many evenly spaced rows of a chunk (or of the reference): fitted on all of an
# hour of 4.2M rows it held the features three times over (5.1 GB, 56 s); on 400,000 of them its attributions score
# nDCG 1.0 against the full fit's, features of near-equal attribution aside (BENCHMARKS.md, memory section).
FIT_ROWS = 400_000
# Small, deterministic trees: one thread and forced row-wise histograms make a fit the same run to run.
SURROGATE_PARAMETERS: dict[str, Any] = {
    "objective": "regression",
    "num_leaves": 15,
    "max_depth": 5,
    "learning_rate": 0.15,
    "min_data_in_leaf": 10,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "seed": 0,
    "verbosity": -1,
}


@dataclass
class Surrogate:
    """A surrogate fitted on some rows: its global attributions, expected value and held-out R²."""

    global_shap: dict[str, float]
    expected_value: float
    faithfulness: float
    rows: int
    model: str = ""  # the booster as LightGBM's text (the reference's, kept with the baseline)


@dataclass
class AttributionBaseline:
    """The reference's surrogate (or an imported Clarify baseline's global SHAP values) and the categories each
    categorical feature is encoded with."""

    reference: Surrogate
    categories: dict[str, list[str]] = field(default_factory=dict)
    source: str = "reference"


def ndcg(baseline: dict[str, float], live: dict[str, float]) -> float:
    """Clarify's nDCG: the baseline attributions a(f) summed in the live ranking's order over the ideal order, each
    discounted by log2(position + 1) (ties in the ranking broken by feature name)."""
    features = list(baseline)
    ideal = sorted(features, key=lambda f: (-baseline[f], f))
    ranked = sorted(features, key=lambda f: (-live.get(f, 0.0), f))
    dcg = sum(baseline[f] / math.log2(i + 2) for i, f in enumerate(ranked))
    ideal_dcg = sum(baseline[f] / math.log2(i + 2) for i, f in enumerate(ideal))
    return dcg / ideal_dcg if ideal_dcg > 0 else math.nan


def rank_changes(baseline: dict[str, float], live: dict[str, float]) -> str:
    """Which features rose or fell in rank, e.g. `rose: tenure 4->1; fell: income 1->3` (feature names only)."""
    before = {f: i + 1 for i, f in enumerate(sorted(baseline, key=lambda f: (-baseline[f], f)))}
    after = {f: i + 1 for i, f in enumerate(sorted(baseline, key=lambda f: (-live.get(f, 0.0), f)))}
    rose = [f"{f} {before[f]}->{after[f]}" for f in sorted(before, key=lambda f: after[f]) if after[f] < before[f]]
    fell = [f"{f} {before[f]}->{after[f]}" for f in sorted(before, key=lambda f: after[f]) if after[f] > before[f]]
    return "; ".join(
        p for p in (f"rose: {', '.join(rose)}" if rose else "", f"fell: {', '.join(fell)}" if fell else "") if p
    )


def encode(config: ModelConfig, frame: pd.DataFrame, categories: dict[str, list[str]]) -> np.ndarray:
    """The features as a float matrix: categorical ones as their index in the reference's categories (unseen or
    missing values NaN, which LightGBM sends down its own branch)."""
    import numpy as np
    import pandas as pd

    columns = []
    for feature in config.features:
        values = frame[feature.name]
        if feature.type == "categorical":
            codes = pd.Categorical(values, categories=categories.get(feature.name, [])).codes.astype("float64")
            codes[codes < 0] = np.nan
            columns.append(codes)
        else:
            columns.append(values.to_numpy(dtype="float64", na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def categories_of(config: ModelConfig, frame: pd.DataFrame) -> dict[str, list[str]]:
    """Each categorical feature's values in `frame` (the reference), sorted: the codes `encode` gives them."""
    return {
        f.name: sorted(str(v) for v in frame[f.name].dropna().unique())
        for f in config.features
        if f.type == "categorical"
    }


def surrogate_target(config: ModelConfig, frame: pd.DataFrame) -> np.ndarray:
    """What the surrogate learns: the captured positive-class probability, or the regression prediction."""
    column = "y_pred" if config.problem_type is ProblemType.REGRESSION else "y_pred_proba"
    return frame[column].to_numpy(dtype="float64")


def learn(
    config: ModelConfig, frame: pd.DataFrame, categories: dict[str, list[str]], keep_model: bool = False
) -> Surrogate:
    """The surrogate of the frame's rows (at most FIT_ROWS of them, `fit_rows`)."""
    rows = fit_rows(frame)
    return fit_surrogate(config, encode(config, rows, categories), surrogate_target(config, rows), keep_model)


def fit_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a surrogate learns from: all of them up to FIT_ROWS, else evenly spaced ones (ingestion order)."""
    return frame if len(frame) <= FIT_ROWS else frame.iloc[:: math.ceil(len(frame) / FIT_ROWS)]


def fit_surrogate(config: ModelConfig, matrix: np.ndarray, target: np.ndarray, keep_model: bool = False) -> Surrogate:
    """Fit on every row but each HOLD_OUT_EVERY-th, measure R² on those, attribute every row with TreeSHAP."""
    import lightgbm as lgb
    import numpy as np

    present = ~np.isnan(target)
    matrix, target = matrix[present], target[present]
    held = np.arange(len(target)) % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1
    categorical = [i for i, f in enumerate(config.features) if f.type == "categorical"]
    dataset = lgb.Dataset(
        matrix[~held],
        target[~held],
        feature_name=config.feature_names,
        categorical_feature=categorical,
        free_raw_data=True,
        params={"verbosity": -1},
    )
    booster = lgb.train(dict(SURROGATE_PARAMETERS), dataset, num_boost_round=SURROGATE_TREES)
    predicted = booster.predict(matrix[held], num_threads=1)
    variance = float(np.sum((target[held] - target[held].mean()) ** 2))
    r2 = 1.0 - float(np.sum((target[held] - predicted) ** 2)) / variance if variance > 0 else math.nan
    explained = matrix[:: max(1, math.ceil(len(matrix) / SHAP_ROWS))]
    contributions = np.asarray(booster.predict(explained, pred_contrib=True, num_threads=1))
    shap = np.abs(contributions[:, :-1]).mean(axis=0)
    return Surrogate(
        global_shap={f: float(v) for f, v in zip(config.feature_names, shap, strict=True)},
        expected_value=float(contributions[0, -1]) if len(contributions) else math.nan,
        faithfulness=r2,
        rows=len(target),
        model=booster.model_to_string() if keep_model else "",
    )


class AttributionMonitor(Monitor):
    """Global TreeSHAP attributions of a surrogate per chunk, compared with the reference's by nDCG."""

    name: ClassVar[str] = MONITOR
    baseline_type: ClassVar[type] = AttributionBaseline

    @classmethod
    def enabled(cls, config: ModelConfig) -> bool:
        return config.attribution is not None and config.attribution.enabled

    @property
    def settings(self) -> Any:
        assert self.config.attribution is not None
        return self.config.attribution

    def columns(self) -> list[str]:
        return self.config.feature_names

    def fitting_key(self) -> dict[str, Any]:
        return {
            "schema": ATTRIBUTION_SCHEMA,
            "features": [f.model_dump(mode="json") for f in self.config.features],
            "problem_type": self.config.problem_type.value,
            "surrogate": {**SURROGATE_PARAMETERS, "trees": SURROGATE_TREES},
            "hold_out_every": HOLD_OUT_EVERY,
            "shap_rows": SHAP_ROWS,
            "fit_rows": FIT_ROWS,
            "baseline": self.settings.baseline,
            "label": self.settings.label,
        }

    def sources(self) -> list[str]:
        return [self.settings.baseline] if self.settings.baseline else []

    def fit(self, reference: pd.DataFrame) -> AttributionBaseline:
        categories = categories_of(self.config, reference)
        surrogate = learn(self.config, reference, categories, keep_model=True)
        baseline = AttributionBaseline(surrogate, categories)
        if self.settings.baseline:
            uri = self.settings.baseline
            shap, expected = _imported(self.config, self.documents[uri], uri, self.settings.label)
            baseline.reference = Surrogate(shap, expected, surrogate.faithfulness, surrogate.rows, surrogate.model)
            baseline.source = uri
        return baseline

    def baseline_documents(self, baseline: AttributionBaseline) -> dict[str, bytes]:
        """Clarify's analysis.json `explanations` of the reference's attributions."""
        explanation = {
            "global_shap_values": baseline.reference.global_shap,
            "expected_value": baseline.reference.expected_value,
        }
        document = {"version": "1.0", "explanations": {"kernel_shap": {self.settings.label: explanation}}}
        return {BASELINE_DOCUMENT: json.dumps(document, indent=2).encode()}

    def analyse(self, baseline: AttributionBaseline, data: AnalysisData) -> pd.DataFrame:
        import pandas as pd

        settings = self.settings
        reference = baseline.reference.global_shap
        records: list[dict[str, Any]] = []
        by_number = {c.number: c for c in data.chunks}
        for number, frame in data.chunk_frames():
            chunk = by_number.get(number)
            if chunk is None:
                continue
            base = {"chunk_key": chunk.key, "kind": KIND_REALIZED, "alert": False, "feature": None}
            surrogate = learn(self.config, frame, baseline.categories)
            records.append({**base, "metric": METRIC_FAITHFULNESS, "value": surrogate.faithfulness})
            faithful = surrogate.faithfulness >= settings.min_faithfulness
            if not faithful:
                reason = (
                    f"skipped: the chunk's surrogate R² {surrogate.faithfulness:.3f} on held-out rows is below "
                    f"min_faithfulness {settings.min_faithfulness}"
                )
                records.append({**base, "metric": METRIC_NDCG, "value": math.nan, "detail": reason})
                continue
            score = ndcg(reference, surrogate.global_shap)
            records.append(
                {
                    **base,
                    "metric": METRIC_NDCG,
                    "value": score,
                    "lower_threshold": settings.ndcg_threshold,
                    "alert": bool(score < settings.ndcg_threshold),
                    "detail": rank_changes(reference, surrogate.global_shap) or None,
                }
            )
            records.append({**base, "metric": METRIC_EXPECTED, "value": surrogate.expected_value})
            for feature, value in surrogate.global_shap.items():
                records.append({**base, "metric": METRIC_SHAP, "feature": feature, "value": value})
        if not records:
            return empty_table()
        table = pd.DataFrame.from_records(records).merge(chunk_table(data.chunks), on="chunk_key", how="inner")
        table["monitor"] = MONITOR
        table["chunk_index"] = 0
        return conform(table.sort_values(["chunk_start", "metric", "feature"], kind="stable", na_position="first"))

    def lake_files(self, table: pd.DataFrame) -> dict[str, bytes]:
        """Clarify's feature-attribution violations file of each analysed chunk."""
        documents = {}
        for start, rows in table.loc[table["metric"] == METRIC_NDCG].groupby("chunk_start", sort=True):
            violations = [
                {
                    "label": self.settings.label,
                    "metric_name": "shap",
                    "constraint_check_type": CHECK_TYPE,
                    "description": (
                        f"Feature attribution drift {r.value} exceeds threshold {self.settings.ndcg_threshold}"
                    ),
                }
                for r in rows.itertuples()
                if r.alert
            ]
            documents[violations_key(self.config.name, MONITOR, start)] = json.dumps(
                {"version": "1.0", "violations": violations}, indent=2
            ).encode()
        return documents

    def summarise(self, table: pd.DataFrame) -> dict[str, Any]:
        """The window's chunks below the nDCG threshold and those skipped for an unfaithful surrogate."""
        scores = table.loc[(table["monitor"] == MONITOR) & (table["metric"] == METRIC_NDCG)]
        return {
            "chunks_in_alert": int(scores["alert"].sum()),
            "chunks_skipped": int(scores["value"].isna().sum()),
        }

    def report(self, table: pd.DataFrame, summary: dict[str, Any]) -> list[Section]:
        """nDCG per chunk against the threshold, and the features' global attributions per chunk."""
        mine = table.loc[table["monitor"] == MONITOR]
        if not len(mine):
            return []
        return [
            Section("Feature attribution drift (nDCG)", partial(ndcg_figure, mine.loc[mine["metric"] == METRIC_NDCG])),
            Section("Global attributions (mean |SHAP|)", partial(shap_figure, mine.loc[mine["metric"] == METRIC_SHAP])),
        ]

    def publish(self, rows: list[ResultRow], summary: dict[str, Any]) -> Publication:
        """Per chunk: `feature_<name>` and the expected value with Clarify's dimensions, the nDCG; a chunk skipped for
        an unfaithful surrogate is held back with the reason. Alerts: nDCG below the threshold."""
        out = Publication()
        for row in rows:
            if row.metric == METRIC_SHAP and row.feature is not None:
                out.points.append(self._point(row, f"feature_{row.feature}", "GlobalShapValues", row.feature))
            elif row.metric == METRIC_EXPECTED:
                out.points.append(self._point(row, METRIC_EXPECTED, "ExpectedValue", METRIC_EXPECTED))
            elif row.metric == METRIC_NDCG:
                point = self._point(row, METRIC_NDCG, None, METRIC_NDCG)
                if row.value is None:
                    out.gated.append(Gated(point, row.detail or "no nDCG for this chunk"))
                    continue
                out.points.append(point)
                if row.alert:
                    out.alerts.append(row)
        return out

    def _point(self, row: ResultRow, name: str, value_type: str | None, ledger: str) -> MetricPoint:
        dimensions = [
            ("Endpoint", self.config.endpoint),
            ("MonitoringSchedule", self.config.name),
            ("ExplainabilityMethod", METHOD),
            ("Label", self.settings.label),
        ]
        if value_type is not None:
            dimensions.append(("ValueType", value_type))
        return MetricPoint(
            metric_name=name,
            dimensions=tuple(dimensions),
            timestamp=row.chunk_start,
            value=row.value,
            series=MONITOR,
            ledger_metric=ledger,
            version_parts=(row.rows,),
            namespace=self.settings.namespace,
            detail=name != METRIC_NDCG,  # per-feature attributions and the expected value
        )


def _imported(config: ModelConfig, body: bytes, uri: str, label: str) -> tuple[dict[str, float], float]:
    """The global SHAP values of a Clarify analysis.json (explanations.kernel_shap.<label>), for the features."""
    try:
        explanation = json.loads(body)["explanations"]["kernel_shap"][label]
        values = {str(k): float(v) for k, v in explanation["global_shap_values"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReferenceDataError(
            f"model {config.name}: attribution baseline {uri} has no "
            f"explanations.kernel_shap.{label}.global_shap_values"
        ) from exc
    missing = [f for f in config.feature_names if f not in values]
    if missing:
        raise ReferenceDataError(f"model {config.name}: attribution baseline {uri} lacks features {missing}")
    expected = explanation.get("expected_value")
    return {f: values[f] for f in config.feature_names}, float(expected) if expected is not None else math.nan


def ndcg_figure(rows: pd.DataFrame) -> Any:
    rows = rows.sort_values("chunk_start")
    x = [t.isoformat() for t in rows["chunk_start"]]
    figure = new_figure()
    figure.add_scatter(x=x, y=rows["value"].tolist(), mode="lines+markers", name="nDCG")
    if x:
        threshold_lines(figure, x, rows)
    alert_markers(figure, rows, "Alert", size=11)
    figure.update_layout(
        title="Feature attribution drift: nDCG of the chunk's ranking against the baseline's",
        xaxis_title="Chunk start (UTC)",
        yaxis_title="nDCG",
        height=420,
    )
    return figure


def shap_figure(rows: pd.DataFrame) -> Any:
    figure = new_figure()
    for index, (feature, mine) in enumerate(rows.groupby("feature", sort=True)):
        mine = mine.sort_values("chunk_start")
        figure.add_scatter(
            x=[t.isoformat() for t in mine["chunk_start"]],
            y=mine["value"].tolist(),
            mode="lines+markers",
            name=str(feature),
            line={"color": FEATURE_COLOURS[index % len(FEATURE_COLOURS)]},
        )
    figure.update_layout(
        title="Global attributions of the chunks' surrogates (mean |SHAP|)",
        xaxis_title="Chunk start (UTC)",
        yaxis_title="mean |SHAP|",
        height=420,
    )
    return figure
