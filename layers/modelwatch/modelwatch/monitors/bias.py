"""Bias drift as SageMaker Clarify measures it, per facet and chunk: the label-free metrics on every complete chunk,
the label-dependent ones where labels arrived, and the differences of per-facet performance (AD, RD, SD, DAR, DRR)
estimated before labels with CBPE on each facet's rows. Each value is checked against the baseline's as Clarify's
`bias_drift_check` does: a violation is a value farther from the metric's neutral point than the baseline's.

The baseline is Clarify's `analysis.json` computed on the reference (stored as JSON next to the cached baseline) or
an imported Clarify baseline; each run writes Clarify's violations file per analysed chunk.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from modelwatch.config.model import ModelConfig
from modelwatch.constants import DIM_KIND, KIND_ESTIMATED, KIND_REALIZED
from modelwatch.errors import ReferenceDataError
from modelwatch.lake.layout import violations_key
from modelwatch.monitors import clarify
from modelwatch.monitors.base import AnalysisData, Gated, MetricPoint, Monitor, Publication
from modelwatch.monitors.frames import TARGET
from modelwatch.monitors.performance import chunk_table, coverage_passes
from modelwatch.monitors.plots import FEATURE_COLOURS, Section, alert_markers, new_figure
from modelwatch.monitors.results import ResultRow, conform, empty_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MONITOR = "bias"
BIAS_SCHEMA = 1  # bump when what a bias baseline holds changes
BASELINE_DOCUMENT = "baseline_analysis.json"
CHECK_TYPE = "bias_drift_check"
# The Clarify metrics the dashboard graphs (disparate impact, accuracy difference): the only ones sent under the
# lean metrics profile (tests/unit/publishing/test_profile.py checks this against template.yaml).
DASHBOARD_METRICS = ("DI", "AD")
# Per-facet performance behind the estimated differences (npv: TN / (TN + FN), behind DRR).
FACETWISE = ("accuracy", "recall", "specificity", "precision", "npv")
CBPE_METRICS = ["accuracy", "recall", "specificity", "precision"]
GROUPS = ("a", "d")  # Clarify's facet a (the rest) and facet d (the sensitive values)
SAMPLING_ERROR_RANGE = 3  # nannyml's confidence band: estimate ± 3 sampling errors
# Clarify publishes ±infinity as ±2.348543e108: 2^360, the largest magnitude CloudWatch accepts.
CLOUDWATCH_INFINITY = 2.0**360
DIM_ENDPOINT = "Endpoint"
DIM_SCHEDULE = "MonitoringSchedule"
# Estimated differences: (per-facet metric, sign): AD = acc_a - acc_d, SD = spec_d - spec_a, ...
ESTIMATED_FROM = {
    "AD": ("accuracy", 1),
    "RD": ("recall", 1),
    "SD": ("specificity", -1),
    "DAR": ("precision", 1),
    "DRR": ("npv", -1),
}
_P, _YHAT, _Y = "p", "yhat", "y"  # the columns of the frames CBPE reads (positive class oriented)


@dataclass(frozen=True)
class Facet:
    """One configured facet: its column, and its sensitive values (categorical) or threshold (numeric)."""

    column: str
    numeric: bool
    values: tuple[str, ...]
    threshold: float | None

    @property
    def value(self) -> str:
        """The FacetValue: the configured values, comma-joined (a numeric facet's threshold)."""
        return ",".join(self.values)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Facet d: rows with a sensitive value, or above the threshold (missing values are in facet a)."""
        column = frame[self.column]
        if self.numeric:
            assert self.threshold is not None
            return (column.to_numpy(dtype="float64", na_value=math.nan) > self.threshold).astype(bool)
        return column.isin(list(self.values)).to_numpy(dtype=bool)


def facets_of(config: ModelConfig) -> list[Facet]:
    assert config.bias is not None
    found = []
    for facet in config.bias.facets:
        column = config.column_of(facet.name_or_index)
        numeric = config.column_type(column) == "numeric"
        values = tuple(str(v) for v in facet.value_or_threshold)
        found.append(Facet(column, numeric, values, float(facet.value_or_threshold[0]) if numeric else None))
    return found


@dataclass
class GroupEstimator:
    """CBPE fitted on one facet group's reference rows (its calibrator and the metrics' sampling-error components),
    and the sampling-error components of NPV (nannyml's precision components on the inverted classes)."""

    cbpe: Any
    npv_components: tuple[Any, ...]


@dataclass
class BiasBaseline:
    """Clarify's analysis of the reference (or the imported one), its values by (metric, facet, facet value), and
    the per-facet-group CBPE estimators (None, with the reason, where a group cannot be fitted)."""

    analysis: dict[str, Any]
    values: dict[tuple[str, str, str], float | None]
    estimators: dict[tuple[str, str, str], GroupEstimator | None] = field(default_factory=dict)
    unfitted: dict[tuple[str, str, str], str] = field(default_factory=dict)
    source: str = "reference"


class BiasMonitor(Monitor):
    """Clarify's pre- and post-training bias metrics per facet and chunk, realized and estimated."""

    name: ClassVar[str] = MONITOR
    baseline_type: ClassVar[type] = BiasBaseline
    reads_labels: ClassVar[bool] = True

    @classmethod
    def enabled(cls, config: ModelConfig) -> bool:
        return config.bias is not None

    @property
    def bias(self) -> Any:
        assert self.config.bias is not None
        return self.config.bias

    def _group_column(self) -> str | None:
        group = self.bias.group_variable
        return None if group is None else self.config.column_of(group)

    def _flip_features(self, facet: Facet) -> list[str]:
        """FT's k-NN space: the numeric features besides the facet (smclarify's FlipTest takes numeric columns only)."""
        group = self._group_column()
        return [f.name for f in self.config.features if f.type == "numeric" and f.name not in (facet.column, group)]

    def columns(self) -> list[str]:
        """The facets' and the group's columns, and the features only for FT (the one metric reading them): the
        step leaves the rest in the lake (an hour of 4.2M rows: 1.3 GB of features)."""
        features = self.config.feature_names if clarify.FLIP_TEST in self.bias.metrics else []
        wanted = [*features, *(f.column for f in facets_of(self.config))]
        group = self._group_column()
        if group is not None:
            wanted.append(group)
        return list(dict.fromkeys(wanted))

    def fitting_key(self) -> dict[str, Any]:
        config = self.config
        return {
            "schema": BIAS_SCHEMA,
            "bias": self.bias.model_dump(mode="json"),
            "features": [f.model_dump(mode="json") for f in config.features],
            "extra_columns": [c.model_dump(mode="json") for c in config.extra_columns],
            "classes": list(config.classes),
            "target": config.target,
        }

    def sources(self) -> list[str]:
        return [self.bias.baseline] if self.bias.baseline else []

    # ------------------------------------------------------------ rows of a frame
    def _positive(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the positive-class probability, whether the prediction is positive, and the label (1/0/NaN),
        all oriented to the configured positive class."""
        import numpy as np

        positive = self.bias.positive_class(self.config.classes)
        proba = frame["y_pred_proba"].to_numpy(dtype="float64")
        threshold = self.bias.probability_threshold
        predicted_one = proba > threshold if threshold is not None else frame["y_pred"].to_numpy() == 1
        label = frame[TARGET].to_numpy(dtype="float64", na_value=np.nan) if TARGET in frame.columns else None
        if positive == 1:
            return proba, predicted_one, label if label is not None else np.full(len(frame), np.nan)
        flipped = 1.0 - label if label is not None else np.full(len(frame), np.nan)
        return 1.0 - proba, ~predicted_one, flipped

    def _rows(self, frame: pd.DataFrame, facet: Facet, labelled: bool, flip: bool) -> clarify.Rows:
        """Clarify's arrays of the rows; the numeric features as a matrix only for FT (`flip`), the one metric that
        reads them (an hour of 4.2M rows: 0.8 GB)."""
        import numpy as np

        _proba, predicted, label = self._positive(frame)
        group = self._group_column()
        features = self._flip_features(facet) if flip else []
        return clarify.Rows(
            facet=facet.mask(frame),
            predicted=predicted,
            label=(label == 1.0) if labelled else None,
            group=None if group is None else frame[group].astype(str).to_numpy(),
            features=frame[features].to_numpy(dtype="float64", na_value=np.nan) if features else None,
        )

    def _metrics(self, frame: pd.DataFrame, facet: Facet) -> dict[str, clarify.MetricValue]:
        """Every configured metric: label-free ones on every row, the others on the labelled rows (none: errors)."""
        import numpy as np

        names = self.bias.metrics
        free = [n for n in names if n in clarify.LABEL_FREE]
        found = clarify.compute_all(free, self._rows(frame, facet, labelled=False, flip=clarify.FLIP_TEST in free))
        labelled = frame.iloc[:0]
        if TARGET in frame.columns:
            known = ~np.isnan(self._positive(frame)[2])
            labelled = frame if known.all() else frame.loc[known]  # no copy when every row is labelled
        others = [n for n in names if n not in clarify.LABEL_FREE]
        if len(labelled):
            rows = self._rows(labelled, facet, labelled=True, flip=clarify.FLIP_TEST in others)
            found.update(clarify.compute_all(others, rows))
        return {n: found[n] for n in names if n in found}

    # ------------------------------------------------------------ fit
    def fit(self, reference: pd.DataFrame) -> BiasBaseline:
        """Clarify's analysis of the reference (or the imported one) and CBPE per facet group."""
        facets = facets_of(self.config)
        per_facet = {facet: self._metrics(reference, facet) for facet in facets}
        analysis = analysis_document(self.config, facets, per_facet, reference)
        source = "reference"
        if self.bias.baseline:
            analysis = _imported(self.config, self.documents[self.bias.baseline], self.bias.baseline)
            source = self.bias.baseline
        baseline = BiasBaseline(analysis, baseline_values(analysis, facets), source=source)
        if any(m in clarify.ESTIMABLE for m in self.bias.metrics):
            for facet in facets:
                d = facet.mask(reference)
                for group, rows in (("a", ~d), ("d", d)):
                    key = (facet.column, facet.value, group)
                    try:
                        baseline.estimators[key] = self._fit_group(reference.loc[rows])
                    except ReferenceDataError as exc:
                        baseline.estimators[key] = None
                        baseline.unfitted[key] = str(exc)
        return baseline

    def _estimation_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        proba, predicted, label = self._positive(frame)
        return pd.DataFrame({_P: proba, _YHAT: predicted.astype("int64"), _Y: label})

    def _fit_group(self, rows: pd.DataFrame) -> GroupEstimator:
        import warnings

        import nannyml as nml
        from nannyml.sampling_error import binary_classification as bse

        data = self._estimation_frame(rows).dropna()
        if len(data) < 2 or data[_Y].nunique() < 2:
            raise ReferenceDataError(f"{len(data)} labelled reference rows, not both classes")
        cbpe = nml.CBPE(
            problem_type="classification_binary",
            y_pred_proba=_P,
            y_pred=_YHAT,
            y_true=_Y,
            metrics=list(CBPE_METRICS),
            chunk_number=1,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cbpe.fit(data)
        except Exception as exc:  # nannyml raises plain exceptions of many kinds on unusable reference data
            raise ReferenceDataError(f"CBPE cannot be fitted: {exc}") from exc
        inverted = bse.precision_sampling_error_components(1 - data[_Y], 1 - data[_YHAT])
        return GroupEstimator(cbpe, inverted)

    def baseline_documents(self, baseline: BiasBaseline) -> dict[str, bytes]:
        return {BASELINE_DOCUMENT: json.dumps(baseline.analysis, indent=2).encode()}

    # ------------------------------------------------------------ analyse
    def analyse(self, baseline: BiasBaseline, data: AnalysisData) -> pd.DataFrame:
        import pandas as pd

        facets = facets_of(self.config)
        records: list[dict[str, Any]] = []
        by_number = {c.number: c for c in data.chunks}
        for number, frame in data.chunk_frames():
            chunk = by_number.get(number)
            if chunk is None:
                continue
            for facet in facets:
                records.extend(self._chunk_records(baseline, chunk.key, frame, facet))
        if not records:
            return empty_table()
        table = pd.DataFrame.from_records(records).merge(chunk_table(data.chunks), on="chunk_key", how="inner")
        keys = ["chunk_key", "metric", "facet", "facet_value"]
        estimated = table.loc[table["kind"] == KIND_ESTIMATED, [*keys, "value"]].rename(columns={"value": "est"})
        realized = table.loc[table["kind"] == KIND_REALIZED, [*keys, "value"]].rename(columns={"value": "real"})
        error = estimated.merge(realized, on=keys, how="inner")
        error["estimation_error"] = error["est"] - error["real"]
        table = table.merge(error[[*keys, "estimation_error"]], on=keys, how="left")
        table["monitor"] = MONITOR
        table["chunk_index"] = 0
        return conform(table.sort_values(["chunk_start", "facet", "facet_value", "metric", "kind"], kind="stable"))

    def _chunk_records(
        self, baseline: BiasBaseline, chunk_key: str, frame: pd.DataFrame, facet: Facet
    ) -> list[dict[str, Any]]:
        import numpy as np

        base = {"chunk_key": chunk_key, "facet": facet.column, "facet_value": facet.value}
        records = []
        for name, outcome in self._metrics(frame, facet).items():
            records.append(self._checked(baseline, {**base, "metric": name, "kind": KIND_REALIZED}, outcome))
        proba, predicted, label = self._positive(frame)
        labelled = ~np.isnan(label)
        estimates: dict[tuple[str, str], tuple[float, float]] = {}
        d = facet.mask(frame)
        for group, rows in (("a", ~d), ("d", d)):
            estimator = baseline.estimators.get((facet.column, facet.value, group))
            if estimator is not None:
                for metric, (value, error) in _estimate_group(estimator, proba[rows], predicted[rows]).items():
                    estimates[(metric, group)] = (value, error)
                    records.append(
                        {
                            **base,
                            "metric": f"{metric}_{group}",
                            "kind": KIND_ESTIMATED,
                            "alert": False,
                            **_band(value, error),
                        }
                    )
            known = rows & labelled
            if known.any():
                for metric, value in _realized_group(label[known] == 1.0, predicted[known]).items():
                    records.append(
                        {**base, "metric": f"{metric}_{group}", "kind": KIND_REALIZED, "value": value, "alert": False}
                    )
        for name in self.bias.metrics:
            if name not in clarify.ESTIMABLE:
                continue
            metric, sign = ESTIMATED_FROM[name]
            if (metric, "a") not in estimates or (metric, "d") not in estimates:
                unfitted = [baseline.unfitted.get((facet.column, facet.value, g)) for g in GROUPS]
                reason = "; ".join(r for r in unfitted if r) or "no CBPE estimator"
                records.append(
                    {
                        **base,
                        "metric": name,
                        "kind": KIND_ESTIMATED,
                        "value": math.nan,
                        "detail": reason,
                        "alert": False,
                    }
                )
                continue
            (value_a, error_a), (value_d, error_d) = estimates[(metric, "a")], estimates[(metric, "d")]
            value = sign * (value_a - value_d)
            error = math.hypot(error_a, error_d)
            outcome = clarify.MetricValue(value if math.isfinite(value) else None, None)
            records.append(
                {
                    **self._checked(baseline, {**base, "metric": name, "kind": KIND_ESTIMATED}, outcome),
                    **_band(value, error),
                }
            )
        return records

    def _checked(self, baseline: BiasBaseline, record: dict[str, Any], outcome: clarify.MetricValue) -> dict[str, Any]:
        """The record with its value (or error), the baseline band and whether the value left it."""
        value = outcome.value
        found = {**record, "value": math.nan if value is None else value, "detail": outcome.error, "alert": False}
        reference = baseline.values.get((record["metric"], record["facet"], record["facet_value"]))
        if reference is None or math.isnan(reference):
            return found
        centre = clarify.neutral(record["metric"])
        width = abs(reference - centre)
        found["lower_threshold"] = centre - width
        found["upper_threshold"] = centre + width
        found["alert"] = value is not None and abs(value - centre) > width
        return found

    # ------------------------------------------------------------ outputs
    def lake_files(self, table: pd.DataFrame) -> dict[str, bytes]:
        """Clarify's bias-drift violations file of each analysed chunk (realized and estimated violations)."""
        documents = {}
        for start, rows in table.groupby("chunk_start", sort=True):
            violations = [
                {
                    "facet": r.facet,
                    "facet_value": r.facet_value,
                    "metric_name": r.metric,
                    "constraint_check_type": CHECK_TYPE,
                    "description": (
                        f"{'Estimated value' if r.kind == KIND_ESTIMATED else 'Value'} {r.value} does not meet the "
                        "constraint requirement"
                    ),
                }
                for r in rows.itertuples()
                if r.alert and r.metric in clarify.DESCRIPTIONS
            ]
            documents[violations_key(self.config.name, MONITOR, start)] = json.dumps(
                {"version": "1.0", "violations": violations}, indent=2
            ).encode()
        return documents

    def summarise(self, table: pd.DataFrame) -> dict[str, Any]:
        """Violations in the window per (facet, facet value, metric, kind)."""
        mine = table.loc[(table["monitor"] == MONITOR) & table["alert"]]
        counts = mine.groupby(["facet", "facet_value", "metric", "kind"]).size() if len(mine) else {}
        return {
            "violations": [
                {"facet": f, "facet_value": v, "metric": m, "kind": k, "chunks": int(n)}
                for (f, v, m, k), n in (counts.items() if len(mine) else [])
            ]
        }

    def report(self, table: pd.DataFrame, summary: dict[str, Any]) -> list[Section]:
        """Per facet: the Clarify metrics per chunk (realized solid, estimated dashed) and their violations."""
        mine = table.loc[(table["monitor"] == MONITOR) & table["metric"].isin(list(clarify.DESCRIPTIONS))]
        sections = []
        for (column, value), rows in mine.groupby(["facet", "facet_value"], sort=True):
            title = f"Fairness: {column} in {value}" if not rows.empty else column
            sections.append(Section(title, partial(bias_figure, rows, f"{column} = {value}")))
        return sections

    def publish(self, rows: list[ResultRow], summary: dict[str, Any]) -> Publication:
        """`bias_metric_<NAME>` per facet and chunk with Clarify's dimensions (Kind too for the estimable metrics)
        in the configured namespace; label-dependent realized values wait for the label-coverage gate."""
        gate = self.config.estimation.min_label_coverage
        out = Publication()
        for row in rows:
            if row.metric not in clarify.DESCRIPTIONS or row.facet is None or row.facet_value is None:
                continue
            point = self._point(row)
            if row.kind == KIND_REALIZED and row.metric not in clarify.LABEL_FREE and not coverage_passes(row, gate):
                coverage = "unknown" if row.label_coverage is None else f"{row.label_coverage:.1%}"
                out.gated.append(Gated(point, f"label coverage {coverage} is below min_label_coverage {gate:.1%}"))
                continue
            out.points.append(point)
            if row.alert:
                out.alerts.append(row)
        return out

    def _point(self, row: ResultRow) -> MetricPoint:
        assert row.facet is not None and row.facet_value is not None
        dimensions = [
            (DIM_ENDPOINT, self.config.endpoint),
            (DIM_SCHEDULE, self.config.name),
            ("BiasStage", clarify.stage(row.metric)),
            ("Label", self.config.target),
            ("LabelValue", self.bias.label_value),
            ("Facet", row.facet),
            ("FacetValue", row.facet_value),
        ]
        if row.metric in clarify.ESTIMABLE:
            dimensions.append((DIM_KIND, row.kind))
        value = row.value
        if value is not None and math.isinf(value):
            value = math.copysign(CLOUDWATCH_INFINITY, value)
        return MetricPoint(
            metric_name=f"bias_metric_{row.metric}",
            dimensions=tuple(dimensions),
            timestamp=row.chunk_start,
            value=value,
            series=f"bias_{row.kind}",
            ledger_metric=f"{row.metric}|{row.facet}|{row.facet_value}",
            version_parts=(row.rows, row.label_coverage),
            namespace=self.bias.namespace,
            detail=row.metric not in DASHBOARD_METRICS,
        )


# ---------------------------------------------------------------- estimation
def _band(value: float, error: float) -> dict[str, float]:
    return {
        "value": value,
        "sampling_error": error,
        "lower_confidence_boundary": value - SAMPLING_ERROR_RANGE * error,
        "upper_confidence_boundary": value + SAMPLING_ERROR_RANGE * error,
    }


def _estimate_group(
    estimator: GroupEstimator, proba: np.ndarray, predicted: np.ndarray
) -> dict[str, tuple[float, float]]:
    """CBPE's estimate and sampling error of each per-facet metric on a group's rows (positive-class probabilities
    and predictions), as `CBPE.estimate` computes them: its calibrator, then nannyml's estimate and sampling-error
    functions of each metric, without its chunking, result tables and per-metric copies of the rows (a tenth of a
    second per call); NPV from the same calibrated probabilities."""
    import numpy as np
    from nannyml.performance_estimation.confidence_based import metrics as cbpe_metrics
    from nannyml.sampling_error import binary_classification as bse

    present = ~np.isnan(proba)
    proba, predicted = proba[present], predicted[present].astype("int64")
    if not len(proba):
        return dict.fromkeys(FACETWISE, (math.nan, math.nan))
    cbpe = estimator.cbpe
    if cbpe.needs_calibration:
        proba = np.asarray(cbpe.calibrator.calibrate(proba), dtype="float64")
    functions = {
        "accuracy": (cbpe_metrics.estimate_accuracy, bse.accuracy_sampling_error),
        "recall": (cbpe_metrics.estimate_recall, bse.recall_sampling_error),
        "specificity": (cbpe_metrics.estimate_specificity, bse.specificity_sampling_error),
        "precision": (cbpe_metrics.estimate_precision, bse.precision_sampling_error),
    }
    found = {}
    for metric in cbpe.metrics:
        estimate, sampling_error = functions[metric.name]
        # the sampling-error functions read only the number of rows of what they are given
        found[metric.name] = (
            float(estimate(predicted, proba)),
            float(sampling_error(metric._sampling_error_components, proba)),
        )
    negative = predicted == 0
    true_negative = float(np.sum(np.where(negative, 1 - proba, 0)))
    false_negative = float(np.sum(np.where(negative, proba, 0)))
    denominator = true_negative + false_negative
    npv = true_negative / denominator if denominator != 0 else 0.0
    found["npv"] = (npv, float(bse.precision_sampling_error(estimator.npv_components, proba)))
    return found


def _realized_group(label: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The per-facet metrics on a group's labelled rows (NaN where a denominator is 0)."""
    y, p = label.astype(bool), predicted.astype(bool)
    tp, fp = int((y & p).sum()), int((~y & p).sum())
    fn, tn = int((y & ~p).sum()), int((~y & ~p).sum())

    def ratio(a: int, b: int) -> float:
        return a / b if b else math.nan

    return {
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "recall": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
    }


# ---------------------------------------------------------------- Clarify's analysis.json
def _interval(facet: Facet, frame: pd.DataFrame) -> str:
    """Clarify's value_or_threshold of a facet: the values, or the interval (threshold, max] over the data."""
    if not facet.numeric:
        return facet.value
    top = frame[facet.column].max()
    return f"({facet.threshold}, {float(top)}]"


def analysis_document(
    config: ModelConfig,
    facets: list[Facet],
    per_facet: dict[Facet, dict[str, clarify.MetricValue]],
    reference: pd.DataFrame,
) -> dict[str, Any]:
    """Clarify's analysis.json of the reference: pre- and post-training metrics per facet."""
    assert config.bias is not None
    document: dict[str, Any] = {"version": "1.0"}
    sections = (
        (clarify.PRE_TRAINING, "pre_training_bias_metrics"),
        (clarify.POST_TRAINING, "post_training_bias_metrics"),
    )
    for stage, section_key in sections:
        by_column: dict[str, list[dict[str, Any]]] = {}
        for facet in facets:
            metrics = []
            for name, outcome in per_facet[facet].items():
                if clarify.stage(name) != stage:
                    continue
                entry: dict[str, Any] = {
                    "name": name,
                    "description": clarify.DESCRIPTIONS[name],
                    "value": clarify.json_value(outcome.value),
                }
                if outcome.error:
                    entry["error"] = outcome.error
                metrics.append(entry)
            by_column.setdefault(facet.column, []).append(
                {"value_or_threshold": _interval(facet, reference), "metrics": metrics}
            )
        document[section_key] = {
            "label": config.target,
            "label_value_or_threshold": config.bias.label_value,
            "facets": by_column,
        }
    return document


def _imported(config: ModelConfig, body: bytes, uri: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ReferenceDataError(f"model {config.name}: bias baseline {uri} is not JSON: {exc}") from exc
    if not isinstance(document, dict) or not any(k.endswith("_bias_metrics") for k in document):
        raise ReferenceDataError(f"model {config.name}: bias baseline {uri} is not a Clarify analysis.json")
    return document


def _matches(facet: Facet, value_or_threshold: Any) -> bool:
    """Whether an analysis.json facet entry is this facet: same values, or an interval from the same threshold."""
    text = str(value_or_threshold).strip()
    if not facet.numeric:
        return text == facet.value
    lower = text.lstrip("([").split(",")[0].strip()
    try:
        return float(lower) == facet.threshold
    except ValueError:
        return False


def baseline_values(analysis: dict[str, Any], facets: list[Facet]) -> dict[tuple[str, str, str], float | None]:
    """(metric, facet column, facet value) -> the baseline value (None for errors), from an analysis.json."""
    values: dict[tuple[str, str, str], float | None] = {}
    for section in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        entries = (analysis.get(section) or {}).get("facets") or {}
        for facet in facets:
            for entry in entries.get(facet.column) or []:
                if not isinstance(entry, dict) or not _matches(facet, entry.get("value_or_threshold")):
                    continue
                for metric in entry.get("metrics") or []:
                    if isinstance(metric, dict) and "name" in metric:
                        values[(str(metric["name"]), facet.column, facet.value)] = clarify.from_json_value(
                            metric.get("value")
                        )
    return values


# ---------------------------------------------------------------- report
def bias_figure(rows: pd.DataFrame, title: str) -> Any:
    """Each Clarify metric of one facet per chunk (realized solid, estimated dashed), violations marked."""
    figure = new_figure()
    for index, ((metric, kind), mine) in enumerate(rows.groupby(["metric", "kind"], sort=True)):
        mine = mine.sort_values("chunk_start")
        x = [t.isoformat() for t in mine["chunk_start"]]
        dash = "dash" if kind == KIND_ESTIMATED else "solid"
        colour = FEATURE_COLOURS[index % len(FEATURE_COLOURS)]
        figure.add_scatter(
            x=x,
            y=mine["value"].tolist(),
            mode="lines+markers",
            name=f"{metric} ({kind})",
            line={"dash": dash, "color": colour},
        )
        alert_markers(figure, mine, f"{metric} violation")
    figure.update_layout(
        title=f"Bias drift: {title} (a violation is farther from neutral than the baseline)",
        xaxis_title="Chunk start (UTC)",
        yaxis_title="Clarify metric",
        height=460,
    )
    return figure
