"""Which way is worse for each metric, and which side of its thresholds a crossing lies on."""

from __future__ import annotations

from enum import StrEnum

# Errors: a higher value is worse. Scores: a lower value is worse.
HIGHER_IS_WORSE = frozenset({"mae", "mse", "rmse", "mape", "msle", "rmsle"})
LOWER_IS_WORSE = frozenset(
    {"roc_auc", "f1", "accuracy", "precision", "recall", "specificity", "average_precision", "r2"}
)


class Crossing(StrEnum):
    """What a threshold crossing means for the model."""

    DEGRADATION = "degradation"  # in the direction that is worse: an alert
    IMPROVEMENT = "improvement"  # in the direction that is better: unexpected, often a data change; a notice


def worse_side(metric: str) -> str | None:
    """`upper` when a higher value is worse, `lower` when a lower one is, None when the metric has no direction
    (then a crossing of either threshold is a degradation)."""
    if metric in HIGHER_IS_WORSE:
        return "upper"
    if metric in LOWER_IS_WORSE:
        return "lower"
    return None


def crossed_side(value: float | None, lower: float | None, upper: float | None) -> str | None:
    """`lower` or `upper`: the threshold `value` lies beyond; None when it lies within (or cannot be told)."""
    if value is None:
        return None
    if lower is not None and value < lower:
        return "lower"
    if upper is not None and value > upper:
        return "upper"
    return None


def classify(metric: str, value: float | None, lower: float | None, upper: float | None) -> Crossing:
    """The meaning of an alerting value: a degradation unless it lies beyond the threshold on the better side."""
    worse = worse_side(metric)
    side = crossed_side(value, lower, upper)
    if worse is None or side is None or side == worse:
        return Crossing.DEGRADATION
    return Crossing.IMPROVEMENT


def excess(metric: str, value: float | None, lower: float | None, upper: float | None) -> float:
    """How far `value` lies beyond the threshold it crossed (0 within the thresholds): the incident's severity."""
    side = crossed_side(value, lower, upper)
    if value is None or side is None:
        return 0.0
    if side == "lower":
        assert lower is not None
        return lower - value
    assert upper is not None
    return value - upper


def band_beyond(
    lower_bound: float | None, upper_bound: float | None, lower: float | None, upper: float | None, side: str
) -> bool:
    """Whether the whole confidence band [lower_bound, upper_bound] lies beyond the `side` threshold (noise
    control). A row without a band (realized values) counts as its value alone, which lies beyond already."""
    if side == "lower":
        return upper_bound is None or (lower is not None and upper_bound < lower)
    return lower_bound is None or (upper is not None and lower_bound > upper)
