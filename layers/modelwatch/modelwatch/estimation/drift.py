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


def summarise_drift(drift_calculator: Any, frame: pd.DataFrame, keys: dict[int, str], top_n: int) -> DriftSummary:
    """Calculate drift on `frame` (analysed chunks only), rank features by alert count, count alerts per chunk.

    `keys` maps each chunk number in `frame[CHUNK]` to its chunk key. The missing-value rate is reported for the
    top-ranked features whether or not they drift, so an upstream that stops sending a feature shows up.
    """
    import nannyml as nml

    result = drift_calculator.calculate(frame).filter(period="analysis", methods=[DRIFT_METHOD])
    ranked = nml.AlertCountRanker().rank(result)
    ranking: list[dict[str, Any]] = [
        {"feature": str(r.column_name), "alerts": int(r.number_of_alerts), "rank": int(r["rank"])}
        for _, r in ranked.iterrows()
    ]
    top = [str(r["feature"]) for r in ranking[:top_n]]
    table = result.to_df()
    features = drift_calculator.column_names
    alert_columns = [(f, DRIFT_METHOD, "alert") for f in features if (f, DRIFT_METHOD, "alert") in table.columns]
    alerts_per_chunk = table[alert_columns].fillna(False).astype(bool).sum(axis=1)
    chunk_keys = table[("chunk", "chunk", "key")].astype(str)
    alerts_by_key = dict(zip(chunk_keys, alerts_per_chunk.astype(int), strict=True))
    missing = frame.groupby(CHUNK, sort=True)[top].agg(lambda s: float(s.isna().mean())) if top else None
    per_chunk = []
    for number, key in sorted(keys.items()):
        rates = {f: float(missing.loc[number, f]) for f in top} if missing is not None else {}
        per_chunk.append(
            {"chunk_key": key, "features_in_drift_alert": int(alerts_by_key.get(key, 0)), "missing_rate": rates}
        )
    return DriftSummary(
        ranking=ranking,
        top_features=top,
        top_drifting_features=[str(r["feature"]) for r in ranking[:top_n] if int(r["alerts"]) > 0],
        per_chunk=per_chunk,
        result=result,
    )
