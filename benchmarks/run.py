"""`make bench`: every benchmark in one run, then `benchmarks/results/all.json`, the scaling PNG and BENCHMARKS.md.

    python -m benchmarks.run            # full run, about 25 minutes on 2 cores; rewrites BENCHMARKS.md tables
    python -m benchmarks.run --quick    # CI smoke: small sizes, results in benchmarks/.data/quick-results/

Sections: decode (ingest), estimation, data_quality, fairness (bias and attribution), e2e, coldstart, memory (the
Analyse function's fixed memory and cold start), latency (capture to alarm on AWS, from documented hop latencies),
scaling, fleet (models through the fleet state machine on the embedded stack, against AWS's quotas), cost.
A section that fails is recorded as {"error": ...} (and shown as "not measured" in the report); the command then exits
1 after writing everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
# LightGBM (DLE) under OpenMP busy-waiting: a second fit in the same process ran ~50x slower here (either side
# first); passive waiting removes that artifact for both sides alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("POLARS_MAX_THREADS", "2")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

warnings.filterwarnings("ignore", message="The resulting number of chunks is too low")
warnings.filterwarnings("ignore", message="No application metrics to publish")

ROOT = Path(__file__).resolve().parents[1]
FULL_RESULTS = ROOT / "benchmarks" / "results"
QUICK_RESULTS = ROOT / "benchmarks" / ".data" / "quick-results"
MARKDOWN = ROOT / "BENCHMARKS.md"
SECTIONS = (
    "decode",
    "estimation",
    "data_quality",
    "fairness",
    "e2e",
    "coldstart",
    "memory",
    "latency",
    "scaling",
    "fleet",
    "cost",
)
LIBRARIES = ("nannyml", "pandas", "polars", "pyarrow", "numpy", "lightgbm", "moto", "boto3")


# ---------------------------------------------------------------------------- machine
def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware"):
            return value.strip()
    return platform.processor() or "unknown"


def memory_gb(meminfo: str) -> float | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _load() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def describe_machine(quick: bool) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "mode": "quick (CI smoke)" if quick else "full",
        "cpu_model": cpu_model(_read("/proc/cpuinfo")),
        "cores_online": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": memory_gb(_read("/proc/meminfo")),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": _versions(),
        "commit": _commit(),
        "load_start": _load(),
    }


# ---------------------------------------------------------------------------- sections
def _decode(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import decode_bench

    path = out / "decode.json"
    decode_bench.main(["--quick", "--output", str(path)] if quick else ["--output", str(path)])
    return dict(json.loads(path.read_text()))


def _estimation(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import estimation_bench

    return estimation_bench.run(quick)


def _data_quality(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import data_quality_bench

    return data_quality_bench.run(quick)


def _fairness(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import fairness_bench

    return fairness_bench.run(quick)


def _e2e(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import e2e_bench

    return e2e_bench.run(quick)


def _coldstart(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import coldstart_bench

    return coldstart_bench.run(quick)


def _memory(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import memory_bench

    return memory_bench.run(quick)


def _scaling(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import scaling_bench

    return scaling_bench.run(quick)


def _fleet(quick: bool, out: Path) -> dict[str, Any]:
    from benchmarks import fleet_bench

    return fleet_bench.run(quick)


def cost_from(results: dict[str, Any]) -> dict[str, Any]:
    """The cost section from the measured sections (scaling, decode, e2e) and the repository's counts."""
    from benchmarks import cost_model
    from benchmarks.decode_bench import BYTES_PER_REQUEST

    scaling = results.get("scaling", {})
    if "error" in scaling or "ingest" not in scaling:
        raise RuntimeError("the scaling section has no measurements to cost")
    decode = results.get("decode") if "error" not in results.get("decode", {"error": 1}) else None
    measured = cost_model.measured_from_results(scaling, decode)
    e2e = results.get("e2e", {})
    small = [
        e2e["function_seconds"][k]
        for k in ("PrepareRunFunction", "PublishFunction")
        if k in e2e.get("function_seconds", {})
    ]
    sources = dict(measured.sources)
    if small:
        measured = type(measured)(**{**measured.__dict__, "small_function_seconds": max(small), "sources": {}})
        sources["small"] = "end-to-end run on the embedded stack (slowest of PrepareRun and Publish)"
    memory = results.get("memory", {})
    if "error" not in memory and memory.get("fixed_mb") is not None:
        # The fixed part from a fresh interpreter (as a Lambda container), not from the scaling bench's process,
        # whose reset VmHWM still holds the workload and the earlier runs; the per-row slope stays the scaling fit's.
        measured = type(measured)(**{**measured.__dict__, "estimate_memory_fixed_mb": float(memory["fixed_mb"])})
        sources["memory"] = (
            "fixed: a cached Analyse step's peak RSS in a fresh interpreter (memory section); per row: least-squares "
            "slope of the scaling bench's cached runs"
        )
    measured = type(measured)(**{**measured.__dict__, "sources": sources})
    from benchmarks import memory_bench, series_count

    series = series_count.counts()
    deployment = cost_model.Deployment(
        **_template_counts(),
        transitions_per_run=len(cost_model.success_path_transitions(_asl("monitor"))),
        lookback_days=_lookback_days(),
        batch_rows=memory_bench.batch_rows(),
        # The shipped defaults (lean metrics profile) for a binary model of 30 features with every monitor on,
        # counted from the monitors' publish code (benchmarks/series_count.py); alarms billed per metric they read.
        metrics_per_model=sum(series["profiles"]["lean"].values()) + len(series["operational"]),
        datapoints_per_chunk=sum(series["profiles"]["lean"].values()) + 1,
        alarms_per_model=series["alarm_metrics_per_model"],
    )
    rows_per_request = _rows_per_request(scaling)
    workload = cost_model.Workload(1, rows_per_request=rows_per_request, capture_bytes_per_request=BYTES_PER_REQUEST)
    full = sum(series["profiles"]["full"].values()) + len(series["operational"])
    counts = sorted({3, 8, deployment.metrics_per_model, full})
    report = cost_model.cost_report(measured, deployment, workload=workload, metric_counts=counts)
    report["fleet"] = cost_model.fleet_report(measured, deployment, workload=workload)
    report["metrics_profiles"] = {
        **cost_model.profile_report(
            measured,
            deployment,
            series["profiles"],
            len(series["operational"]),
            workload=workload,
            segments=series["segments"],
        ),
        "operational": series["operational"],
        "alarms_per_model": series["alarms_per_model"],
        "alarm_metrics_per_model": series["alarm_metrics_per_model"],
        "features": series["features"],
    }
    return report


