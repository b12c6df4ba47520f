"""The nannyml objects monitors fit: CBPE or DLE, realized-performance and drift calculators, chunker, thresholds."""

from __future__ import annotations

from typing import Any

from modelwatch.chunks import period_ns
from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.constants import COL_Y_PRED
from modelwatch.errors import ReferenceDataError, describe
from modelwatch.monitors.frames import TARGET, TIMESTAMP

# LightGBM picks row- or column-wise histograms by timing unless told; forcing one (plus `deterministic`) makes
# DLE reproducible run to run on the same machine.
DLE_HYPERPARAMETERS: dict[str, Any] = {
    "deterministic": True,
    "force_row_wise": True,
    "random_state": 0,
    "verbosity": -1,
}
DRIFT_METHOD = "jensen_shannon"
# nannyml draws unseeded bootstrap samples for some sampling errors (average precision); each fit runs under this
# seed (the caller's global numpy state is restored) so fits are reproducible and comparable to direct nannyml.
FIT_SEED = 0
# Bump when the way estimators are built changes, so cached fits from older code are not reused.
ESTIMATOR_SCHEMA = 2


def build_chunker(config: ModelConfig) -> Any:
    """The nannyml chunker for the config's chunking (period or size)."""
    # nannyml is imported by the chunker's module: only when something is fitted (publishing imports this module).
    from modelwatch.monitors.nml_chunker import ModelwatchChunker  # heavy: nannyml, never imported by publishing

    period = config.chunking.period_delta
    if period is not None:
        return ModelwatchChunker(period_ns=period_ns(period))
    return ModelwatchChunker(size=config.chunking.size)


def build_thresholds(config: ModelConfig) -> dict[str, Any]:
    """Configured nannyml thresholds per metric, Model Monitor constraints included (metrics not named keep
    nannyml's defaults)."""
    from nannyml.thresholds import ConstantThreshold, StandardDeviationThreshold

    thresholds: dict[str, Any] = {}
    for metric, spec in config.thresholds.items():
        if spec.type == "constant":
            thresholds[metric] = ConstantThreshold(lower=spec.lower, upper=spec.upper)
        else:
            thresholds[metric] = StandardDeviationThreshold(
                std_lower_multiplier=spec.std_lower_multiplier, std_upper_multiplier=spec.std_upper_multiplier
            )
    return thresholds


def y_pred_proba_argument(config: ModelConfig) -> str | dict[str, str] | None:
    """nannyml's `y_pred_proba`: one column (binary) or a class -> column mapping (multiclass)."""
    if config.problem_type is ProblemType.MULTICLASS:
        return {c: f"y_pred_proba_{c}" for c in config.classes}
    if config.problem_type is ProblemType.BINARY:
        return "y_pred_proba"
    return None


def build_estimator(config: ModelConfig, chunker: Any) -> Any:
    """CBPE for classification, DLE for regression."""
    import nannyml as nml

    thresholds = build_thresholds(config)
    if config.problem_type is ProblemType.REGRESSION:
        return nml.DLE(
            feature_column_names=config.feature_names,
            y_pred=COL_Y_PRED,
            y_true=TARGET,
            timestamp_column_name=TIMESTAMP,
            metrics=config.metrics,
            chunker=chunker,
            tune_hyperparameters=False,
            hyperparameters=dict(DLE_HYPERPARAMETERS),
            **({"thresholds": thresholds} if thresholds else {}),
        )
    return nml.CBPE(
        problem_type=config.problem_type.nannyml,
        y_pred_proba=y_pred_proba_argument(config),
        y_pred=COL_Y_PRED,
        y_true=TARGET,
        timestamp_column_name=TIMESTAMP,
        metrics=config.metrics,
        chunker=chunker,
        **({"thresholds": thresholds} if thresholds else {}),
    )


def build_realized_calculator(config: ModelConfig, chunker: Any) -> Any:
    """nannyml PerformanceCalculator for realized performance on labelled rows."""
    import nannyml as nml

    thresholds = build_thresholds(config)
    kwargs: dict[str, Any] = {}
    proba = y_pred_proba_argument(config)
    if proba is not None:
        kwargs["y_pred_proba"] = proba
    if thresholds:
        kwargs["thresholds"] = thresholds
    return nml.PerformanceCalculator(
        problem_type=config.problem_type.nannyml,
        y_pred=COL_Y_PRED,
        y_true=TARGET,
        timestamp_column_name=TIMESTAMP,
        metrics=config.metrics,
        chunker=chunker,
        **kwargs,
    )


