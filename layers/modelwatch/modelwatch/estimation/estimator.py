"""Build and fit the nannyml objects of one model: CBPE or DLE, the realized-performance and drift calculators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.constants import COL_Y_PRED
from modelwatch.errors import EstimationError
from modelwatch.estimation.frames import TARGET, TIMESTAMP

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
ESTIMATOR_SCHEMA = 1


@dataclass
class FittedMonitor:
    """Everything fitted on the reference data once and reused for every run (pickled in the estimator cache)."""

    estimator: Any  # nannyml CBPE or DLE
    realized: Any | None  # nannyml PerformanceCalculator; fitted on first need (labels), then cached too
    drift: Any | None  # nannyml UnivariateDriftCalculator; fitted on first need (drift metrics or top features)


def build_chunker(config: ModelConfig) -> Any:
    """The nannyml chunker for the config's chunking (period or size)."""
    from modelwatch.estimation.nml_chunker import ModelwatchChunker

    period = config.chunking.period_delta
    if period is not None:
        return ModelwatchChunker(period_ns=int(period.total_seconds() * 1_000_000_000))
    return ModelwatchChunker(size=config.chunking.size)


def build_thresholds(config: ModelConfig) -> dict[str, Any]:
    """Configured nannyml thresholds per metric (metrics not named keep nannyml's defaults)."""
    from nannyml.thresholds import ConstantThreshold, StandardDeviationThreshold

    thresholds: dict[str, Any] = {}
    for metric, spec in config.estimation.thresholds.items():
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
    """nannyml univariate drift (Jensen-Shannon) over every feature."""
    import nannyml as nml

    categorical = [f.name for f in config.features if f.type == "categorical"]
    return nml.UnivariateDriftCalculator(
        column_names=config.feature_names,
        treat_as_categorical=categorical,
        timestamp_column_name=TIMESTAMP,
        chunker=chunker,
        continuous_methods=[DRIFT_METHOD],
        categorical_methods=[DRIFT_METHOD],
    )


def seeded_fit(fittable: Any, reference: Any) -> Any:
    """`fittable.fit(reference)` with numpy's global random state seeded with FIT_SEED, then restored."""
    import numpy as np

    state = np.random.get_state()
    np.random.seed(FIT_SEED)
    try:
        return fittable.fit(reference)
    finally:
        np.random.set_state(state)


def fit_monitor(config: ModelConfig, reference: Any, realized: bool = True, drift: bool = True) -> FittedMonitor:
    """Fit the estimator, and when asked the realized calculator and drift calculator, on the prepared reference."""
    chunker = build_chunker(config)
    try:
        estimator = seeded_fit(build_estimator(config, chunker), reference)
        drift_calculator = seeded_fit(build_drift_calculator(config, chunker), reference) if drift else None
        calculator = seeded_fit(build_realized_calculator(config, chunker), reference) if realized else None
    except Exception as exc:  # nannyml raises plain exceptions of many kinds on unusable reference data
        from modelwatch.errors import ReferenceDataError

        if isinstance(exc, EstimationError):
            raise
        raise ReferenceDataError(f"model {config.name}: cannot fit on the reference data: {exc}") from exc
    return FittedMonitor(estimator=estimator, realized=calculator, drift=drift_calculator)


def fit_missing_parts(config: ModelConfig, monitor: FittedMonitor, reference: Any, realized: bool, drift: bool) -> bool:
    """Fit the realized calculator and/or drift calculator a cached monitor was fitted without (sharing its
    chunker), when asked for; True when something was added (the cache should then be rewritten)."""
    chunker = monitor.estimator.chunker
    chunker.offset = 0  # the reference is split from its first row
    added = False
    try:
        if realized and monitor.realized is None:
            monitor.realized = seeded_fit(build_realized_calculator(config, chunker), reference)
            added = True
        if drift and monitor.drift is None:
            monitor.drift = seeded_fit(build_drift_calculator(config, chunker), reference)
            added = True
    except Exception as exc:
        from modelwatch.errors import ReferenceDataError

        raise ReferenceDataError(f"model {config.name}: cannot fit on the reference data: {exc}") from exc
    return added


def fitting_fingerprint(config: ModelConfig) -> dict[str, Any]:
    """The parts of the config that change what is fitted (not name, endpoint, formats, gates or lateness)."""
    return {
        "schema": ESTIMATOR_SCHEMA,
        "problem_type": config.problem_type.value,
        "features": [f.model_dump(mode="json") for f in config.features],
        "classes": list(config.classes),
        "metrics": config.metrics,
        "thresholds": {k: v.model_dump(mode="json") for k, v in sorted(config.estimation.thresholds.items())},
        "chunking": config.chunking.model_dump(mode="json"),
        "dle_hyperparameters": DLE_HYPERPARAMETERS if config.problem_type is ProblemType.REGRESSION else None,
        "drift_method": DRIFT_METHOD,
        "fit_seed": FIT_SEED,
    }
