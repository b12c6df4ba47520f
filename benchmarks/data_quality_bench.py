"""Data-quality and drift benchmark (issue 14): what the data-quality monitor and the extended drift add to a run, and
what KLL sketches save when reference statistics are updated.

Workload: a synthetic binary model of 30 features (25 numeric, 5 categorical; 4 in the smoke run), 50,000 reference
rows, 100,000 rows a day in hourly chunks, one day, written into a LocalStore lake by the real partitioned writer
with the hour counters ingestion keeps. Three configs, each timed as a cached run re-analysing every chunk (baselines
cached, stored analysis cleared; best of the repeats) with `run_monitor_from_lake`:

- `estimation`: CBPE only (no drift, no data quality);
- `drift before #14`: CBPE and univariate drift of the features (the earlier default);
- `default`: the shipped defaults: CBPE, drift of the features and the outputs, prediction statistics, multivariate
  drift (PCA), and the data-quality monitor (Model Monitor's six checks, nannyml's data-quality calculators).

Each cached run is also timed in its parts (each monitor's analysis step, then the assembly): on AWS the Monitor state
machine's Map runs the monitors' steps at once (MaxConcurrency 0), so a run's wall time there is its slowest monitor
plus the assembly, while in process (`modelwatch run`, the timings above) they run one after another. The parts are
timed in wall and in CPU seconds (the process's, every thread): on a machine other processes load, CPU time leaves
out the waits for a busy core (not the slower caches), so the added shares are given in both.

Then the default config's next-hour run (one new hour, every other chunk reused) and its first (fit) run. Sketches:
statistics.json of the reference plus one new hour, rebuilt from every row vs. the reference's accumulated
statistics merged with the new hour's (KLL sketches merge; counts and moments add up).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from benchmarks.estimation_bench import (
    ANALYSIS_START,
    LATER_HOURS,
    REFERENCE_START,
    Dataset,
    Lake,
    Workload,
    _best,
    _clear_analysis,
    _clear_cache,
    _rebase,
    config_dict,
)


def synthetic(numeric: int = 25, categorical: int = 5) -> Dataset:
    """A binary model with `numeric` + `categorical` features (30 for the benchmark, fewer for the smoke run)."""
    return Dataset(
        key=f"synthetic{numeric + categorical}",
        model="dq-bench",
        loader="",
        problem_type="binary_classification",
        numeric=tuple(f"n{i:02d}" for i in range(numeric)),
        categorical=tuple(f"c{i}" for i in range(categorical)),
        target="target",
        outputs=("y_pred_proba", "y_pred"),
        metrics=("roc_auc", "f1"),
    )


SEED = 14
GOAL_ADDED = 0.5  # data quality and drift add at most 50 % to a default run


def _rows(rng: Any, rows: int, dataset: Dataset) -> Any:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({name: rng.normal(i % 7, 1.0 + i % 3, rows) for i, name in enumerate(dataset.numeric)})
    for i, name in enumerate(dataset.categorical):
        frame[name] = rng.choice([f"v{j}" for j in range(3 + i)], rows).astype(object)
    logit = 0.5 * (frame["n00"] - 0) + 0.3 * (frame["n01"] - 1) - 0.2 * (frame["n02"] - 2)
    frame["y_pred_proba"] = 1 / (1 + np.exp(-logit))
    frame["y_pred"] = (frame["y_pred_proba"] >= 0.5).astype("int64")
    frame["target"] = (rng.random(rows) < frame["y_pred_proba"]).astype("int64")
    return frame


def make_workload(reference_rows: int, rows_per_day: int, dataset: Dataset | None = None) -> Workload:
    import numpy as np

    dataset = dataset or synthetic()
    rng = np.random.default_rng(SEED)
    rows_per_hour = rows_per_day / 24
    later = int(rows_per_hour * LATER_HOURS)
    analysis = _rebase(_rows(rng, rows_per_day + later, dataset), ANALYSIS_START, rows_per_hour)
    analysis = analysis.drop(columns=["target"])
    return Workload(
        reference=_rebase(_rows(rng, reference_rows, dataset), REFERENCE_START, rows_per_hour),
        analysis=analysis.iloc[:rows_per_day].reset_index(drop=True),
        days=1,
        rows_per_day=rows_per_day,
        dataset=dataset,
        later=analysis.iloc[rows_per_day:].reset_index(drop=True),
    )


def configs(dataset: Dataset) -> dict[str, dict[str, Any]]:
    shipped = config_dict(True, dataset)
    shipped.pop("drift")
    shipped.pop("data_quality")
    estimation = config_dict(False, dataset)
    return {"estimation": estimation, "drift before #14": config_dict(True, dataset), "default": shipped}


def _cached(lake: Lake, repeats: int) -> float:
    lake.run()  # fit and cache every monitor's baseline
    seconds, outcome = _best(repeats, lake.run, before=lambda: _clear_analysis(lake.store, lake.model))
    assert outcome.chunks_analysed == 24 * lake.workload.days and outcome.chunks_reused == 0
    return seconds


def _parts(lake: Lake, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Wall and CPU seconds of each monitor's analysis step and of the assembly of a cached run re-analysing every
    chunk (each the repeat with the least total), as the state machine's steps make them."""
    from modelwatch.analysis import RunSpec, analyse_from_lake, assemble_from_lake
    from modelwatch.monitors import configured
    from modelwatch.signing import process_signer

    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    for _ in range(repeats):
        _clear_analysis(lake.store, lake.model)
        lake.runs += 1
        spec = RunSpec(
            model=lake.model,
            run_id=f"bench-parts-{lake.runs}",
            window_start=lake.window[0],
            window_end=lake.window[1],
            input_complete=True,
            monitors=configured(lake.config),
            config=lake.config,
        )
        seconds: dict[str, float] = {}
        cpu: dict[str, float] = {}
        outcomes = []
        for name in spec.monitors:
            started, started_cpu = time.perf_counter(), time.process_time()
            counters = list(lake.counters.values())
            outcomes.append(
                analyse_from_lake(spec, name, lake.store, counters, lake.window[1], signer=process_signer())
            )
            seconds[name], cpu[name] = time.perf_counter() - started, time.process_time() - started_cpu
        started, started_cpu = time.perf_counter(), time.process_time()
        assemble_from_lake(spec, [o.to_dict() for o in outcomes], lake.store, lake.window[1])
        seconds["assemble"], cpu["assemble"] = time.perf_counter() - started, time.process_time() - started_cpu
        if not best or sum(seconds.values()) < sum(best.values()):
            best = seconds
        if not best_cpu or sum(cpu.values()) < sum(best_cpu.values()):
            best_cpu = cpu
    return {name: round(value, 3) for name, value in best.items()}, {n: round(v, 3) for n, v in best_cpu.items()}


