"""Bias and attribution monitors on a cached run at 100,000 rows a day: what they add to an hourly run.

A cached run (`analysis/plan.py`) reads and analyses the one new hour (~4,200 rows); each monitor's baseline (the
bias monitor's Clarify analysis and per-facet CBPE, the attribution monitor's reference surrogate) is loaded from the
lake, not fitted. The bench fits both baselines once (reported), then times `analyse_monitor` of each monitor on a
new hour with the baselines cached: the median over the repeats must stay under 1 s for both together.

    python -m benchmarks.fairness_bench [--quick]     (also `make bench`'s fairness section)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from modelwatch.analysis import RunRequest
from modelwatch.analysis.run import analyse_monitor
from modelwatch.lake.store import LocalStore
from modelwatch.monitors import monitor_for
from tests.unit.monitors import fairness_data as data

RESULTS = Path(__file__).resolve().parent / "results" / "fairness.json"
ROWS_PER_DAY = 100_000
LIMIT_SECONDS = 1.0


def measure(repeats: int, reference_rows: int = 20_000) -> dict[str, Any]:
    config = data.credit_config(bias=data.BIAS, attribution={"ndcg_threshold": 0.9})
    reference = data.reference(rows=reference_rows)
    hour = data.captures(hours=1, rows_per_hour=ROWS_PER_DAY // 24)
    labels = data.label_rows(hour, share=0.5)
    found: dict[str, Any] = {"rows_per_hour": len(hour), "reference_rows": len(reference), "repeats": repeats}
    with tempfile.TemporaryDirectory() as folder:
        store = LocalStore(Path(folder))
        request = RunRequest(config.name, "bench", input_complete=True)
        for name in ("bias", "attribution"):
            started = time.perf_counter()
            first = analyse_monitor(
                monitor_for(name, config),
                reference,
                data.lake_rows(hour),
                labels,
                request,
                store,
                data.LATE,
                signer=data.SIGNER,
            )
            found[f"{name}_fit_seconds"] = round(time.perf_counter() - started, 3)
            assert first.baseline == "fit"
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                again = analyse_monitor(
                    monitor_for(name, config),
                    reference,
                    data.lake_rows(hour),
                    labels,
                    request,
                    store,
                    data.LATE,
                    signer=data.SIGNER,
                )
                times.append(time.perf_counter() - started)
                assert again.baseline == "hit"
            found[f"{name}_cached_hour_seconds"] = round(statistics.median(times), 3)
    found["added_seconds"] = round(found["bias_cached_hour_seconds"] + found["attribution_cached_hour_seconds"], 3)
    found["limit_seconds"] = LIMIT_SECONDS
    found["within_limit"] = found["added_seconds"] <= LIMIT_SECONDS
    return found


def run(quick: bool) -> dict[str, Any]:
    """`make bench`'s fairness section (quick: a smaller reference, one repeat)."""
    return measure(1, reference_rows=5_000) if quick else measure(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args(argv)
    found = measure(1 if args.quick else 5)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(found, indent=2) + "\n")
    print(json.dumps(found, indent=2))
    return 0 if found["within_limit"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
