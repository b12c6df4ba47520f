"""Capture decoding benchmark: modelwatch's streaming vectorised decoder vs the obvious per-record decoder.

Each decoder runs in its own subprocess (honest wall time including imports, and its own peak RSS), on the same
generated capture file, writing Parquet. The decoded values are then compared exactly.

    python -m benchmarks.decode_bench            # ~200 MB and ~10 MB files
    python -m benchmarks.decode_bench --quick    # ~5 MB file (CI smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
RESULTS = HERE / "results" / "decode.json"
BYTES_PER_REQUEST = 2460  # measured for 30 full-precision features, 1-5 rows per request
N_FEATURES = 30
SEED = 7


def _config() -> Any:
    from benchmarks.generate import benchmark_config_dict
    from modelwatch.config.model import parse_model_config

    return parse_model_config(benchmark_config_dict(N_FEATURES), "<benchmark>")


def capture_file(size_mb: float) -> Path:
    """The cached benchmark capture file of about `size_mb` MB (generated once)."""
    from benchmarks.generate import write_capture_file

    requests = max(1, int(size_mb * 1_000_000 / BYTES_PER_REQUEST))
    path = DATA / f"capture-{requests}r-{N_FEATURES}f-s{SEED}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write_capture_file(partial, requests, n_features=N_FEATURES, seed=SEED)
        partial.rename(path)
    return path


# ---------------------------------------------------------------------------- workers (run in subprocesses)
def _worker_baseline(source: Path, output: Path) -> dict[str, Any]:
    from benchmarks.baseline_decoder import decode_to_parquet_baseline

    rows = decode_to_parquet_baseline(source, output, [f"f{i}" for i in range(N_FEATURES)])
    return {"rows": rows, "records": sum(1 for line in source.open("rb") if line.strip()), "quarantined": 0}


def _worker_modelwatch(source: Path, output: Path) -> dict[str, Any]:
    import polars as pl

    from modelwatch.capture import iter_decode_capture

    config = _config()
    parts: list[pl.DataFrame] = []
    records = quarantined = 0
    with source.open("rb") as stream:
        # Streaming decode: memory is bounded by the batch of raw lines; the typed rows are ~3x smaller than the
        # JSON and are written as one Parquet file, like the baseline's.
        for batch in iter_decode_capture(stream, config, str(source)):
            parts.append(batch.rows)
            records += batch.records
            quarantined += len(batch.quarantined)
    rows = pl.concat(parts, how="vertical", rechunk=False) if parts else pl.DataFrame()
    rows.write_parquet(output, compression="snappy")
    return {"rows": rows.height, "records": records, "quarantined": quarantined}


def _worker(kind: str, source: str, output: str) -> None:
    started = time.perf_counter()
    result = (_worker_baseline if kind == "baseline" else _worker_modelwatch)(Path(source), Path(output))
    result["inner_seconds"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


# ---------------------------------------------------------------------------- driver
def run_one(kind: str, source: Path, output: Path) -> dict[str, Any]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.decode_bench", "--worker", kind, str(source), str(output)],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        env={**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")},
    )
    wall = time.perf_counter() - started
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    size_mb = source.stat().st_size / 1_000_000
    result.update(
        {
            "decoder": kind,
            "wall_seconds": round(wall, 3),
            "records_per_second": round(result["records"] / wall),
            "mb_per_second": round(size_mb / wall, 2),
            "peak_rss_mb": round(result["peak_rss_mb"], 1),
            "inner_seconds": round(result["inner_seconds"], 3),
            "cpu_seconds": round(result["cpu_seconds"], 3),
        }
    )
    return result


def assert_same_values(baseline: Path, ours: Path) -> None:
    """The two decoders' Parquet files hold exactly the same values (floats compared bit for bit)."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from modelwatch.capture import capture_schema
    from modelwatch.capture.decode import EXTRA_KEYS_DTYPE, FEATURE_ISSUES_DTYPE
    from modelwatch.constants import COL_EXTRA_KEYS, COL_FEATURE_ISSUES

    schema = capture_schema(_config())
    # the obvious decoder has no notion of damaged values or extra keys; the generated CSV files have none
    expected = pl.read_parquet(baseline).with_columns(
        pl.lit(None, dtype=FEATURE_ISSUES_DTYPE).alias(COL_FEATURE_ISSUES),
        pl.lit(None, dtype=EXTRA_KEYS_DTYPE).alias(COL_EXTRA_KEYS),
    )
    expected = expected.select(list(schema)).cast(schema)  # type: ignore[arg-type]
    actual = pl.read_parquet(ours)
    assert actual.schema == pl.Schema(schema), f"schema differs: {actual.schema}"
    assert_frame_equal(actual, expected, check_exact=True)


def bench_file(source: Path) -> dict[str, Any]:
    size_mb = source.stat().st_size / 1_000_000
    print(f"\n{source.name}: {size_mb:.1f} MB", flush=True)
    load = os.getloadavg()[0]  # the machine may be shared: a busy one slows both, the parallel one more
    with tempfile.TemporaryDirectory(prefix="decode-bench-") as folder:
        base_out, ours_out = Path(folder) / "baseline.parquet", Path(folder) / "modelwatch.parquet"
        baseline = run_one("baseline", source, base_out)
        ours = run_one("modelwatch", source, ours_out)
        assert baseline["rows"] == ours["rows"], (baseline["rows"], ours["rows"])
        assert ours["quarantined"] == 0
        assert_same_values(base_out, ours_out)
    ratio = baseline["wall_seconds"] / ours["wall_seconds"]
    cpu_ratio = baseline["cpu_seconds"] / ours["cpu_seconds"]
    header = f"{'decoder':<11} {'wall s':>8} {'cpu s':>7} {'records/s':>10} {'MB/s':>7} {'peak RSS MB':>12} {'rows':>9}"
    print(header)
    for item in (baseline, ours):
        print(
            f"{item['decoder']:<11} {item['wall_seconds']:>8.2f} {item['cpu_seconds']:>7.2f} "
            f"{item['records_per_second']:>10,} {item['mb_per_second']:>7.1f} {item['peak_rss_mb']:>12.0f} "
            f"{item['rows']:>9,}"
        )
    print(
        f"speed ratio (obvious wall / modelwatch wall): {ratio:.2f}x (cpu time: {cpu_ratio:.2f}x); "
        f"load average at start {load:.1f}; values identical: yes",
        flush=True,
    )
    return {
        "file": source.name,
        "size_mb": round(size_mb, 1),
        "records": ours["records"],
        "rows": ours["rows"],
        "baseline": baseline,
        "modelwatch": ours,
        "speed_ratio": round(ratio, 2),
        "cpu_time_ratio": round(cpu_ratio, 2),
        "load_average_at_start": round(load, 2),
        "values_identical": True,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one ~5 MB file (CI smoke)")
    parser.add_argument("--sizes", type=float, nargs="*", help="file sizes in MB (default 200 10)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return 0
    sizes = args.sizes or ([5.0] if args.quick else [200.0, 10.0])
    results = [bench_file(capture_file(size)) for size in sizes]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "capture decode",
        "mode": "quick" if args.quick else "full",
        "goal": {"speed_ratio_min": 4.0, "peak_rss_mb_max_at_200mb": 1024},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "files": results,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