def _critical_path(parts: dict[str, float]) -> float:
    """The run's wall time on AWS: the slowest monitor (the Map runs them at once), then the assembly."""
    return round(max(v for k, v in parts.items() if k != "assemble") + parts["assemble"], 3)


def sketches(workload: Workload, repeats: int) -> dict[str, Any]:
    """Reference statistics plus one new hour: rebuilt from every row vs. merged from the accumulated builder."""
    import copy

    import pandas as pd

    from modelwatch.monitors.mm_baseline import NumericAccumulator, StatisticsBuilder

    dataset = workload.dataset
    features = [(n, "numeric") for n in dataset.numeric] + [(n, "categorical") for n in dataset.categorical]
    reference = workload.reference
    hour = workload.later.iloc[: int(workload.rows_per_day / 24)]
    both = pd.concat([reference[[f for f, _ in features]], hour[[f for f, _ in features]]], ignore_index=True)
    accumulated = StatisticsBuilder(features).update(reference)

    def rebuild() -> Any:
        return StatisticsBuilder(features).update(both).statistics()

    stored: dict[str, Any] = {}

    def restore() -> None:
        """The reference's stored builder, as a run would load it (sketches deserialised), outside the timing."""
        from datasketches import kll_doubles_sketch

        builder = StatisticsBuilder([])
        builder.items = accumulated.items
        for name, acc in accumulated.accumulators.items():
            clone = copy.copy(acc)
            if isinstance(acc, NumericAccumulator):
                clone.sketch = kll_doubles_sketch.deserialize(acc.sketch.serialize())
            else:
                clone.counts = dict(acc.counts)  # type: ignore[attr-defined]
            builder.accumulators[name] = clone
        stored["builder"] = builder

    def update() -> Any:
        return stored["builder"].merge(StatisticsBuilder(features).update(hour)).statistics()

    rebuild_seconds, rebuilt = _best(repeats, rebuild)
    update_seconds, updated = _best(repeats, update, before=restore)
    same_counts = all(
        a.get("numerical_statistics", a.get("string_statistics"))["common"]
        == b.get("numerical_statistics", b.get("string_statistics"))["common"]
        for a, b in zip(rebuilt["features"], updated["features"], strict=True)
    )
    return {
        "reference_rows": len(reference),
        "new_rows": len(hour),
        "features": len(features),
        "rebuild_seconds": round(rebuild_seconds, 4),
        "update_seconds": round(update_seconds, 4),
        "speedup": round(rebuild_seconds / update_seconds, 1),
        "same_counts": same_counts,
    }


