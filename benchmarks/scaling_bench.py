"""Scaling: ingest and estimation time against rows, and a fleet's run time against the number of models.

- ingest: `decode_capture_to_lake` (streaming decode + one Parquet file per hour into a LocalStore lake) on capture
  files of about 1e4, 1e5 and 1e6 rows (cut from, or repeated out of, the decode benchmark's generated file), each
  in a fresh subprocess (peak RSS per size);
- estimation: a cached `run_monitor_from_lake` over one day (24 hourly chunks) holding 1e4, 1e5 and 1e6 rows, and
  the direct nannyml `estimate` on the same rows;
- models 1..100: not run; derived from the measured per-model run time and the models the fleet starts at once
  (MaxConcurrency batches of FLEET_BATCH_SIZE), beside running the models one after another (the fleet run
  itself is measured in benchmarks/fleet_bench.py).

    python -m benchmarks.scaling_bench [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scaling.json"
FULL_ROWS = (10_000, 100_000, 1_000_000)
QUICK_ROWS = (2_400, 4_800)  # at least 100 rows per hourly chunk (min_rows_per_chunk)
MEAN_ROWS_PER_REQUEST = 3.0  # the generator draws 1-5 rows per request uniformly
MODEL_COUNTS = (1, 2, 5, 10, 20, 50, 100)


# ---------------------------------------------------------------------------- ingest
def capture_with_rows(base: Path, rows: int, folder: Path) -> tuple[Path, bool]:
    """A capture file of about `rows` rows: the base file's first lines, repeated when it is too short.

    Returns the path and whether lines were repeated (repeated rows compress better: not a fair lake size)."""
    requests = max(1, round(rows / MEAN_ROWS_PER_REQUEST))
    with base.open("rb") as source:
        lines = [line for line in itertools.islice(source, requests) if line.strip()]
    repeated = len(lines) < requests
    target = folder / f"{base.stem}-{requests}r.jsonl"
    if target.exists():
        return target, repeated
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        written = 0
        while written < requests:
            take = lines[: requests - written]
            out.writelines(take)
            written += len(take)
    partial.rename(target)
    return target, repeated


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM belongs to the address space, so unlike ru_maxrss it does not carry the
    parent's high-water mark across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux /proc/self/clear_refs); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _ingest_worker(source: str, lake: str) -> None:
    from benchmarks.decode_bench import _config
    from modelwatch.ingest.pipeline import decode_capture_to_lake
    from modelwatch.lake.store import LocalStore

    config = _config()
    store = LocalStore(lake)
    started = time.perf_counter()
    with open(source, "rb") as stream:
        outcome = decode_capture_to_lake(stream, config, source, store, "bench", datetime.now(UTC))
    seconds = time.perf_counter() - started
    lake_bytes = sum(p.stat().st_size for p in Path(lake).rglob("*.parquet"))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": outcome.rows,
                "records": outcome.records,
                "quarantined": outcome.quarantined,
                "lake_files": len(outcome.files),
                "lake_bytes": lake_bytes,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def bench_ingest(base: Path, rows_list: Sequence[int], folder: Path) -> list[dict[str, Any]]:
    results = []
    for rows in rows_list:
        source, repeated = capture_with_rows(base, rows, folder)
        with tempfile.TemporaryDirectory(prefix="scaling-lake-") as lake:
            completed = subprocess.run(
                [sys.executable, "-m", "benchmarks.scaling_bench", "--ingest-worker", str(source), lake],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")},
            )
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        size_mb = source.stat().st_size / 1e6
        measured.update(
            {
                "target_rows": rows,
                "repeated_lines": repeated,
                "file_mb": round(size_mb, 1),
                "seconds": round(measured["seconds"], 3),
                "seconds_per_mb": round(measured["seconds"] / size_mb, 5),
                "lake_bytes_per_row": round(measured["lake_bytes"] / max(1, measured["rows"]), 1),
                "peak_rss_mb": round(measured["peak_rss_mb"], 1),
            }
        )
        print(
            f"ingest {measured['rows']:>9,} rows {size_mb:>7.1f} MB: {measured['seconds']:.2f} s, "
            f"peak RSS {measured['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        results.append(measured)
    return results


# ---------------------------------------------------------------------------- estimation
def bench_estimation(rows_list: Sequence[int], reference_rows: int) -> list[dict[str, Any]]:
    from benchmarks.estimation_bench import Lake, _best, _clear_analysis, direct_estimator, make_workload

    results = []
    for rows in rows_list:
        workload = make_workload(1, reference_rows=reference_rows, rows_per_day=rows)
        with tempfile.TemporaryDirectory(prefix="scaling-estimation-") as folder:
            lake = Lake(Path(folder), workload, drift=False)
            fit_seconds, fitted_outcome = _best(1, lake.run)
            peak_supported = reset_peak_rss()
            # the cached fit re-estimating every chunk (no stored analysis): the per-row cost of estimation
            cached_seconds, cached_outcome = _best(1, lake.run, before=lambda: _clear_analysis(lake.store, lake.model))  # noqa: B023
            cached_peak = peak_rss_mb() if peak_supported else None
            assert fitted_outcome.estimator_cache == "fit" and cached_outcome.estimator_cache == "hit"
        fit, estimate = direct_estimator(workload)
        fitted = fit()
        direct_seconds, _ = _best(1, lambda: estimate(fitted))  # noqa: B023 - called within the iteration
        result = {
            "rows": rows,
            "chunks": cached_outcome.chunks_analysed,
            "modelwatch_fit_run_seconds": round(fit_seconds, 3),
            "modelwatch_cached_run_seconds": round(cached_seconds, 3),
            "modelwatch_cached_run_peak_rss_mb": round(cached_peak, 1) if cached_peak is not None else None,
            "direct_estimate_seconds": round(direct_seconds, 3),
        }
        print(f"estimation {rows:>9,} rows: {json.dumps(result)}", flush=True)
        results.append(result)
    return results


# ---------------------------------------------------------------------------- models
def fleet_concurrency(asl_path: Path = ROOT / "statemachines" / "fleet.asl.json") -> int:
    """MaxConcurrency of the fleet's Distributed Map (the first Map state that sets it)."""
    asl = json.loads(asl_path.read_text())
    for state in asl["States"].values():
        if state.get("Type") == "Map" and "MaxConcurrency" in state:
            return int(state["MaxConcurrency"])
    raise ValueError(f"{asl_path}: no Map state with MaxConcurrency")


