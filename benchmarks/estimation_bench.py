"""Estimation benchmark: modelwatch's estimate step (lake read + CBPE + store) vs nannyml called directly.

Workload (issue 3): 50,000 reference rows; 100,000 analysis rows per day in hourly chunks; 1 day and 7 days.
Data: nannyml's synthetic car-loan dataset (binary CBPE), resampled with a fixed seed to the workload sizes and
rebased onto hourly timestamps. For each window:

- modelwatch: the captures are written into a LocalStore lake with the real partitioned writer (setup, not
  timed), the model is registered with its reference, then `run_monitor_from_lake` is timed: read config,
  reference and lake rows, fit (or load the cached fit), estimate, store results and the HTML report.
  "fit" runs start with no cached estimator; "cached" runs reuse it.
- direct: `nml.CBPE(...).fit(reference)` then `.estimate(analysis)` on the same rows held in memory as pandas, with
  the same metrics and hourly chunks, in the same process, right after.

Two modelwatch configs: `estimation` (drift off: the same work as the direct call plus lake I/O and the report) and
`default` (the shipped defaults: drift of every feature and missing rates of the top 3; compared to direct CBPE
plus nannyml's UnivariateDriftCalculator). Times are the best of the repeats (the machine is shared). The two
cached runs must store identical results; estimated values are compared to the direct call's.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
# LightGBM (DLE) under OpenMP busy-waiting: a second fit in the same process ran ~50x slower here (either side
# first); passive waiting removes that artifact for both sides alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = Path(__file__).resolve().parent / "results" / "estimation.json"
REFERENCE_START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
ANALYSIS_START = datetime(2026, 2, 1, tzinfo=UTC)
SEED = 7
LATER_HOURS = 2  # new hours after the window, one per timed incremental run


@dataclass(frozen=True)
class Dataset:
    """One nannyml synthetic dataset as a benchmark model."""

    key: str  # "cbpe" or "dle"
    model: str
    loader: str  # nannyml function name
    problem_type: str  # modelwatch's
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str
    outputs: tuple[str, ...]
    metrics: tuple[str, ...]

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


CAR_LOAN = Dataset(
    key="cbpe",
    model="car-loan-bench",
    loader="load_synthetic_car_loan_dataset",
    problem_type="binary_classification",
    numeric=("car_value", "debt_to_income_ratio", "loan_length", "driver_tenure"),
    categorical=("salary_range", "repaid_loan_on_prev_car", "size_of_downpayment"),
    target="repaid",
    outputs=("y_pred_proba", "y_pred"),
    metrics=("roc_auc", "f1"),
)
CAR_PRICE = Dataset(
    key="dle",
    model="car-price-bench",
    loader="load_synthetic_car_price_dataset",
    problem_type="regression",
    numeric=("car_age", "km_driven", "price_new", "accident_count", "door_count"),
    categorical=("fuel", "transmission"),
    target="y_true",
    outputs=("y_pred",),
    metrics=("mae", "rmse"),
)


@dataclass(frozen=True)
class Workload:
    reference: Any  # pandas: features, outputs, target, timestamp (naive UTC), id
    analysis: Any  # pandas: the same without the target
    days: int
    rows_per_day: int
    dataset: Dataset = CAR_LOAN
    later: Any = None  # pandas: the hours right after the window (the incremental runs' new data)


def config_dict(drift: bool, dataset: Dataset = CAR_LOAN) -> dict[str, Any]:
    return {
        "name": dataset.model,
        "endpoint": f"{dataset.model}-endpoint",
        "problem_type": dataset.problem_type,
        "features": [{"name": n, "type": "numeric"} for n in dataset.numeric]
        + [{"name": n, "type": "categorical"} for n in dataset.categorical],
        "output": {"columns": list(dataset.outputs)},
        "target": dataset.target,
        "chunking": {"period": "1h"},
        "estimation": {"metrics": list(dataset.metrics), "drift_metrics": drift, "top_features": 3 if drift else 0},
        # Issue 14's additions (output and multivariate drift, data quality) are timed by data_quality_bench: here
        # `default` stays the estimate plus univariate drift of the features, which direct nannyml matches.
        "drift": {"outputs": False, "multivariate": False},
        "data_quality": {"enabled": False},
    }


def _rebase(frame: Any, start: datetime, rows_per_hour: float) -> Any:
    import numpy as np
    import pandas as pd

    frame = frame.reset_index(drop=True).copy()
    step_ns = int(3_600_000_000_000 / rows_per_hour)
    naive = pd.Timestamp(start.replace(tzinfo=None))
    frame["timestamp"] = naive + pd.to_timedelta(np.arange(len(frame), dtype="int64") * step_ns, unit="ns")
    frame["id"] = np.arange(len(frame), dtype="int64")
    return frame


def make_workload(
    days: int,
    reference_rows: int = 50_000,
    rows_per_day: int = 100_000,
    seed: int = SEED,
    dataset: Dataset = CAR_LOAN,
) -> Workload:
    """The dataset resampled (seeded, with replacement) to the workload sizes, on hourly timestamps."""
    import nannyml as nml
    import numpy as np

    reference, analysis, labels = getattr(nml, dataset.loader)()
    analysis = analysis.merge(labels, on="id")
    rng = np.random.default_rng(seed)
    rows_per_hour = rows_per_day / 24
    ref = reference.iloc[rng.integers(0, len(reference), reference_rows)]
    window_rows = rows_per_day * days
    later_rows = int(rows_per_hour * LATER_HOURS)
    ana = analysis.iloc[rng.integers(0, len(analysis), window_rows + later_rows)].drop(columns=[dataset.target])
    rebased = _rebase(ana, ANALYSIS_START, rows_per_hour)
    return Workload(
        reference=_rebase(ref, REFERENCE_START, rows_per_hour),
        analysis=rebased.iloc[:window_rows].reset_index(drop=True),
        days=days,
        rows_per_day=rows_per_day,
        dataset=dataset,
        later=rebased.iloc[window_rows:].reset_index(drop=True),
    )


def lake_rows(analysis: Any, dataset: Dataset = CAR_LOAN) -> Any:
    """The analysis rows as decoded capture rows (what ingest writes into the lake)."""
    import numpy as np
    import pandas as pd

    rows = pd.DataFrame({n: analysis[n].astype("float64") for n in dataset.numeric})
    for name in dataset.categorical:
        rows[name] = analysis[name].astype(str).astype("object")
    if "y_pred_proba" in dataset.outputs:
        rows["y_pred_proba"] = analysis["y_pred_proba"].astype("float64")
        rows["y_pred"] = analysis["y_pred"].astype("int64")
    else:
        rows["y_pred"] = analysis["y_pred"].astype("float64")
    rows["event_id"] = "evt-" + analysis["id"].astype(str)
    rows["inference_id"] = rows["event_id"]
    rows["row_in_request"] = np.zeros(len(analysis), dtype="int32")
    rows["inference_time"] = analysis["timestamp"].dt.tz_localize("UTC")
    return rows


def _best(repeats: int, action: Callable[[], Any], before: Callable[[], None] | None = None) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        if before is not None:
            before()
        gc.collect()
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


@contextmanager
def _timed_reports() -> Iterator[list[float]]:
    """Seconds of each HTML report rendered inside the runs in the block (the report is part of the run)."""
    from modelwatch.analysis import assemble as report  # the module: its render_report call is timed

    seconds: list[float] = []
    real = report.render_report

    def timed(**kwargs: Any) -> str:
        started = time.perf_counter()
        try:
            return real(**kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    report.render_report = timed
    try:
        yield seconds
    finally:
        report.render_report = real


def _clear_cache(store: Any, model: str) -> None:
    """No cached baseline and no stored analysis: the model's first run."""
    from modelwatch.lake.layout import monitor_prefix
    from modelwatch.monitors import MONITORS

    for monitor in MONITORS:
        store.delete(list(store.list(monitor_prefix(model, monitor))))


