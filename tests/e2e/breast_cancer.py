"""A real public dataset with a real model as SageMaker capture files: sklearn's breast cancer + LogisticRegression."""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

START = datetime(2026, 1, 5, tzinfo=UTC)
HOURS = 3
METRICS = ["roc_auc", "f1", "accuracy"]


@dataclass
class Generated:
    config_path: Path
    captures: Path
    ground_truth: Path
    reference: pd.DataFrame
    analysis: pd.DataFrame  # features, y_pred_proba, y_pred, target, timestamp (what nannyml gets directly)


CLINICS = ("east", "west", "north")


def generate(
    root: Path, seed: int = 7, variant: str = "AllTraffic", noise: float = 0.0, noisy_clinic: str | None = None
) -> Generated:
    """Train on a third, use a third as reference and a third as the monitored (captured) period, captured under
    `variant`; with `noise`, the monitored period's probabilities are that much noisier (a worse model serving), on
    every row or, with `noisy_clinic`, on that clinic's rows only. With `noisy_clinic` every row also has a
    `clinic` (a categorical feature the model does not use, captured last in the request), for segments."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    features = [f"f{i}" for i in range(len(data.feature_names))]
    frame.columns = [*features, "target"]
    third = len(frame) // 3
    train, reference, analysis = frame[:third], frame[third : 2 * third], frame[2 * third :]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train[features], train["target"])

    def scored(part: pd.DataFrame, start: datetime) -> pd.DataFrame:
        out = part.copy().reset_index(drop=True)
        out["y_pred_proba"] = model.predict_proba(out[features])[:, 1]
        out["y_pred"] = (out["y_pred_proba"] >= 0.5).astype(int)
        step = timedelta(hours=HOURS) / len(out)
        # Millisecond timestamps: what a capture's inferenceTime can carry.
        out["timestamp"] = [pd.Timestamp(start + step * i).floor("ms").to_pydatetime() for i in range(len(out))]
        return out

    reference_frame = scored(reference, START - timedelta(days=2))
    analysis_frame = scored(analysis, START)
    columns = list(features)
    if noisy_clinic is not None:
        clinics = np.random.default_rng(seed + 1)
        for part in (reference_frame, analysis_frame):
            part.insert(len(features), "clinic", clinics.choice(CLINICS, len(part), p=[0.5, 0.3, 0.2]))
        columns.append("clinic")
    if noise:
        rows = analysis_frame["clinic"] == noisy_clinic if noisy_clinic else np.ones(len(analysis_frame), dtype=bool)
        shaken = analysis_frame["y_pred_proba"] + np.random.default_rng(seed).normal(0.0, noise, len(analysis_frame))
        analysis_frame["y_pred_proba"] = np.where(rows, shaken.clip(0.001, 0.999), analysis_frame["y_pred_proba"])
        analysis_frame["y_pred"] = (analysis_frame["y_pred_proba"] >= 0.5).astype(int)

    root.mkdir(parents=True, exist_ok=True)
    reference_name = "reference.parquet" if variant == "AllTraffic" else f"reference-{variant}.parquet"
    reference_frame.to_parquet(root / reference_name, index=False)
    config = {
        "name": "breast-cancer",
        "endpoint": "breast-cancer-ep",
        "variant": variant,
        "problem_type": "binary_classification",
        "features": [{"name": f, "type": "numeric"} for f in features]
        + ([{"name": "clinic", "type": "categorical"}] if noisy_clinic is not None else []),
        "output": {"format": "csv", "columns": ["y_pred_proba"]},
        "target": "target",
        "timestamp": "timestamp",
        "reference": reference_name,
        "chunking": {"period": "1h"},
        "estimation": {"metrics": METRICS, "min_rows_per_chunk": 30},
    }
    config_path = root / "model.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    captures, labels = root / "captures", root / "ground-truth"
    rng = random.Random(seed)
    index = 0
    requests: list[tuple[datetime, str]] = []
    while index < len(analysis_frame):
        size = rng.randint(1, 3)
        # Every row of a request carries the request's inferenceTime: so does the frame nannyml gets directly.
        analysis_frame.loc[index : index + size - 1, "timestamp"] = analysis_frame["timestamp"].iloc[index]
        rows = analysis_frame.iloc[index : index + size]
        index += size
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        when = rows["timestamp"].iloc[0]
        body = "\n".join(",".join(_csv(v) for v in row) for row in rows[columns].to_numpy()) + "\n"
        output = "\n".join(repr(float(p)) for p in rows["y_pred_proba"]) + "\n"
        encoding = "BASE64" if len(requests) % 2 else "CSV"

        def side(text: str, mode: str, encoding: str = encoding) -> dict[str, str]:
            data = base64.b64encode(text.encode()).decode() if encoding == "BASE64" else text
            return {"observedContentType": "text/csv", "mode": mode, "data": data, "encoding": encoding}

        record = {
            "captureData": {"endpointInput": side(body, "INPUT"), "endpointOutput": side(output, "OUTPUT")},
            "eventMetadata": {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"},
            "eventVersion": "0",
        }
        folder = captures / "breast-cancer-ep" / variant / when.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"capture-{when:%M}.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        label = {
            "groundTruthData": {"data": "\n".join(str(int(t)) for t in rows["target"]), "encoding": "CSV"},
            "eventMetadata": {"eventId": event_id},
            "eventVersion": "0",
        }
        label_folder = labels / (when + timedelta(days=1)).strftime("%Y/%m/%d/%H")
        label_folder.mkdir(parents=True, exist_ok=True)
        with (label_folder / "labels.jsonl").open("a") as handle:
            handle.write(json.dumps(label) + "\n")
        requests.append((when, event_id))
    return Generated(config_path, captures, labels, reference_frame, analysis_frame)


def _csv(value: object) -> str:
    return value if isinstance(value, str) else repr(float(value))  # type: ignore[arg-type]


def of_clinic(generated: Generated, clinic: str) -> Generated:
    """The same run restricted to one clinic's rows (what a segment is estimated on)."""
    reference = generated.reference.loc[generated.reference["clinic"] == clinic].reset_index(drop=True)
    analysis = generated.analysis.loc[generated.analysis["clinic"] == clinic].reset_index(drop=True)
    return Generated(generated.config_path, generated.captures, generated.ground_truth, reference, analysis)


