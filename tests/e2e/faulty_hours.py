"""A small JSON-request model whose captured hours each carry one injected data fault (or none), as capture files.

Hours (UTC, from START): 0 clean; 1 feature `x1` missing from 30 % of the requests (JSON key absent); 2 a category
`cat` never seen in the reference in 10 % of the rows; 3 text instead of a number in `x2` in 10 % of the rows; 4 an
extra JSON key `debug` in 20 % of the requests; 5 `x1` shifted by three standard deviations; 6 clean.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

START = datetime(2026, 1, 5, tzinfo=UTC)
HOURS = 7
ROWS_PER_HOUR = 240
REFERENCE_ROWS = 1200
CLEAN_HOURS = (0, 6)
# (hour, feature, check): the violations the faults must raise, and no others.
EXPECTED_VIOLATIONS = {
    (1, "x1", "completeness_check"),
    (2, "cat", "categorical_values_check"),
    (3, "x2", "data_type_check"),
    (4, "debug", "extra_column_check"),
    (5, "x1", "baseline_drift_check"),
}
FEATURES = ["x1", "x2", "cat"]
# Drift methods per type beside the defaults (Jensen-Shannon first: the published one), to show they are configurable.
CONTINUOUS_METHODS = ["jensen_shannon", "wasserstein"]
CATEGORICAL_METHODS = ["jensen_shannon", "chi2"]


@dataclass
class Generated:
    config_path: Path
    captures: Path
    reference: pd.DataFrame
    analysis: pd.DataFrame  # what nannyml gets directly: damaged values missing, naive UTC timestamps


def _frame(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x1": rng.normal(10.0, 2.0, rows),
            "x2": rng.normal(0.0, 1.0, rows),
            "cat": rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2]).astype(object),
        }
    )
    score = 1 / (1 + np.exp(-(0.4 * (frame["x1"] - 10) + frame["x2"])))
    frame["y_pred_proba"] = score.round(6)
    frame["y_pred"] = (frame["y_pred_proba"] >= 0.5).astype("int64")
    frame["target"] = (rng.random(rows) < frame["y_pred_proba"]).astype("int64")
    return frame


def generate(root: Path, seed: int = 11) -> Generated:
    rng = np.random.default_rng(seed)
    reference = _frame(rng, REFERENCE_ROWS)
    reference["timestamp"] = pd.date_range(START - timedelta(days=2), periods=REFERENCE_ROWS, freq="30s").tz_localize(
        None
    )
    root.mkdir(parents=True, exist_ok=True)
    reference.to_parquet(root / "reference.parquet", index=False)
    config = {
        "name": "faulty",
        "endpoint": "faulty-ep",
        "problem_type": "binary_classification",
        "features": [{"name": "x1"}, {"name": "x2"}, {"name": "cat", "type": "categorical"}],
        "input": {"format": "json", "instances": "$.instances"},
        "output": {"format": "json", "probabilities": "$.probabilities"},
        "target": "target",
        "reference": "reference.parquet",
        "chunking": {"period": "1h"},
        "estimation": {"metrics": ["roc_auc"], "min_rows_per_chunk": 50},
        "drift": {"continuous_methods": CONTINUOUS_METHODS, "categorical_methods": CATEGORICAL_METHODS},
    }
    config_path = root / "model.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    captures = root / "captures"
    direct: list[dict[str, object]] = []
    for hour in range(HOURS):
        frame = _frame(rng, ROWS_PER_HOUR)
        if hour == 5:
            frame["x1"] = frame["x1"] + 6.0
        chosen = rng.random(ROWS_PER_HOUR)
        folder = captures / "faulty-ep" / "AllTraffic" / (START + timedelta(hours=hour)).strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "capture.jsonl").open("w") as handle:
            for i, row in frame.iterrows():
                when = START + timedelta(hours=hour, seconds=15 * int(i))
                instance: dict[str, object] = {"x1": float(row["x1"]), "x2": float(row["x2"]), "cat": row["cat"]}
                seen = dict(instance)
                if hour == 1 and chosen[i] < 0.3:
                    del instance["x1"]
                    seen["x1"] = None
                if hour == 2 and chosen[i] < 0.1:
                    instance["cat"] = seen["cat"] = "zzz"
                if hour == 3 and chosen[i] < 0.1:
                    instance["x2"] = "oops"
                    seen["x2"] = None
                if hour == 4 and chosen[i] < 0.2:
                    instance["debug"] = True
                record = {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "application/json",
                            "mode": "INPUT",
                            "data": json.dumps({"instances": [instance]}),
                            "encoding": "JSON",
                        },
                        "endpointOutput": {
                            "observedContentType": "application/json",
                            "mode": "OUTPUT",
                            "data": json.dumps({"probabilities": [float(row["y_pred_proba"])]}),
                            "encoding": "JSON",
                        },
                    },
                    "eventMetadata": {
                        "eventId": f"{hour:02d}{i:06d}-0000-4000-8000-000000000000",
                        "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    },
                    "eventVersion": "0",
                }
                handle.write(json.dumps(record) + "\n")
                direct.append(
                    {
                        **seen,
                        "y_pred_proba": float(row["y_pred_proba"]),
                        "y_pred": int(row["y_pred"]),
                        "timestamp": pd.Timestamp(when).tz_localize(None),
                    }
                )
    analysis = pd.DataFrame(direct)
    analysis["x1"] = analysis["x1"].astype("float64")
    analysis["x2"] = analysis["x2"].astype("float64")
    analysis["cat"] = analysis["cat"].astype(object)
    return Generated(config_path, captures, reference, analysis)


def nannyml_direct(generated: Generated) -> dict[tuple[str, str, str | None, datetime], tuple[float, bool]]:
    """nannyml run directly on the same reference and rows, hourly chunks: (monitor, metric, feature, chunk start)
    -> (value, alert) for univariate drift of features and outputs (every configured method), multivariate drift,
    and the data-quality calculators."""
    import nannyml as nml

    common = {"timestamp_column_name": "timestamp", "chunk_period": "h"}
    reference = generated.reference.copy()
    reference["cat"] = reference["cat"].astype(object)
    analysis = generated.analysis
    found: dict[tuple[str, str, str | None, datetime], tuple[float, bool]] = {}

    def collect(monitor: str, result: object, subjects: list[tuple[tuple[str, ...], str, str | None]]) -> None:
        frame = result.filter(period="analysis").to_df()  # type: ignore[attr-defined]
        start_column = next(c for c in frame.columns if c[0] == "chunk" and c[-1] == "start_date")
        for _, row in frame.iterrows():
            start = pd.Timestamp(row[start_column]).to_pydatetime().replace(tzinfo=UTC)
            for prefix, metric, feature in subjects:
                alert = row[(*prefix, "alert")]
                found[(monitor, metric, feature, start)] = (float(row[(*prefix, "value")]), bool(alert))

    methods = {"x1": CONTINUOUS_METHODS, "x2": CONTINUOUS_METHODS, "cat": CATEGORICAL_METHODS}
    methods |= {"y_pred_proba": CONTINUOUS_METHODS, "y_pred": CATEGORICAL_METHODS}
    for columns, categorical in ((FEATURES, ["cat"]), (["y_pred_proba", "y_pred"], ["y_pred"])):
        univariate = nml.UnivariateDriftCalculator(
            column_names=columns,
            treat_as_categorical=categorical,
            continuous_methods=CONTINUOUS_METHODS,
            categorical_methods=CATEGORICAL_METHODS,
            **common,
        ).fit(reference)
        subjects = [((c, m), m, c) for c in columns for m in methods[c]]
        collect("drift", univariate.calculate(analysis), subjects)
    multivariate = nml.DataReconstructionDriftCalculator(column_names=FEATURES, **common).fit(reference)
    collect("drift", multivariate.calculate(analysis), [(("reconstruction_error",), "reconstruction_error", None)])
    for metric, calculator, columns in (
        ("missing_values_rate", nml.MissingValuesCalculator, FEATURES),
        ("unseen_values_rate", nml.UnseenValuesCalculator, ["cat"]),
        ("numerical_range_rate", nml.NumericalRangeCalculator, ["x1", "x2"]),
    ):
        fitted = calculator(column_names=columns, **common).fit(reference)
        collect("data_quality", fitted.calculate(analysis), [((c,), metric, c) for c in columns])
    return found
