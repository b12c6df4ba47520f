"""Small generated capture and ground-truth files for the lake and ingestion tests (unit and integration)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from modelwatch.config.model import ModelConfig, parse_model_config

ENDPOINT = "churn-endpoint"
VARIANT = "AllTraffic"
CAPTURE_PREFIX = "datacapture/"
GROUND_TRUTH_PREFIX = "ground-truth/churn/"


def churn_config(name: str = "churn", **overrides: Any) -> ModelConfig:
    """A binary model with two numeric features, CSV in, probability out; labels under GROUND_TRUTH_PREFIX."""
    data: dict[str, Any] = {
        "name": name,
        "endpoint": ENDPOINT,
        "variant": VARIANT,
        "problem_type": "binary_classification",
        "features": [{"name": "tenure", "type": "numeric"}, {"name": "spend", "type": "numeric"}],
        "output": {"format": "csv", "columns": ["y_pred_proba"]},
        "reference": "s3://lake/models/churn/reference.parquet",
        "ground_truth": {"prefix": GROUND_TRUTH_PREFIX},
    }
    data.update(overrides)
    return parse_model_config(data, "<test>")


def capture_line(
    event_id: str,
    when: datetime,
    rows: list[tuple[float, float]],
    probas: list[float],
    inference_id: str | None = None,
    base64_input: bool = False,
) -> str:
    """One SageMaker capture record (CSV input of `rows`, CSV output of `probas`)."""
    body = "\n".join(f"{a},{b}" for a, b in rows) + "\n"
    data = base64.b64encode(body.encode()).decode() if base64_input else body
    meta: dict[str, Any] = {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    if inference_id:
        meta["inferenceId"] = inference_id
    record = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": data,
                "encoding": "BASE64" if base64_input else "CSV",
            },
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": "\n".join(str(p) for p in probas) + "\n",
                "encoding": "CSV",
            },
        },
        "eventMetadata": meta,
        "eventVersion": "0",
    }
    return json.dumps(record)


def capture_file(start: datetime, records: int, prefix: str = "ev", step: timedelta = timedelta(minutes=7)) -> bytes:
    """`records` single-row records every `step` from `start`, ids `<prefix>-<i>`."""
    lines = [
        capture_line(f"{prefix}-{i}", start + i * step, [(float(i), i * 1.5)], [round((i % 10) / 10, 2)])
        for i in range(records)
    ]
    return ("\n".join(lines) + "\n").encode()


def ground_truth_line(event_id: str, labels: list[int]) -> str:
    body = "\n".join(str(v) for v in labels)
    return json.dumps(
        {
            "groundTruthData": {"data": body, "encoding": "CSV"},
            "eventMetadata": {"eventId": event_id},
            "eventVersion": "0",
        }
    )


def ground_truth_file(labels: dict[str, int]) -> bytes:
    return ("\n".join(ground_truth_line(k, [v]) for k, v in labels.items()) + "\n").encode()


def capture_key(when: datetime, name: str = "00-00-000-file.jsonl") -> str:
    return f"{CAPTURE_PREFIX}{ENDPOINT}/{VARIANT}/{when:%Y/%m/%d/%H}/{name}"


def ground_truth_key(when: datetime, name: str = "labels.jsonl") -> str:
    return f"{GROUND_TRUTH_PREFIX}{when:%Y/%m/%d/%H}/{name}"
