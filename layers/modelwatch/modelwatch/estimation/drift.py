"""Univariate drift of the features on the analysed chunks: ranking, alert counts and missing-value rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelwatch.estimation.estimator import DRIFT_METHOD
from modelwatch.estimation.frames import CHUNK

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class DriftSummary:
    """Drift ranking over the analysed chunks and per-chunk data-quality numbers."""

    ranking: list[dict[str, Any]] = field(default_factory=list)  # feature, alerts, rank (1 = most alerts)
    top_features: list[str] = field(default_factory=list)  # the configured number of best-ranked features
    top_drifting_features: list[str] = field(default_factory=list)  # those of top_features with alerts
    per_chunk: list[dict[str, Any]] = field(default_factory=list)  # chunk_key, features_in_drift_alert, missing_rate
    result: Any = None  # nannyml drift result (for the report); not serialised


def calculate_drift(drift_calculator: Any, frame: pd.DataFrame) -> Any:
    """nannyml univariate drift of `frame`'s chunks (the reference period included; the calculator computes only
    DRIFT_METHOD)."""
    return drift_calculator.calculate(frame)


def missing_rates(frame: pd.DataFrame, keys: dict[int, str], features: list[str]) -> dict[str, dict[str, float]]:
    """Share of missing values of every feature per chunk: chunk key -> feature -> rate."""
    rates = frame[features].isna().groupby(frame[CHUNK], sort=True).mean()
    return {key: {f: float(rates.loc[number, f]) for f in features} for number, key in keys.items()}


def summarise_drift(
    result: Any, rates: dict[str, dict[str, float]], chunk_keys: list[str], features: list[str], top_n: int
) -> DriftSummary:
    """Rank features by drift alert count over the chunks of `result`, count alerts per chunk.

    `chunk_keys` lists the analysed chunks in order, `rates` their missing-value rates. The missing-value rate is
    reported for the top-ranked features whether or not they drift, so an upstream that stops sending a feature
    shows up.
    """
    import nannyml as nml

    ranked = nml.AlertCountRanker().rank(result)
    ranking: list[dict[str, Any]] = [
        {"feature": str(r.column_name), "alerts": int(r.number_of_alerts), "rank": int(r["rank"])}
        for _, r in ranked.iterrows()
    ]
    top = [str(r["feature"]) for r in ranking[:top_n]]
    table = result.to_df()
    alert_columns = [(f, DRIFT_METHOD, "alert") for f in features if (f, DRIFT_METHOD, "alert") in table.columns]
    alerts_per_chunk = table[alert_columns].fillna(False).astype(bool).sum(axis=1)
    keys = table[("chunk", "chunk", "key")].astype(str)
    alerts_by_key = dict(zip(keys, alerts_per_chunk.astype(int), strict=True))
    per_chunk = [
        {
            "chunk_key": key,
            "features_in_drift_alert": int(alerts_by_key.get(key, 0)),
            "missing_rate": {f: rates[key][f] for f in top},
        }
        for key in chunk_keys
    ]
    return DriftSummary(
        ranking=ranking,
        top_features=top,
        top_drifting_features=[str(r["feature"]) for r in ranking[:top_n] if int(r["alerts"]) > 0],
        per_chunk=per_chunk,
        result=result,
    )
