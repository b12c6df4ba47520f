"""Cold start: import time of each Lambda handler module (`functions/<name>/app.py`) in a fresh interpreter.

Each import runs in its own subprocess (nothing cached in-process; the OS page cache is warm after the first
repeat, as on a warm Lambda host). Reports the median import seconds over the repeats, the interpreter start-up
alone, and which heavy libraries the import pulled in. The ingest handler must import in under 1 s and without
nannyml.

    python -m benchmarks.coldstart_bench [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.workers import compiled_env

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
RESULTS = ROOT / "benchmarks" / "results" / "coldstart.json"
HEAVY = ("nannyml", "pandas", "polars", "pyarrow", "numpy", "boto3", "sklearn", "lightgbm")
INGEST_LIMIT_SECONDS = 1.0
QUICK_FUNCTIONS = ("ingest_capture", "analyse", "publish")  # smoke: the light, the heavy, one in between
# Environment a handler may parse at import (values are placeholders: nothing is called).
HANDLER_ENV = {
    "LAKE_BUCKET": "bench-lake",
    "STATE_TABLE": "bench-state",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "modelwatch",
    "POWERTOOLS_METRICS_NAMESPACE": "ModelWatch",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "NML_DISABLE_USAGE_LOGGING": "1",
}

_PROBE = """
import importlib.util, json, sys, time
path, heavy = sys.argv[1], sys.argv[2].split(",")
started, cpu = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("handler_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"import_seconds": elapsed, "cpu_seconds": cpu, "loaded": [m for m in heavy if m in sys.modules],
                  "has_handler": callable(getattr(module, "lambda_handler", None))}))
"""


def handler_paths() -> list[Path]:
    return sorted(FUNCTIONS.glob("*/app.py"))


def _env() -> dict[str, str]:
    return compiled_env(HANDLER_ENV)


def interpreter_seconds(repeats: int) -> float:
    """Median wall time of `python -c pass` (the part of a cold start no import change can remove)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=_env(), cwd=ROOT)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(path: Path, repeats: int) -> dict[str, Any]:
    """Import one handler `repeats` times, each in a fresh interpreter."""
    runs = []
    for _ in range(repeats):
        completed = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path), ",".join(HEAVY)],
            check=True,
            capture_output=True,
            text=True,
            env=_env(),
            cwd=ROOT,
        )
        runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    seconds = [r["import_seconds"] for r in runs]
    cpu = [r["cpu_seconds"] for r in runs]
    return {
        "function": path.parent.name,
        "import_seconds_median": round(statistics.median(seconds), 3),
        "import_seconds_max": round(max(seconds), 3),
        "import_cpu_seconds_median": round(statistics.median(cpu), 3),
        "repeats": repeats,
        "heavy_modules_loaded": runs[-1]["loaded"],
        "nannyml_loaded": "nannyml" in runs[-1]["loaded"],
        "has_handler": runs[-1]["has_handler"],
    }


def top_imports(path: Path, limit: int = 8) -> list[dict[str, Any]]:
    """The packages that cost most to import, each with its cumulative time (`python -X importtime`; nested)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _PROBE, str(path), ",".join(HEAVY)],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    totals: dict[str, int] = {}
    for line in completed.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        if "." not in name and name not in totals:  # a top-level package, at whatever depth it was first imported
            totals[name] = int(parts[1])
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:limit]
    return [{"module": name, "cumulative_seconds": round(us / 1e6, 3)} for name, us in ranked]


def run(quick: bool = False) -> dict[str, Any]:
    repeats = 1 if quick else 3
    paths = [p for p in handler_paths() if not quick or p.parent.name in QUICK_FUNCTIONS]
    handlers = [measure(path, repeats) for path in paths]
    ingest = next((h for h in handlers if h["function"] == "ingest_capture"), None)
    return {
        "benchmark": "cold start (handler import)",
        "mode": "quick" if quick else "full",
        "interpreter_seconds": round(interpreter_seconds(repeats), 3),
        "handlers": handlers,
        "goal": {"ingest_import_seconds_max": INGEST_LIMIT_SECONDS, "ingest_without_nannyml": True},
        "ingest_top_imports": top_imports(FUNCTIONS / "ingest_capture" / "app.py"),
        "ingest_ok": bool(
            ingest and ingest["import_seconds_median"] < INGEST_LIMIT_SECONDS and not ingest["nannyml_loaded"]
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.quick)
    for handler in result["handlers"]:
        print(
            f"{handler['function']:<22} {handler['import_seconds_median']:>7.3f} s  "
            f"heavy: {', '.join(handler['heavy_modules_loaded']) or '-'}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