def _clear_analysis(store: Any, model: str) -> None:
    """No stored analysis (every chunk is analysed), the fitted baselines stay cached."""
    from modelwatch.analysis.plan import ANALYSIS
    from modelwatch.monitors import MONITORS
    from modelwatch.monitors.artifacts import Artifact

    for monitor in MONITORS:
        artifact = Artifact(model, monitor, ANALYSIS, ".parquet")
        store.delete([artifact.body_key, artifact.manifest_key])


class Lake:
    """A LocalStore lake holding the registered model and its captures, written by the real writer, with the hour
    counters ingestion keeps (so runs reuse unchanged chunks as they do on AWS)."""

    def __init__(self, root: Path, workload: Workload, drift: bool, config: dict[str, Any] | None = None) -> None:
        from modelwatch.config.model import parse_model_config
        from modelwatch.lake.store import LocalStore
        from modelwatch.registry import Registry

        self.store = LocalStore(root)
        self.workload = workload
        self.dataset = workload.dataset
        self.model = workload.dataset.model
        self.config = parse_model_config(config or config_dict(drift, workload.dataset), "<benchmark>")
        buffer = io.BytesIO()
        workload.reference.drop(columns=["id"]).to_parquet(buffer, index=False)
        self.config = Registry(self.store).register(self.config, buffer.getvalue())
        self.counters: dict[datetime, Any] = {}
        self.files = 0
        self.lake_files = self._write(workload.analysis)
        self.window = (ANALYSIS_START, ANALYSIS_START + timedelta(days=workload.days))
        self.runs = 0
        self.later_added = 0

    def _write(self, analysis: Any) -> int:
        import polars as pl

        from modelwatch.lake.writer import PartitionedWriter

        self.files += 1
        writer = PartitionedWriter(self.store, "captures", self.model, "inference_time", f"bench-capture-{self.files}")
        rows = lake_rows(analysis, self.dataset)
        writer.add(pl.from_pandas(rows))
        written = len(writer.write())
        self._count(rows["inference_time"], labels=False)
        return written

    def _count(self, stamps: Any, labels: bool) -> None:
        """The hour counters of rows (`labels` off: captures) or labels at inference times `stamps`, as ingestion
        counts them: each hour's count and version up by the file's."""
        from modelwatch.state import HourCounter

        for hour, count in stamps.groupby(stamps.dt.floor("h")).size().items():
            key = hour.to_pydatetime()
            before = self.counters.get(key) or HourCounter(hour=key)
            if labels:
                changed = {"labels": before.labels + int(count), "label_version": before.label_version + 1}
            else:
                changed = {"rows": before.rows + int(count), "data_version": before.data_version + 1}
            self.counters[key] = replace(before, **changed)

    def write_labels(self, analysis: Any, delay: timedelta = timedelta(minutes=30)) -> None:
        """Every row's label (`target`), arriving `delay` after its inference, written as ground-truth ingestion
        writes it, with the hour counters' label counts."""
        import numpy as np
        import pandas as pd
        import polars as pl

        from modelwatch.lake.writer import PartitionedWriter

        self.files += 1
        stamps = analysis["timestamp"].dt.tz_localize("UTC")
        labels = pd.DataFrame(
            {
                "inference_id": "evt-" + analysis["id"].astype(str),
                "row_in_request": np.zeros(len(analysis), dtype="int32"),
                "y_true": analysis["target"].astype("int64"),
                "label_time": stamps + delay,
                "source_key": f"bench-labels-{self.files}.jsonl",
                "source_line": np.arange(len(analysis), dtype="int64"),
            }
        )
        writer = PartitionedWriter(self.store, "ground_truth", self.model, "label_time", f"bench-labels-{self.files}")
        writer.add(pl.from_pandas(labels))
        writer.write()
        self._count(stamps, labels=True)

    def add_later_hour(self) -> None:
        """The next hour after the window arrives (one more capture file); the window grows by that hour."""
        later = self.workload.later
        start = self.window[1]
        hour = later.loc[
            (later["timestamp"] >= start.replace(tzinfo=None))
            & (later["timestamp"] < (start + HOUR).replace(tzinfo=None))
        ]
        self._write(hour)
        self.window = (self.window[0], start + HOUR)
        self.later_added += 1

    def run(self, counted: bool = True) -> Any:
        """One run as the Monitor state machine makes it (each configured monitor, then the assembly), in process."""
        from modelwatch.analysis import RunSpec, run_monitor_from_lake
        from modelwatch.monitors import configured

        self.runs += 1
        spec = RunSpec(
            model=self.model,
            run_id=f"bench-{self.runs}",
            window_start=self.window[0],
            window_end=self.window[1],
            input_complete=True,
            monitors=configured(self.config),
            config=self.config,
        )
        counters = list(self.counters.values()) if counted else None
        return run_monitor_from_lake(spec, self.store, self.window[1], counters)

    def phases(self) -> dict[str, float]:
        """Seconds of the run's first two phases, timed apart: the lake read (each record once) and prepare_captures."""
        from modelwatch.analysis.run import read_captures
        from modelwatch.monitors.frames import lake_to_pandas, prepare_captures

        started = time.perf_counter()
        captures = lake_to_pandas(read_captures(self.store, self.model, [self.window]).frame)
        read = time.perf_counter() - started
        started = time.perf_counter()
        prepare_captures(self.config, captures, features=[])
        return {
            "lake_read_seconds": round(read, 3),
            "prepare_captures_seconds": round(time.perf_counter() - started, 3),
        }

    def results(self, outcome: Any) -> Any:
        import pandas as pd

        return pd.read_parquet(outcome.results_uri)


