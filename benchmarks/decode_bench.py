"""Capture decoding benchmark: modelwatch's streaming vectorised decoder vs the obvious per-record decoder, with
pyarrow's JSON parser as the ceiling.

Each decoder runs in its own subprocess (honest wall and CPU time including the interpreter and imports, and its
own peak RSS, VmHWM), on the same generated capture file of one mix, writing Parquet. The decoded values are then
compared exactly. Each worker also times its imports apart from its decode, so both figures are reported: a Lambda
container pays the imports once per cold start, not once per file. pyarrow's `read_json` of the same file (the
JSON parse alone, no base64, no CSV, no Parquet) is the ceiling.

Workers run with compiled bytecode cached (in `benchmarks/.data/pycache`, warmed by an untimed import first), as a
pip-installed layer or image has it; the shell may set PYTHONDONTWRITEBYTECODE, which would otherwise make every
worker compile pandas, pyarrow and polars from source.

    python -m benchmarks.decode_bench                 # every mix, 2 paired runs each (medians)
    python -m benchmarks.decode_bench --quick         # two small files, one run (CI smoke)
    python -m benchmarks.decode_bench --mixes issue15 --sizes 200 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.workers import compiled_env

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
RESULTS = HERE / "results" / "decode.json"
BYTES_PER_REQUEST = 2460  # measured for the default mix: 30 full-precision features, 1-5 rows per request
N_FEATURES = 30
SEED = 7
DECODERS = ("baseline", "modelwatch", "pyarrow")
SPEED_RATIO_MIN = 4.0
PYARROW_FRACTION_MIN = 0.6
PEAK_RSS_MB_MAX = 512


@dataclass(frozen=True)
class Mix:
    """A kind of capture file: rows per request, outputs, inference ids (inputs: 30 float features, CSV and BASE64
    alternately)."""

    name: str
    description: str
    bytes_per_request: int  # measured on 4,000 generated requests: sizes the file
    rows_per_request: tuple[int, int] = (1, 5)
    row_weights: tuple[float, ...] | None = None
    output_format: str = "csv"
    inference_id: bool = False


MIXES: dict[str, Mix] = {
    mix.name: mix
    for mix in (
        Mix("mixed", "1-5 rows per request (uniform), CSV outputs", BYTES_PER_REQUEST),
        Mix(
            "issue15",
            "issue #15's file: 1-5 rows per request (2.17 on average), CSV outputs, inference ids",
            1933,
            row_weights=(0.42, 0.25, 0.15, 0.10, 0.08),
            inference_id=True,
        ),
        Mix("single-row", "one row per request, CSV outputs", 1048, rows_per_request=(1, 1)),
        Mix("multi-row", "10-50 rows per request, CSV outputs", 21393, rows_per_request=(10, 50)),
        Mix("json-output", "1-5 rows per request, JSON outputs (predictions[*].score)", 2533, output_format="json"),
    )
}
# (mix, MB): every mix at about 200 MB (the goals' size), and a small file where the imports dominate
FULL_FILES = (
    ("mixed", 200.0),
    ("issue15", 213.0),
    ("single-row", 200.0),
    ("multi-row", 200.0),
    ("json-output", 200.0),
    ("mixed", 10.0),
)
QUICK_FILES = (("mixed", 5.0), ("json-output", 2.0))


def _config(mix: str = "mixed") -> Any:
    from benchmarks.generate import benchmark_config_dict
    from modelwatch.config.model import parse_model_config

    output_format = MIXES[mix].output_format
    return parse_model_config(benchmark_config_dict(N_FEATURES, output_format=output_format), "<benchmark>")


def capture_file(size_mb: float, mix: str = "mixed") -> Path:
    """The cached benchmark capture file of about `size_mb` MB of a mix (generated once)."""
    from benchmarks.generate import write_capture_file

    kind = MIXES[mix]
    requests = max(1, int(size_mb * 1_000_000 / kind.bytes_per_request))
    prefix = "capture" if mix == "mixed" else f"capture-{mix}"
    path = DATA / f"{prefix}-{requests}r-{N_FEATURES}f-s{SEED}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write_capture_file(
            partial,
            requests,
            n_features=N_FEATURES,
            seed=SEED,
            rows_per_request=kind.rows_per_request,
            row_weights=kind.row_weights,
            output_format=kind.output_format,
            inference_id=kind.inference_id,
        )
        partial.rename(path)
    return path


# ---------------------------------------------------------------------------- workers (run in subprocesses)
def _import(kind: str) -> None:
    """What each decoder imports before it reads a byte (timed apart)."""
    if kind == "baseline":
        import pyarrow.parquet  # pandas' to_parquet engine

        import benchmarks.baseline_decoder  # noqa: F401 - pandas
    elif kind == "modelwatch":
        import polars  # noqa: F401

        import modelwatch.capture  # polars
        import modelwatch.config.model  # noqa: F401
    else:
        import pyarrow.json  # noqa: F401


def _decode_baseline(mix: str, source: Path, output: Path) -> dict[str, Any]:
    from benchmarks.baseline_decoder import decode_to_parquet_baseline

    rows = decode_to_parquet_baseline(source, output, [f"f{i}" for i in range(N_FEATURES)])
    return {"rows": rows, "records": sum(1 for line in source.open("rb") if line.strip()), "quarantined": 0}


def _decode_modelwatch(mix: str, source: Path, output: Path) -> dict[str, Any]:
    import polars as pl

    from modelwatch.capture import iter_decode_capture

    config = _config(mix)
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


def _decode_pyarrow(mix: str, source: Path, output: Path) -> dict[str, Any]:
    import pyarrow.json as pj

    table = pj.read_json(source)  # the JSON parse alone: every field, multithreaded (as it comes)
    return {"rows": None, "records": table.num_rows, "quarantined": 0}


def _vm_hwm_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry the parent's high-water mark)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(kind: str, mix: str, source: str, output: str) -> None:
    started, cpu_started = time.perf_counter(), time.process_time()
    _import(kind)
    imported, cpu_imported = time.perf_counter(), time.process_time()
    decode = {"baseline": _decode_baseline, "modelwatch": _decode_modelwatch, "pyarrow": _decode_pyarrow}[kind]
    result = decode(mix, Path(source), Path(output))
    result["import_seconds"] = imported - started
    result["import_cpu_seconds"] = cpu_imported - cpu_started
    result["decode_seconds"] = time.perf_counter() - imported
    result["decode_cpu_seconds"] = time.process_time() - cpu_imported
    result["peak_rss_mb"] = _vm_hwm_mb()
    result["cpu_seconds"] = time.process_time()  # the whole process: interpreter start-up included
    print(json.dumps(result))


# ---------------------------------------------------------------------------- driver
def _worker_env() -> dict[str, str]:
    return compiled_env({"POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")})


def warm_bytecode() -> None:
    """Compile and cache every decoder's imports once, untimed."""
    for kind in DECODERS:
        subprocess.run(
            [sys.executable, "-c", f"from benchmarks.decode_bench import _import; _import({kind!r})"],
            check=True,
            cwd=HERE.parent,
            env=_worker_env(),
        )


