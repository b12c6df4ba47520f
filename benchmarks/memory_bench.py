"""The Analyse function's fixed memory and cold start (#15 item 2), each in a fresh interpreter as a Lambda has.

A parent process registers a small model in a LocalStore lake and fits its baselines (the fit run); then, per case,
a fresh interpreter imports the Analyse handler (`functions/analyse/app.py`: its import time is the cold start) and
runs one cached step on that lake, the performance monitor (CBPE) re-estimating a day of 100-row hourly chunks: its
peak RSS (VmHWM) is the fixed memory of a cached run, since the rows are too few to matter. The libraries loaded at
the end are listed: what the step imported, so what a lazier import could leave out. The assembly (results table,
report) is measured the same way, since the same function runs it.

Then the biggest endpoints (#15 item 1): one hour of a model at 100M inferences a day (BIG_HOUR_ROWS rows of the
data-quality benchmark's 30-feature model, labels not captured) analysed by each monitor's step with the shipped
defaults, each step in a fresh interpreter, baselines fitted beforehand on 50,000 reference rows and one small hour:
the step's wall time and peak RSS against the Analyse function's memory and Lambda's 15 minutes.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.workers import compiled_env

ROOT = Path(__file__).resolve().parents[1]
GOAL_FIXED_MB = 500.0
BIG_HOUR_ROWS = 4_200_000  # an hour of a model at 100M inferences a day
QUICK_BIG_HOUR_ROWS = 5_000
ANALYSE_MEMORY_MB = 3008  # template.yaml: AnalyseFunction's MemorySize
LAMBDA_TIMEOUT_SECONDS = 900
HEAVY = (
    "nannyml",
    "pandas",
    "numpy",
    "scipy",
    "sklearn",
    "lightgbm",
    "plotly",
    "matplotlib",
    "smclarify",
    "statsmodels",
    "shap",
    "polars",
    "pyarrow",
    "datasketches",
    "boto3",
)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SECRET = b"memory-bench-shared-key-32-bytes-long!"  # the fit run and the measured steps trust the same baselines

CHILD = r"""
import json, os, pickle, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import app  # the Analyse handler's module, as Lambda imports it
imported = time.perf_counter() - started

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
after_import = hwm()
started = time.perf_counter()
import nannyml  # imported lazily by the first step of a cold container: the rest of its cold start
nannyml_seconds = time.perf_counter() - started
after_nannyml = hwm()
with open(sys.argv[2], "rb") as handle:
    case = pickle.load(handle)
from modelwatch.analysis import analyse_from_lake, assemble_from_lake
from modelwatch.lake.store import LocalStore
from modelwatch.signing import HmacSigner
store, signer = LocalStore(case["root"]), HmacSigner(case["secret"], "bench")
step = sys.argv[3]
started = time.perf_counter()
if step == "assemble":
    parts = [
        analyse_from_lake(case["spec"], name, store, case["counters"], case["now"], signer=signer).to_dict()
        for name in case["spec"].monitors
    ]
    assemble_from_lake(case["spec"], parts, store, case["now"])
    baseline, chunks, reused = "-", 0, 0
else:
    outcome = analyse_from_lake(case["spec"], step, store, case["counters"], case["now"], signer=signer)
    baseline, chunks, reused = outcome.baseline, outcome.chunks_analysed, outcome.chunks_reused