def direct_estimator(workload: Workload) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    """nannyml CBPE (or DLE) as a user would call it on in-memory pandas: (fit, estimate-with-fitted).

    DLE gets the same fixed LightGBM hyperparameters modelwatch uses (deterministic, no tuning): the same work."""
    import nannyml as nml

    from modelwatch.monitors.nml import DLE_HYPERPARAMETERS

    dataset = workload.dataset

    def fit() -> Any:
        if dataset.key == "dle":
            estimator = nml.DLE(
                feature_column_names=dataset.features,
                y_pred="y_pred",
                y_true=dataset.target,
                timestamp_column_name="timestamp",
                metrics=list(dataset.metrics),
                chunk_period="h",
                tune_hyperparameters=False,
                hyperparameters=dict(DLE_HYPERPARAMETERS),
            )
        else:
            estimator = nml.CBPE(
                problem_type="classification_binary",
                y_pred_proba="y_pred_proba",
                y_pred="y_pred",
                y_true=dataset.target,
                timestamp_column_name="timestamp",
                metrics=list(dataset.metrics),
                chunk_period="h",
            )
        return estimator.fit(workload.reference)

    def estimate(fitted: Any) -> Any:
        return fitted.estimate(workload.analysis)

    return fit, estimate


def direct_drift(workload: Workload) -> Callable[[], Any]:
    import nannyml as nml

    def fit_and_calculate() -> Any:
        calculator = nml.UnivariateDriftCalculator(
            column_names=workload.dataset.features,
            treat_as_categorical=list(workload.dataset.categorical),
            timestamp_column_name="timestamp",
            chunk_period="h",
            continuous_methods=["jensen_shannon"],
            categorical_methods=["jensen_shannon"],
        )
        return calculator.fit(workload.reference).calculate(workload.analysis)

    return fit_and_calculate