def run_one(kind: str, mix: str, source: Path, output: Path) -> dict[str, Any]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.decode_bench", "--worker", kind, mix, str(source), str(output)],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        env=_worker_env(),
    )
    wall = time.perf_counter() - started
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = wall
    return result


def _summary(kind: str, runs: list[dict[str, Any]], size_mb: float) -> dict[str, Any]:
    """Medians over the runs (peak RSS: the highest)."""

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    wall, decode = median("wall_seconds"), median("decode_seconds")
    return {
        "decoder": kind,
        "runs": len(runs),
        "rows": runs[0]["rows"],
        "records": runs[0]["records"],
        "quarantined": runs[0]["quarantined"],
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(median("cpu_seconds"), 3),
        "import_seconds": round(median("import_seconds"), 3),
        "import_cpu_seconds": round(median("import_cpu_seconds"), 3),
        "decode_seconds": round(decode, 3),
        "decode_cpu_seconds": round(median("decode_cpu_seconds"), 3),
        "records_per_second": round(runs[0]["records"] / wall),
        "mb_per_second": round(size_mb / wall, 2),
        "decode_mb_per_second": round(size_mb / decode, 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "wall_seconds_all": [round(r["wall_seconds"], 3) for r in runs],
    }


def assert_same_values(baseline: Path, ours: Path, mix: str) -> None:
    """The two decoders' Parquet files hold exactly the same values (floats compared bit for bit)."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from modelwatch.capture import capture_schema
    from modelwatch.capture.decode import EXTRA_KEYS_DTYPE, FEATURE_ISSUES_DTYPE
    from modelwatch.constants import COL_EXTRA_KEYS, COL_FEATURE_ISSUES

    schema = capture_schema(_config(mix))
    # the obvious decoder has no notion of damaged values or extra keys; the generated CSV files have none
    expected = pl.read_parquet(baseline).with_columns(
        pl.lit(None, dtype=FEATURE_ISSUES_DTYPE).alias(COL_FEATURE_ISSUES),
        pl.lit(None, dtype=EXTRA_KEYS_DTYPE).alias(COL_EXTRA_KEYS),
    )
    expected = expected.select(list(schema)).cast(schema)  # type: ignore[arg-type]
    actual = pl.read_parquet(ours)
    assert actual.schema == pl.Schema(schema), f"schema differs: {actual.schema}"
    assert_frame_equal(actual, expected, check_exact=True)


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator > 0 else float("inf")


def bench_file(mix: str, source: Path, repeat: int) -> dict[str, Any]:
    size_mb = source.stat().st_size / 1_000_000
    print(f"\n{mix}: {source.name}: {size_mb:.1f} MB, {repeat} run(s) of each decoder", flush=True)
    load = os.getloadavg()[0]  # the machine may be shared: a busy one slows both, the parallel one more
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in DECODERS}
    with tempfile.TemporaryDirectory(prefix="decode-bench-") as folder:
        base_out, ours_out = Path(folder) / "baseline.parquet", Path(folder) / "modelwatch.parquet"
        for _ in range(repeat):  # paired: each round runs every decoder once, one after another
            for kind in DECODERS:
                runs[kind].append(run_one(kind, mix, source, Path(folder) / f"{kind}.parquet"))
        baseline, ours, ceiling = (_summary(kind, runs[kind], size_mb) for kind in DECODERS)
        assert baseline["rows"] == ours["rows"], (baseline["rows"], ours["rows"])
        assert ours["quarantined"] == 0
        assert baseline["records"] == ours["records"] == ceiling["records"]
        assert_same_values(base_out, ours_out, mix)
    header = (
        f"{'decoder':<11} {'wall s':>8} {'cpu s':>7} {'import s':>9} {'decode s':>9} {'decode cpu':>10} {'MB/s':>7} "
        f"{'peak RSS MB':>12} {'rows':>9}"
    )
    print(header)
    for item in (baseline, ours, ceiling):
        print(
            f"{item['decoder']:<11} {item['wall_seconds']:>8.2f} {item['cpu_seconds']:>7.2f} "
            f"{item['import_seconds']:>9.2f} {item['decode_seconds']:>9.2f} {item['decode_cpu_seconds']:>10.2f} "
            f"{item['mb_per_second']:>7.1f} {item['peak_rss_mb']:>12.0f} {item['rows'] or 0:>9,}"
        )
    result = {
        "mix": mix,
        "description": MIXES[mix].description,
        "file": source.name,
        "size_mb": round(size_mb, 1),
        "records": ours["records"],
        "rows": ours["rows"],
        "baseline": baseline,
        "modelwatch": ours,
        "pyarrow": ceiling,
        # whole process (interpreter start-up and imports included) ...
        "speed_ratio": _ratio(baseline["wall_seconds"], ours["wall_seconds"]),
        "cpu_time_ratio": _ratio(baseline["cpu_seconds"], ours["cpu_seconds"]),
        "pyarrow_fraction": _ratio(ceiling["wall_seconds"], ours["wall_seconds"]),
        # ... and the decode alone (after the imports: a warm Lambda container's figure)
        "decode_speed_ratio": _ratio(baseline["decode_seconds"], ours["decode_seconds"]),
        "decode_cpu_time_ratio": _ratio(baseline["decode_cpu_seconds"], ours["decode_cpu_seconds"]),
        "decode_pyarrow_fraction": _ratio(ceiling["decode_seconds"], ours["decode_seconds"]),
        "load_average_at_start": round(load, 2),
        "values_identical": True,
    }
    print(
        f"obvious / modelwatch: wall {result['speed_ratio']}x, cpu {result['cpu_time_ratio']}x (decode alone: wall "
        f"{result['decode_speed_ratio']}x, cpu {result['decode_cpu_time_ratio']}x); modelwatch at "
        f"{result['pyarrow_fraction']:.0%} of pyarrow's JSON-parse throughput (decode alone "
        f"{result['decode_pyarrow_fraction']:.0%}); load average at start {load:.1f}; values identical: yes",
        flush=True,
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two small files, one run each (CI smoke)")
    parser.add_argument("--mixes", nargs="*", choices=sorted(MIXES), help="mixes (default: every mix)")
    parser.add_argument("--sizes", type=float, nargs="*", help="file sizes in MB for each chosen mix")
    parser.add_argument("--repeat", type=int, help="paired runs per file (default 2, quick 1)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "MIX", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return 0
    files: Sequence[tuple[str, float]] = QUICK_FILES if args.quick else FULL_FILES
    if args.mixes or args.sizes:
        mixes = args.mixes or ["mixed"]
        files = [(mix, size) for mix in mixes for size in (args.sizes or [200.0])]
    repeat = args.repeat or (1 if args.quick else 2)
    warm_bytecode()
    results = [bench_file(mix, capture_file(size, mix), repeat) for mix, size in files]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "capture decode",
        "mode": "quick" if args.quick else "full",
        "goal": {
            "speed_ratio_min": SPEED_RATIO_MIN,
            "pyarrow_fraction_min_at_200mb": PYARROW_FRACTION_MIN,
            "peak_rss_mb_max": PEAK_RSS_MB_MAX,
        },
        "repeat": repeat,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "files": results,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
