"""The obvious per-record decoder, for the side-by-side benchmark: json.loads + b64decode + csv.reader -> pandas.

It handles only what the benchmark files hold (CSV or BASE64 CSV input; one probability per output line, or a JSON
output `{"predictions": [{"score": p}, ...]}`) and does no quarantine: it is the hand-rolled pre-processing script
modelwatch replaces, not a second implementation.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pandas as pd


def _payload(side: dict[str, str]) -> str:
    data = side["data"]
    return base64.b64decode(data).decode("utf-8") if side["encoding"] == "BASE64" else data


def _probabilities(side: dict[str, str]) -> list[float]:
    """One probability per response row: CSV lines, or the scores of a JSON body."""
    if side["encoding"] == "JSON" or "json" in side.get("observedContentType", ""):
        return [float(p["score"]) for p in json.loads(_payload(side))["predictions"]]
    return [float(row[0]) for row in csv.reader(io.StringIO(_payload(side)))]


def decode_file_baseline(path: str | Path, feature_names: list[str], threshold: float = 0.5) -> pd.DataFrame:
    """Decode a capture file record by record into a pandas DataFrame with the modelwatch column names."""
    rows: list[list[object]] = []
    with Path(path).open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            capture = record["captureData"]
            meta = record["eventMetadata"]
            inputs = list(csv.reader(io.StringIO(_payload(capture["endpointInput"]))))
            outputs = _probabilities(capture["endpointOutput"])
            event_id = meta["eventId"]
            inference_id = meta.get("inferenceId") or event_id
            for position, (values, proba) in enumerate(zip(inputs, outputs, strict=True)):
                rows.append(
                    [
                        *(float(v) for v in values),
                        proba,
                        int(proba >= threshold),
                        event_id,
                        inference_id,
                        position,
                        meta["inferenceTime"],
                    ]
                )
    columns = [*feature_names, "y_pred_proba", "y_pred", "event_id", "inference_id", "row_in_request", "inference_time"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["row_in_request"] = frame["row_in_request"].astype("int32")
    frame["inference_time"] = pd.to_datetime(frame["inference_time"], utc=True, format="ISO8601")
    return frame


def decode_to_parquet_baseline(path: str | Path, output: str | Path, feature_names: list[str]) -> int:
    """Decode and write one Parquet file; returns the number of rows."""
    frame = decode_file_baseline(path, feature_names)
    frame.to_parquet(output, index=False)
    return len(frame)