def _max_abs_diff(stored: Any, direct: Any, metrics: Sequence[str]) -> float:
    """Largest difference between modelwatch's stored estimates and the direct call's, chunk by chunk."""
    frame = direct.filter(period="analysis").to_df()
    worst = 0.0
    for metric in metrics:
        ours = stored[(stored["kind"] == "estimated") & (stored["metric"] == metric)].sort_values("chunk_start")
        theirs = frame[(metric, "value")].to_numpy()
        if len(ours) != len(theirs):
            return float("inf")
        worst = max(worst, float(abs(ours["value"].to_numpy() - theirs).max()))
    return worst


def _same_results(first: Any, second: Any) -> bool:
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(
            first.drop(columns=["run_id"]).reset_index(drop=True),
            second.drop(columns=["run_id"]).reset_index(drop=True),
            check_exact=True,
        )
    except AssertionError:
        return False
    return True


def bench_window(workload: Workload, drift: bool, repeats: int) -> dict[str, Any]:
    label = "default" if drift else "estimation"
    rows = len(workload.analysis)
    print(f"\nestimation, {workload.dataset.key}, {workload.days} day(s), {rows:,} rows, config {label}", flush=True)
    fit, estimate = direct_estimator(workload)
    drift_direct = direct_drift(workload) if drift else None
    with tempfile.TemporaryDirectory(prefix="estimation-bench-") as folder:
        lake = Lake(Path(folder), workload, drift)
        # first run: nothing cached, nothing stored
        fit_seconds, fit_outcome = _best(repeats, lake.run, before=lambda: _clear_cache(lake.store, lake.model))
        assert fit_outcome.estimator_cache == "fit", fit_outcome.estimator_cache
        # cached fit, every chunk estimated again (no stored analysis): the same work as the direct estimate
        clear_analysis = partial(_clear_analysis, lake.store, lake.model)
        with _timed_reports() as report_seconds:
            cached_seconds, cached_first = _best(1, lake.run, before=clear_analysis)
            more, cached_second = _best(max(1, repeats - 1), lake.run, before=clear_analysis)
        cached_seconds = min(cached_seconds, more)
        assert cached_first.estimator_cache == cached_second.estimator_cache == "hit"
        assert cached_first.chunks_reused == cached_second.chunks_reused == 0
        reproducible = _same_results(lake.results(cached_first), lake.results(cached_second))
        fit_vs_cached_identical = _same_results(lake.results(fit_outcome), lake.results(cached_first))
        stored = lake.results(cached_first)
        chunks = fit_outcome.chunks_analysed
        phases = lake.phases()
        # steady state: the next hour arrives and the run re-estimates only its chunk (the rest are reused)
        incremental_seconds, incremental = _best(LATER_HOURS, lake.run, before=lake.add_later_hour)
        assert incremental.chunks_reused == incremental.chunks_analysed - 1, incremental
        incremental_equals_full = _same_results(lake.results(incremental), lake.results(lake.run(counted=False)))
        files = lake.lake_files

    direct_fit_seconds, fitted = _best(repeats, fit)
    direct_estimate_seconds, direct_result = _best(repeats, lambda: estimate(fitted))
    direct_total = direct_fit_seconds + direct_estimate_seconds
    drift_seconds = _best(repeats, drift_direct)[0] if drift_direct is not None else 0.0
    direct_fit_run = direct_total + drift_seconds
    direct_cached_run = direct_estimate_seconds + drift_seconds  # drift has no separate cached form here
    result = {
        "estimator": "DLE" if workload.dataset.key == "dle" else "CBPE",
        "dataset": workload.dataset.loader.removeprefix("load_synthetic_").removesuffix("_dataset"),
        "metrics": list(workload.dataset.metrics),
        "config": label,
        "days": workload.days,
        "reference_rows": len(workload.reference),
        "analysis_rows": rows,
        "chunks": chunks,
        "lake_files": files,
        "modelwatch": {
            "fit_run_seconds": round(fit_seconds, 3),
            "cached_run_seconds": round(cached_seconds, 3),
            "incremental_run_seconds": round(incremental_seconds, 3),
            "report_render_seconds": round(min(report_seconds), 3),
            **phases,
        },
        "direct": {
            "fit_seconds": round(direct_fit_seconds, 3),
            "estimate_seconds": round(direct_estimate_seconds, 3),
            "drift_seconds": round(drift_seconds, 3),
            "fit_run_seconds": round(direct_fit_run, 3),
        },
        "overhead_ratio_fit": round(fit_seconds / direct_fit_run, 2),
        "overhead_ratio_cached": round(cached_seconds / direct_cached_run, 2),
        "cached_speedup": round(fit_seconds / cached_seconds, 2),
        "incremental_speedup": round(fit_seconds / incremental_seconds, 2),
        "incremental_equals_full_run": incremental_equals_full,
        "direct_cached_speedup": round(direct_fit_run / direct_cached_run, 2),
        "reproducible": reproducible,
        "fit_and_cached_identical": fit_vs_cached_identical,
        "max_abs_diff_vs_nannyml": _max_abs_diff(stored, direct_result, workload.dataset.metrics),
        "repeats": repeats,
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


def warm_up(datasets: Sequence[Dataset] = (CAR_LOAN,)) -> None:
    """One small untimed pass of both paths: lazy imports (plotly for the report, sklearn, ...) load here."""
    for dataset in datasets:
        workload = make_workload(1, reference_rows=2_400, rows_per_day=2_400, dataset=dataset)
        fit, estimate = direct_estimator(workload)
        estimate(fit())
        direct_drift(workload)()
        with tempfile.TemporaryDirectory(prefix="estimation-warm-") as folder:
            Lake(Path(folder), workload, drift=True).run()


def run(
    quick: bool = False, days: Sequence[int] | None = None, default_config: bool = True, dle: bool | None = None
) -> dict[str, Any]:
    """CBPE over the windows (and the default config at 1 day); DLE at 1 day unless quick (LightGBM fits take
    tens of seconds on 2 cores: too slow for the smoke run; the estimation unit tests cover DLE)."""
    import nannyml  # noqa: F401 - imported before timing so no run pays for the import

    import modelwatch.analysis  # noqa: F401

    windows = list(days or ([1] if quick else [1, 7]))
    rows_per_day = 4_800 if quick else 100_000
    reference_rows = 5_000 if quick else 50_000
    repeats = 1 if quick else 2
    dle = not quick if dle is None else dle
    if not quick:  # the smoke run checks that everything works, not how fast: no warm-up
        warm_up()
    results = []
    for count in windows:
        workload = make_workload(count, reference_rows, rows_per_day)
        results.append(bench_window(workload, drift=False, repeats=repeats if count == 1 else 1))
        if default_config and not quick and count == 1:  # the defaults' extra cost shows at 1 day
            results.append(bench_window(workload, drift=True, repeats=1))
    if dle:  # regression: DLE (LightGBM, deterministic) on the car price dataset, one day
        import lightgbm  # noqa: F401 - loaded before timing, as nannyml is

        workload = make_workload(1, reference_rows, rows_per_day, dataset=CAR_PRICE)
        results.append(bench_window(workload, drift=False, repeats=1))
    return {
        "benchmark": "estimation",
        "mode": "quick" if quick else "full",
        "dataset": (
            f"nannyml synthetic car loan (binary, CBPE) and car price (regression, DLE), resampled with seed {SEED}"
        ),
        "rows_per_day": rows_per_day,
        "reference_rows": reference_rows,
        "goal": {"overhead_ratio_max": 1.5, "cached_speedup_min": 2.0},
        "windows": results,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--days", type=int, nargs="*")
    parser.add_argument("--no-default-config", action="store_true")
    parser.add_argument("--dle", action=argparse.BooleanOptionalAction, default=None, help="default: not in --quick")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.quick, args.days, not args.no_default_config, args.dle)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