def run(quick: bool = False) -> dict[str, Any]:
    reference_rows = 3_000 if quick else 50_000
    rows_per_day = 2_400 if quick else 100_000
    repeats = 1 if quick else 2
    dataset = synthetic(3, 1) if quick else synthetic()  # the smoke run checks that it works, not how fast
    workload = make_workload(reference_rows, rows_per_day, dataset)
    timings: dict[str, float] = {}
    parts: dict[str, dict[str, float]] = {}
    parts_cpu: dict[str, dict[str, float]] = {}
    out: dict[str, Any] = {
        "load_start": round(os.getloadavg()[0], 2),
        "features": len(dataset.features),
        "reference_rows": reference_rows,
        "rows_per_day": rows_per_day,
        "chunks": 24,
        "repeats": repeats,
    }
    for label, config in configs(dataset).items():
        print(f"data quality bench: {label}", flush=True)
        with tempfile.TemporaryDirectory(prefix="dq-bench-") as folder:
            lake = Lake(Path(folder), workload, drift=True, config=config)
            if label == "default":
                started = time.perf_counter()
                _clear_cache(lake.store, lake.model)
                fit = lake.run()
                out["default_fit_run_seconds"] = round(time.perf_counter() - started, 3)
                assert fit.monitors["data_quality"]["baseline"] == "fit"
            timings[label] = _cached(lake, repeats)
            parts[label], parts_cpu[label] = _parts(lake, repeats)
            if label == "default":
                lake.run()  # store every chunk's analysis
                lake.add_later_hour()
                started = time.perf_counter()
                nxt = lake.run()
                out["default_next_hour_run_seconds"] = round(time.perf_counter() - started, 3)
                out["default_next_hour_chunks"] = {
                    name: {"analysed": m["chunks_analysed"], "reused": m["chunks_reused"]}
                    for name, m in nxt.monitors.items()
                }
    out["cached_run_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    base = timings["estimation"]
    out["added_over_estimation"] = round(timings["default"] / base - 1, 3)
    out["added_over_drift_before"] = round(timings["default"] / timings["drift before #14"] - 1, 3)
    out["goal_added"] = GOAL_ADDED
    out["parts_seconds"] = parts
    critical = {label: _critical_path(p) for label, p in parts.items()}
    out["critical_path_seconds"] = critical
    out["critical_added_over_estimation"] = round(critical["default"] / critical["estimation"] - 1, 3)
    out["critical_added_over_drift_before"] = round(critical["default"] / critical["drift before #14"] - 1, 3)
    out["parts_cpu_seconds"] = parts_cpu
    in_process_cpu = {label: sum(p.values()) for label, p in parts_cpu.items()}
    out["cpu_added_over_estimation"] = round(in_process_cpu["default"] / in_process_cpu["estimation"] - 1, 3)
    critical_cpu = {label: _critical_path(p) for label, p in parts_cpu.items()}
    out["critical_path_cpu_seconds"] = critical_cpu
    out["critical_cpu_added_over_estimation"] = round(critical_cpu["default"] / critical_cpu["estimation"] - 1, 3)
    out["load_end"] = round(os.getloadavg()[0], 2)
    out["sketches"] = sketches(workload, repeats)
    print(out, flush=True)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run("--quick" in sys.argv[1:]), indent=2))
