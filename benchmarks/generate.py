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


def benchmark_config_dict(n_features: int = 30, name: str = "bench") -> dict[str, Any]:
    """A binary model config matching the generated files: features f0..f<n-1>, one probability output."""
    return {
        "name": name,
        "endpoint": f"{name}-endpoint",
        "problem_type": "binary_classification",
        "features": [{"name": f"f{i}", "type": "numeric"} for i in range(n_features)],
        "output": {"format": "csv", "columns": ["y_pred_proba"]},
    }


def capture_record(
    rng: random.Random,
    index: int,
    n_features: int,
    rows: int,
    encoding: str,
    start: datetime = START,
) -> dict[str, Any]:
    """One capture record of `rows` CSV rows of full-precision floats and one probability per row."""
    body = "\n".join(",".join(repr(rng.gauss(0.0, 1.0)) for _ in range(n_features)) for _ in range(rows)) + "\n"
    output = "\n".join(repr(rng.random()) for _ in range(rows)) + "\n"

    def side(text: str, mode: str) -> dict[str, str]:
        data = base64.b64encode(text.encode()).decode() if encoding == "BASE64" else text
        return {"observedContentType": "text/csv", "mode": mode, "data": data, "encoding": encoding}

    when = start + timedelta(milliseconds=250 * index)
    millis = when.microsecond // 1000
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis:03d}Z" if index % 2 else "Z")
    return {
        "captureData": {"endpointInput": side(body, "INPUT"), "endpointOutput": side(output, "OUTPUT")},
        "eventMetadata": {
            "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "inferenceTime": stamp,
        },
        "eventVersion": "0",
    }


def write_capture_file(
    path: str | Path,
    n_requests: int,
    n_features: int = 30,
    rows_per_request: tuple[int, int] = (1, 5),
    encodings: Sequence[str] = ("CSV", "BASE64"),
    seed: int = 0,
) -> Path:
    """Write a capture JSONL file of `n_requests` records; returns the path."""
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    low, high = rows_per_request
    with path.open("w", encoding="utf-8") as handle:
        for index in range(n_requests):
            rows = rng.randint(low, high)
            encoding = encodings[index % len(encodings)]
            record = capture_record(rng, index, n_features, rows, encoding)
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