def _rows_per_request(scaling: dict[str, Any]) -> float:
    largest = max(scaling["ingest"], key=lambda i: i["rows"])
    return round(largest["rows"] / max(1, largest["records"]), 3)


def _asl(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "statemachines" / f"{name}.asl.json").read_text()))


def _lookback_days() -> float:
    from modelwatch.workflow.window import DEFAULT_LOOKBACK

    return DEFAULT_LOOKBACK.total_seconds() / 86_400


def _template_counts() -> dict[str, Any]:
    """Memory sizes from template.yaml (Globals for functions without one) and the idle polls of its SQS event
    sources."""
    from benchmarks.cost_model import IDLE_RECEIVES_PER_QUEUE_DAY
    from modelwatch_cli.local.template import Template

    template = Template(ROOT / "template.yaml")

    def memory(logical_id: str) -> int:
        return int(template.properties(logical_id)["MemorySize"])

    queues = sum(len(spec.queue_events) for spec in template.functions().values())
    return {
        "ingest_memory_mb": memory("IngestCaptureFunction"),
        "estimate_memory_mb": memory("AnalyseFunction"),
        "small_function_memory_mb": memory("PublishFunction"),
        # Lambda's pollers long-poll every SQS event source while idle: 5 pollers x 3 polls a minute each.
        "sqs_idle_receives_per_day": queues * IDLE_RECEIVES_PER_QUEUE_DAY,
    }


RUNNERS: dict[str, Callable[[bool, Path], dict[str, Any]]] = {
    "decode": _decode,
    "estimation": _estimation,
    "data_quality": _data_quality,
    "fairness": _fairness,
    "e2e": _e2e,
    "coldstart": _coldstart,
    "memory": _memory,
    "scaling": _scaling,
    "fleet": _fleet,
}


def run_all(
    quick: bool, out: Path, only: Sequence[str] | None = None, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the sections (all, or `only` these, keeping the other sections of `previous`); cost and latency, derived
    from the others, are always redone."""
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": describe_machine(quick)}
    for name in SECTIONS:
        if only and name not in only and name not in ("cost", "latency"):
            results[name] = (previous or {}).get(name) or {"error": "not run (--only)"}
            results["machine"].setdefault("sections_from_previous_run", []).append(name)
            continue
        print(f"\n===== {name} =====", flush=True)
        section_started = time.perf_counter()
        try:
            if name == "cost":
                results[name] = cost_from(results)
            elif name == "latency":  # derived from the sections before it, like the cost
                from benchmarks import latency_chain

                results[name] = latency_chain.run_from(results, quick)
            else:
                results[name] = RUNNERS[name](quick, out)
        except Exception as exc:  # a failed benchmark is reported, never hidden or faked
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["section_seconds"] = round(time.perf_counter() - section_started, 1)
    results["machine"]["load_end"] = _load()
    results["machine"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI smoke: small sizes, does not touch BENCHMARKS.md")
    parser.add_argument("--results", type=Path, help="results folder (default: benchmarks/results, quick: .data)")
    parser.add_argument(
        "--only", nargs="*", choices=SECTIONS, help="run only these sections (others kept from the last all.json)"
    )
    parser.add_argument("--markdown", type=Path, help="Markdown file to update (default BENCHMARKS.md; quick: none)")
    args = parser.parse_args(argv)
    out = args.results or (QUICK_RESULTS if args.quick else FULL_RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    previous = None
    if args.only and (out / "all.json").exists():
        previous = json.loads((out / "all.json").read_text())
    results = run_all(args.quick, out, args.only, previous)
    (out / "all.json").write_text(json.dumps(results, indent=2, default=str) + "\n")

    from benchmarks import report

    plot: Path | None = None
    if "error" not in results["scaling"]:
        plot = report.plot_scaling(results["scaling"], out / "scaling.png")
    markdown = args.markdown or (None if args.quick else MARKDOWN)
    generated = report.render(results, _relative(plot, markdown) if plot else None)
    (out / "tables.md").write_text(generated + "\n")
    if markdown is not None:
        report.update_markdown(markdown, generated)
        print(f"\n{markdown} updated")
    failed = [name for name in SECTIONS if "error" in results[name]]
    print(f"results in {out}; failed sections: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


def _relative(path: Path, markdown: Path | None) -> str:
    base = (markdown or MARKDOWN).resolve().parent
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return path.resolve().as_posix()


if __name__ == "__main__":
    raise SystemExit(main())