def nannyml_direct(generated: Generated) -> dict[tuple[str, str, datetime], float]:
    """CBPE estimates and realized performance computed by nannyml directly, per (metric, kind, chunk start)."""
    import nannyml as nml

    common = {
        "y_pred_proba": "y_pred_proba",
        "y_pred": "y_pred",
        "y_true": "target",
        "timestamp_column_name": "timestamp",
        "metrics": METRICS,
        "problem_type": "classification_binary",
        "chunk_period": "h",
    }
    values: dict[tuple[str, str, datetime], float] = {}
    estimator = nml.CBPE(**common).fit(generated.reference)
    estimated = estimator.estimate(generated.analysis.drop(columns=["target"])).to_df()
    calculator = nml.PerformanceCalculator(**common).fit(generated.reference)
    realized = calculator.calculate(generated.analysis).to_df()
    for kind, frame in (("estimated", estimated), ("realized", realized)):
        for _, row in frame.iterrows():
            if row[("chunk", "period")] != "analysis":
                continue
            start = pd.Timestamp(row[("chunk", "start_date")]).tz_localize(None).to_pydatetime().replace(tzinfo=UTC)
            for metric in METRICS:
                values[(metric, kind, start)] = float(row[(metric, "value")])
    return values


def as_array(values: dict[tuple[str, str, datetime], float]) -> np.ndarray:
    return np.array([values[k] for k in sorted(values)])