seconds = time.perf_counter() - started
heavy = [m for m in json.loads(sys.argv[4]) if m in sys.modules]
print(json.dumps({
    "import_seconds": imported, "nannyml_import_seconds": nannyml_seconds, "rss_after_import_mb": after_import,
    "rss_after_nannyml_mb": after_nannyml,
    "peak_rss_mb": hwm(), "step_seconds": seconds, "loaded": heavy, "baseline": baseline,
    "chunks_analysed": chunks, "chunks_reused": reused,
}))
"""


def _case(root: Path, drift: bool) -> Path:
    """A registered model with fitted baselines in a LocalStore lake under `root`; the pickled step input."""
    from benchmarks.estimation_bench import Lake, make_workload

    workload = make_workload(1, reference_rows=5_000, rows_per_day=2_400)
    lake = Lake(root, workload, drift=drift)
    spec = _spec(lake, lake.window[0], lake.window[1], "memory-bench")
    _fit(lake, spec)
    _clear(lake)
    return _write_case(root.parent / "case.pickle", lake, spec)


def big_config(dataset: Any) -> dict[str, Any]:
    """The shipped defaults with every opt-in monitor on too: bias on one facet and feature attribution.

    Bias runs every Clarify method but FT, the flip test: a k-nearest-neighbour search of one facet's rows among
    the other's (as smclarify computes it), which on 4.2M rows of 30 features was still searching after 8 minutes
    of a core. A model of this size configures `bias.methods` without it."""
    from benchmarks.data_quality_bench import configs
    from modelwatch.config.model import POST_TRAINING_METRICS, PRE_TRAINING_METRICS

    methods = [m for m in (*PRE_TRAINING_METRICS, *POST_TRAINING_METRICS) if m != "FT"]
    facet = {"name_or_index": "c0", "value_or_threshold": ["v0"]}
    return {
        **configs(dataset)["default"],
        "bias": {"label_values_or_threshold": [1], "facets": [facet], "methods": methods},
        "attribution": {"enabled": True},
    }


def _big_case(root: Path, rows: int, reference_rows: int) -> Path:
    """The steady state of a labelled model: every monitor's baselines fitted on `reference_rows` reference rows and
    one small hour; an hour of `rows` rows captured and analysed (stored), then the next hour of `rows` rows captured
    while the first hour's labels land, with the labels of an hour of the day before (`rows` more, captured before
    the window), all written by the real writers. The pickled step input runs over both
    hours: the monitors that read labels analyse both (one new, one newly labelled), the others the new one."""
    import numpy as np

    from benchmarks.data_quality_bench import SEED, _rows, synthetic
    from benchmarks.estimation_bench import ANALYSIS_START, REFERENCE_START, Lake, Workload, _rebase

    dataset = synthetic()
    rng = np.random.default_rng(SEED)
    small = 1_000
    first = _rebase(_rows(rng, small, dataset), ANALYSIS_START, small)
    reference = _rebase(_rows(rng, reference_rows, dataset), REFERENCE_START, small)
    workload = Workload(
        reference=reference, analysis=first.drop(columns=["target"]), days=1, rows_per_day=small, dataset=dataset
    )
    lake = Lake(root, workload, drift=True, config=big_config(dataset))
    lake.write_labels(first)
    _fit(lake, _spec(lake, ANALYSIS_START, ANALYSIS_START + HOUR, "memory-bench-fit"))  # on the small hour
    earlier, later = (
        _rebase(_rows(rng, rows, dataset), ANALYSIS_START + hour * HOUR, rows).assign(
            id=lambda f, hour=hour: f["id"] + small + (hour - 1) * rows  # event ids unique across the hours
        )
        for hour in (1, 2)
    )
    lake._write(earlier.drop(columns=["target"]))
    _fit(lake, _spec(lake, ANALYSIS_START + HOUR, ANALYSIS_START + 2 * HOUR, "memory-bench-earlier-hour"))
    lake._write(later.drop(columns=["target"]))
    lake.write_labels(earlier, delay=HOUR + HOUR / 2)  # land during the later hour
    # and, landing with them, the labels of an hour of the day before (labels a day late land so, every hour):
    # a step must never hold them, their captures are not among its rows
    day_old = _rebase(_rows(rng, rows, dataset), ANALYSIS_START + HOUR - DAY, rows).assign(
        id=lambda f: f["id"] + small + 2 * rows
    )
    lake.write_labels(day_old, delay=DAY + HOUR / 2)
    del earlier, later, day_old
    measured = _spec(lake, ANALYSIS_START + HOUR, ANALYSIS_START + 3 * HOUR, "memory-bench-big-hour")
    return _write_case(root.parent / "big-case.pickle", lake, measured)


def _spec(lake: Any, start: Any, end: Any, run_id: str) -> Any:
    """A run of every configured monitor over [start, end) of the lake's model."""
    from modelwatch.analysis import RunSpec
    from modelwatch.monitors import configured

    return RunSpec(
        model=lake.model,
        run_id=run_id,
        window_start=start,
        window_end=end,
        input_complete=True,
        monitors=configured(lake.config),
        config=lake.config,
    )


