"""Synthetic SageMaker capture files for benchmarks and tests (deterministic for a seed)."""

from __future__ import annotations

import argparse
import base64
import json
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2024, 1, 1, tzinfo=UTC)


JSON_SCORE_PATH = "$.predictions[*].score"  # where the JSON outputs hold each row's probability


def benchmark_config_dict(n_features: int = 30, name: str = "bench", output_format: str = "csv") -> dict[str, Any]:
    """A binary model config matching the generated files: features f0..f<n-1>, one probability output (a CSV
    column, or `predictions[*].score` of a JSON body)."""
    output: dict[str, Any] = (
        {"format": "csv", "columns": ["y_pred_proba"]}
        if output_format == "csv"
        else {"format": "json", "probabilities": JSON_SCORE_PATH}
    )
    return {
        "name": name,
        "endpoint": f"{name}-endpoint",
        "problem_type": "binary_classification",
        "features": [{"name": f"f{i}", "type": "numeric"} for i in range(n_features)],
        "output": output,
    }


def capture_record(
    rng: random.Random,
    index: int,
    n_features: int,
    rows: int,
    encoding: str,
    start: datetime = START,
    output_format: str = "csv",
    inference_id: bool = False,
) -> dict[str, Any]:
    """One capture record of `rows` CSV rows of full-precision floats and one probability per row (CSV lines, or a
    JSON body `{"predictions": [{"score": p}, ...]}` as the endpoint returned it: JSON encoding)."""
    body = "\n".join(",".join(repr(rng.gauss(0.0, 1.0)) for _ in range(n_features)) for _ in range(rows)) + "\n"
    scores = [rng.random() for _ in range(rows)]

    def side(text: str, mode: str) -> dict[str, str]:
        data = base64.b64encode(text.encode()).decode() if encoding == "BASE64" else text
        return {"observedContentType": "text/csv", "mode": mode, "data": data, "encoding": encoding}

    if output_format == "csv":
        response = side("\n".join(repr(p) for p in scores) + "\n", "OUTPUT")
    else:
        text = json.dumps({"predictions": [{"score": p} for p in scores]})
        response = {"observedContentType": "application/json", "mode": "OUTPUT", "data": text, "encoding": "JSON"}

    when = start + timedelta(milliseconds=250 * index)
    millis = when.microsecond // 1000
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis:03d}Z" if index % 2 else "Z")
    metadata = {"eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "inferenceTime": stamp}
    if inference_id:
        metadata["inferenceId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return {
        "captureData": {"endpointInput": side(body, "INPUT"), "endpointOutput": response},
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


def write_capture_file(
    path: str | Path,
    n_requests: int,
    n_features: int = 30,
    rows_per_request: tuple[int, int] = (1, 5),
    encodings: Sequence[str] = ("CSV", "BASE64"),
    seed: int = 0,
    row_weights: Sequence[float] | None = None,
    output_format: str = "csv",
    inference_id: bool = False,
) -> Path:
    """Write a capture JSONL file of `n_requests` records; returns the path.

    Rows per request are uniform in `rows_per_request`, or drawn with `row_weights` (one weight per count from
    low to high); `output_format` csv or json (see `capture_record`); `inference_id`: the callers passed one."""
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    low, high = rows_per_request
    counts = list(range(low, high + 1))
    if row_weights is not None and len(row_weights) != len(counts):
        raise ValueError(f"row_weights needs {len(counts)} weights (rows {low}..{high})")
    with path.open("w", encoding="utf-8") as handle:
        for index in range(n_requests):
            rows = rng.randint(low, high) if row_weights is None else rng.choices(counts, row_weights)[0]
            encoding = encodings[index % len(encodings)]
            record = capture_record(
                rng, index, n_features, rows, encoding, output_format=output_format, inference_id=inference_id
            )
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_capture_file(args.path, args.requests, args.features, seed=args.seed))


if __name__ == "__main__":
    main()