def build_drift_calculator(config: ModelConfig, chunker: Any) -> Any:
    """nannyml univariate drift over every feature, with the config's methods per type (default Jensen-Shannon)."""
    import nannyml as nml

    categorical = [f.name for f in config.features if f.type == "categorical"]
    return nml.UnivariateDriftCalculator(
        column_names=config.feature_names,
        treat_as_categorical=categorical,
        timestamp_column_name=TIMESTAMP,
        chunker=chunker,
        continuous_methods=list(config.drift.continuous_methods),
        categorical_methods=list(config.drift.categorical_methods),
    )


def output_kinds(config: ModelConfig) -> tuple[list[str], list[str]]:
    """(continuous, categorical) output columns: the probabilities, and the predicted class or value."""
    if config.problem_type is ProblemType.REGRESSION:
        return [COL_Y_PRED], []
    return list(config.proba_columns), [COL_Y_PRED]


def build_output_drift_calculator(config: ModelConfig, chunker: Any) -> Any:
    """nannyml univariate drift of the model's outputs (prediction drift), with the features' methods."""
    import nannyml as nml

    continuous, categorical = output_kinds(config)
    return nml.UnivariateDriftCalculator(
        column_names=[*continuous, *categorical],
        treat_as_categorical=categorical,
        timestamp_column_name=TIMESTAMP,
        chunker=chunker,
        continuous_methods=list(config.drift.continuous_methods),
        categorical_methods=list(config.drift.categorical_methods),
    )


def build_multivariate_calculator(config: ModelConfig, chunker: Any) -> Any:
    """nannyml multivariate drift: PCA data reconstruction error over every feature (nannyml's defaults)."""
    import nannyml as nml

    return nml.DataReconstructionDriftCalculator(
        column_names=config.feature_names, timestamp_column_name=TIMESTAMP, chunker=chunker
    )


def build_data_quality_calculators(config: ModelConfig, chunker: Any) -> dict[str, Any]:
    """nannyml's data-quality calculators with their default thresholds, by the metric name their rows carry:
    missing values (every feature), unseen values (categorical features), numerical range (numeric features)."""
    import nannyml as nml

    categorical = [f.name for f in config.features if f.type == "categorical"]
    numeric = [f.name for f in config.features if f.type == "numeric"]
    common = {"timestamp_column_name": TIMESTAMP, "chunker": chunker}
    calculators: dict[str, Any] = {
        "missing_values_rate": nml.MissingValuesCalculator(column_names=config.feature_names, **common)
    }
    if categorical:
        calculators["unseen_values_rate"] = nml.UnseenValuesCalculator(column_names=categorical, **common)
    if numeric:
        calculators["numerical_range_rate"] = nml.NumericalRangeCalculator(column_names=numeric, **common)
    return calculators


def seeded_fit(fittable: Any, reference: Any) -> Any:
    """`fittable.fit(reference)` with numpy's global random state seeded with FIT_SEED, then restored."""
    import numpy as np

    state = np.random.get_state()
    np.random.seed(FIT_SEED)
    try:
        return fittable.fit(reference)
    finally:
        np.random.set_state(state)


def without_reference_copy(calculator: Any) -> Any:
    """The fitted calculator without the copy of the whole reference frame that nannyml's UnivariateDriftCalculator
    keeps on its reference result, for its distribution plots only (modelwatch draws its own from the baseline's
    distributions). It was 95 % of a cached drift baseline (12.5 MB of 13.3 for 50,000 rows of 30 features), read
    and unpickled by every drift step; its methods' fitted state, thresholds and reference results are kept."""
    result = getattr(calculator, "result", None)
    if result is not None and getattr(result, "reference_data", None) is not None:
        result.reference_data = None
    return calculator


def fitted(config: ModelConfig, fittable: Any, reference: Any) -> Any:
    """`seeded_fit`, with nannyml's many plain exceptions on unusable reference data as ReferenceDataError."""
    try:
        return seeded_fit(fittable, reference)
    except Exception as exc:  # nannyml raises plain exceptions of many kinds on unusable reference data
        raise ReferenceDataError(f"model {config.name}: cannot fit on the reference data: {describe(exc)}") from exc