def _fit(lake: Any, spec: Any) -> None:
    """The fit run: every monitor's baseline cached, signed with the key the measured steps trust."""
    from modelwatch.analysis import analyse_from_lake
    from modelwatch.signing import HmacSigner

    signer = HmacSigner(SECRET, "bench")
    for name in spec.monitors:
        analyse_from_lake(spec, name, lake.store, list(lake.counters.values()), spec.window_end, signer=signer)


def _write_case(path: Path, lake: Any, spec: Any) -> Path:
    """The measured step's input: the lake, the run, the hour counters as they are now, the signing key."""
    case = {
        "root": str(lake.store.root),
        "spec": spec,
        "counters": list(lake.counters.values()),
        "now": spec.window_end,
        "secret": SECRET,
    }
    path.write_bytes(pickle.dumps(case))
    return path


def big_hour(quick: bool = False) -> dict[str, Any]:
    """Each monitor step's wall time and peak RSS on one hour of a 100M-inferences-a-day model (fresh interpreters)."""
    from benchmarks.data_quality_bench import synthetic

    rows = QUICK_BIG_HOUR_ROWS if quick else BIG_HOUR_ROWS
    reference_rows = 3_000 if quick else 50_000  # the smoke run checks that it works, not how much it takes
    steps: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="memory-bench-big-") as folder:
        case = _big_case(Path(folder) / "lake", rows, reference_rows)
        for step in pickle.loads(case.read_bytes())["spec"].monitors:
            run = _child(case, step)
            steps[step] = {
                "peak_rss_mb": round(run["peak_rss_mb"], 1),
                "step_seconds": round(run["step_seconds"], 2),
                "chunks_analysed": run["chunks_analysed"],
                "chunks_reused": run["chunks_reused"],
                "fits_memory": run["peak_rss_mb"] <= ANALYSE_MEMORY_MB,
                "fits_timeout": run["step_seconds"] <= LAMBDA_TIMEOUT_SECONDS,
            }
            print(f"memory big hour {step}: {json.dumps(steps[step])}", flush=True)
        sampling = None if quick else surrogate_sampling(case)
    return {
        "rows": rows,
        "reference_rows": reference_rows,
        "features": len(synthetic().features),
        "labelled": True,
        "batch_rows": batch_rows(),
        "day_old_labels": rows,  # labels of an hour of the day before, landing with the measured hour's
        "environment": analyse_environment(),
        "steps": steps,
        "surrogate_sampling": sampling,
        "memory_mb": ANALYSE_MEMORY_MB,
        "timeout_seconds": LAMBDA_TIMEOUT_SECONDS,
        "goal_met": all(s["fits_memory"] and s["fits_timeout"] for s in steps.values()),
    }


def batch_rows() -> int:
    """The counted rows a step reads and analyses at once, a chunk apart (`analysis.run.BATCH_ROWS`)."""
    from modelwatch.analysis.run import BATCH_ROWS

    return BATCH_ROWS


def surrogate_sampling(case: Path) -> dict[str, Any]:
    """The attribution surrogate of the big hour fitted on its FIT_ROWS evenly spaced rows (as the step does) and on
    all of them: faithfulness, seconds, and whether the features rank the same (nDCG of one against the other)."""
    from modelwatch.analysis.run import _prepare, _unread_features, read_captures
    from modelwatch.lake.store import LocalStore
    from modelwatch.monitors import monitor_for
    from modelwatch.monitors.attribution import categories_of, encode, fit_surrogate, learn, ndcg, surrogate_target
    from modelwatch.monitors.frames import lake_to_pandas

    loaded = pickle.loads(case.read_bytes())
    config, request = loaded["spec"].model_config_or_error(), loaded["spec"].request()
    monitor = monitor_for("attribution", config)
    read = read_captures(
        LocalStore(loaded["root"]),
        config.name,
        [(request.window_start, request.window_end)],
        without=_unread_features(monitor),
    )
    prepared = _prepare(monitor, lake_to_pandas(read.frame, consume=True)).frame
    categories = categories_of(config, prepared)
    found: dict[str, Any] = {}
    fits = {
        "sampled": lambda: learn(config, prepared, categories),  # as the step fits it
        "all": lambda: fit_surrogate(config, encode(config, prepared, categories), surrogate_target(config, prepared)),
    }
    for name, fit in fits.items():
        started = time.perf_counter()
        surrogate = fit()
        found[name] = {
            "rows": surrogate.rows,
            "faithfulness": round(surrogate.faithfulness, 5),
            "seconds": round(time.perf_counter() - started, 1),
            "shap": surrogate.global_shap,
        }
    full, sampled = found["all"].pop("shap"), found["sampled"].pop("shap")
    found["ndcg"] = round(ndcg(full, sampled), 6)
    found["same_order"] = sorted(full, key=full.__getitem__) == sorted(sampled, key=sampled.__getitem__)
    return found