def models_table(
    per_model_seconds: float, concurrency: int, counts: Sequence[int] = MODEL_COUNTS
) -> list[dict[str, Any]]:
    from benchmarks.cost_model import models_makespan

    return [
        {
            "models": n,
            "distributed_map_seconds": round(models_makespan(per_model_seconds, n, concurrency), 3),
            "sequential_seconds": round(per_model_seconds * n, 3),
        }
        for n in counts
    ]


def run(quick: bool = False, base: Path | None = None) -> dict[str, Any]:
    from benchmarks.decode_bench import capture_file

    rows_list = QUICK_ROWS if quick else FULL_ROWS
    base = base or capture_file(5.0 if quick else 200.0)
    data = ROOT / "benchmarks" / ".data" / "scaling"
    data.mkdir(parents=True, exist_ok=True)
    ingest = bench_ingest(base, rows_list, data)
    estimation = bench_estimation(rows_list, reference_rows=5_000 if quick else 50_000)
    from modelwatch.workflow.fleet import FLEET_BATCH_SIZE

    # The Map starts MaxConcurrency batches of FLEET_BATCH_SIZE models at once and does not wait for their runs.
    concurrency = fleet_concurrency() * FLEET_BATCH_SIZE
    # One model's hourly run: the cached run nearest 100k rows/day (the workload), per model.
    reference_run = min(estimation, key=lambda e: abs(e["rows"] - 100_000))
    per_model = reference_run["modelwatch_cached_run_seconds"]
    return {
        "benchmark": "scaling",
        "mode": "quick" if quick else "full",
        "ingest": ingest,
        "estimation": estimation,
        "models": {
            "per_model_seconds": per_model,
            "per_model_rows": reference_run["rows"],
            "concurrency": concurrency,
            "assumption": (
                "the fleet's Distributed Map starts MaxConcurrency batches of models at once and each model's "
                "Monitor execution runs on its own, taking the measured cached run time (Lambda scales out; the "
                "account's concurrency is the Fleet section's subject)"
            ),
            "table": models_table(per_model, concurrency),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--ingest-worker", nargs=2, metavar=("SOURCE", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ingest_worker:
        _ingest_worker(*args.ingest_worker)
        return 0
    from benchmarks.estimation_bench import warm_up

    warm_up()  # lazy imports load here, not in the first timed fit (benchmarks.run warms up in its estimation step)
    result = run(args.quick)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