def _clear(lake: Any) -> None:
    """No stored analysis: the measured step re-analyses every chunk with the cached baseline."""
    from benchmarks.estimation_bench import _clear_analysis

    _clear_analysis(lake.store, lake.model)


def analyse_environment() -> dict[str, str]:
    """The Analyse function's own environment variables in template.yaml that are plain values (allocator and
    OpenMP settings; resource names left out): each step runs with them, as deployed."""
    from checks.asl import load_template

    function = load_template(ROOT / "template.yaml")["Resources"]["AnalyseFunction"]["Properties"]
    variables = function.get("Environment", {}).get("Variables", {})
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def _child(case: Path, step: str) -> dict[str, Any]:
    env = compiled_env({"NML_DISABLE_USAGE_LOGGING": "1", "POWERTOOLS_TRACE_DISABLED": "true", **analyse_environment()})
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "functions" / "analyse"), str(case), step, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"memory bench step {step} failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(quick: bool = False) -> dict[str, Any]:
    """Per config (`estimation`: performance only; `default`: the shipped defaults) and step: median import times
    over repeats (fresh interpreters) and the largest peak RSS."""
    repeats = 1 if quick else 3
    configs: dict[str, Any] = {}
    cases = (("estimation", False),) if quick else (("estimation", False), ("default", True))
    for config, drift in cases:
        with tempfile.TemporaryDirectory(prefix="memory-bench-") as folder:
            case = _case(Path(folder) / "lake", drift)
            monitors = pickle.loads(case.read_bytes())["spec"].monitors
            steps: dict[str, Any] = {}
            for step in (*monitors, "assemble"):
                runs = []
                for _ in range(repeats):
                    runs.append(_child(case, step))
                    _clear_case(case)
                imports = sorted(r["import_seconds"] for r in runs)
                nml = sorted(r["nannyml_import_seconds"] for r in runs)
                steps[step] = {
                    "import_seconds_median": round(imports[len(imports) // 2], 3),
                    "nannyml_import_seconds_median": round(nml[len(nml) // 2], 3),
                    "rss_after_import_mb": round(max(r["rss_after_import_mb"] for r in runs), 1),
                    "rss_after_nannyml_mb": round(max(r["rss_after_nannyml_mb"] for r in runs), 1),
                    "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
                    "step_seconds_median": round(sorted(r["step_seconds"] for r in runs)[len(runs) // 2], 3),
                    "loaded": runs[-1]["loaded"],
                    "baseline": runs[-1]["baseline"],
                    "chunks_analysed": runs[-1]["chunks_analysed"],
                }
                print(f"memory {config} {step}: {json.dumps(steps[step])}", flush=True)
            configs[config] = steps
    fixed = configs["estimation"]["performance"]["peak_rss_mb"]
    return {
        "big_hour": _or_error(lambda: big_hour(quick)),
        "configs": configs,
        "repeats": repeats,
        "rows": "2,400 rows in 24 hourly chunks; 5,000 reference rows",
        "goal_fixed_mb": GOAL_FIXED_MB,
        "fixed_mb": fixed,
        "goal_met": fixed <= GOAL_FIXED_MB,
    }


def _or_error(measure: Any) -> dict[str, Any]:
    """The measurement, or {"error": ...} when it fails (the section's other figures still stand)."""
    try:
        return dict(measure())
    except Exception as exc:  # a failed child (e.g. out of memory) is reported, not raised
        return {"error": f"{type(exc).__name__}: {str(exc)[-500:]}"}


def _clear_case(case: Path) -> None:
    from modelwatch.lake.store import LocalStore
    from modelwatch.monitors import MONITORS
    from modelwatch.monitors.artifacts import Artifact

    loaded = pickle.loads(case.read_bytes())
    store = LocalStore(loaded["root"])
    for monitor in MONITORS:
        artifact = Artifact(loaded["spec"].model, monitor, "analysis", ".parquet")
        store.delete([artifact.body_key, artifact.manifest_key])


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
