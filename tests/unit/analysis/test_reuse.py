"""Incremental runs: each monitor reads and analyses only the chunks whose hour counters changed; the rest keep
their stored rows, and the outcome equals a full run over the same lake."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from modelwatch.analysis import RunOutcome, RunSpec, run_monitor_from_lake
from modelwatch.analysis import run as analysis_run
from modelwatch.analysis.plan import ANALYSIS, merged_ranges, plan_reuse
from modelwatch.chunks import floor_hour
from modelwatch.lake.store import LocalStore
from modelwatch.monitors import artifacts
from modelwatch.registry import Registry
from modelwatch.signing import process_signer
from modelwatch.state import HourCounter

from .cases import LATE, Case

HOUR = pd.Timedelta(hours=1)


class CountedLake:
    """A LocalStore lake written by the real partitioned writer, with the hour counters ingestion would keep."""

    def __init__(self, root, case: Case, config=None) -> None:
        self.store = LocalStore(root)
        self.case = case
        self.config = config or case.config
        buffer = io.BytesIO()
        case.reference.to_parquet(buffer, index=False)
        Registry(self.store).register(self.config, buffer.getvalue())
        self.counters: dict[datetime, HourCounter] = {}
        self.files = 0
        self.hour_of_id = dict(
            zip(case.captures["inference_id"], case.captures["inference_time"].dt.floor("h"), strict=True)
        )

    def _write(self, area: str, time_column: str, rows: pd.DataFrame) -> None:
        import polars as pl

        from modelwatch.lake.writer import PartitionedWriter

        self.files += 1
        writer = PartitionedWriter(self.store, area, self.config.name, time_column, f"source-{self.files}")
        writer.add(pl.from_pandas(rows))
        writer.write()

    def _counter(self, hour: pd.Timestamp) -> HourCounter:
        key = floor_hour(hour.to_pydatetime())
        return self.counters.setdefault(key, HourCounter(hour=key))

    def add_captures(self, rows: pd.DataFrame) -> None:
        self._write("captures", "inference_time", rows)
        for hour, count in rows.groupby(rows["inference_time"].dt.floor("h")).size().items():
            counter = self._counter(hour)
            self.counters[counter.hour] = replace(
                counter, rows=counter.rows + int(count), data_version=counter.data_version + 1
            )

    def add_labels(self, ids: pd.Series) -> None:
        rows = self.case.labels.loc[self.case.labels["inference_id"].isin(set(ids))]
        self._write("ground_truth", "label_time", rows.astype({"y_true": "int64", "row_in_request": "int32"}))
        hours = rows["inference_id"].map(self.hour_of_id)
        for hour, count in hours.value_counts().items():
            counter = self._counter(hour)
            self.counters[counter.hour] = replace(
                counter, labels=counter.labels + int(count), label_version=counter.label_version + 1
            )

    def spec(self, run_id: str) -> RunSpec:
        config = Registry(self.store).get(self.config.name)
        return RunSpec(
            model=config.name,
            run_id=run_id,
            window_start=pd.Timestamp("2026-03-02", tz="UTC").to_pydatetime(),
            window_end=LATE,
            config=config,
        )

    def run(self, run_id: str, counted: bool = True) -> RunOutcome:
        counters = list(self.counters.values()) if counted else None
        return run_monitor_from_lake(self.spec(run_id), self.store, LATE, counters)

    def results(self, outcome: RunOutcome) -> pd.DataFrame:
        return pd.read_parquet(outcome.results_uri).drop(columns=["run_id"])


def _hours(case: Case, first: int, last: int) -> pd.DataFrame:
    """The case's captured rows of analysis hours [first, last)."""
    start = pd.Timestamp("2026-03-02", tz="UTC")
    times = case.captures["inference_time"]
    return case.captures.loc[(times >= start + first * HOUR) & (times < start + last * HOUR)]


def _same_outcome(incremental: RunOutcome, full: RunOutcome, lake: CountedLake) -> None:
    pd.testing.assert_frame_equal(lake.results(incremental), lake.results(full), check_exact=True)
    for name in ("chunks_analysed", "chunks_skipped", "alerts", "alerts_total", "label_coverage", "drift"):
        assert getattr(incremental, name) == getattr(full, name), name
    assert incremental.top_features == full.top_features
    assert incremental.top_drifting_features == full.top_drifting_features


@pytest.fixture
def spy_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[datetime, datetime]]]:
    calls: list[list[tuple[datetime, datetime]]] = []
    real = analysis_run.read_captures

    def spy(store, model, ranges, without=()):
        calls.append(list(ranges))
        return real(store, model, ranges, without)

    monkeypatch.setattr(analysis_run, "read_captures", spy)
    return calls


def test_a_run_after_new_rows_and_labels_estimates_only_the_changed_chunks(
    binary_case: Case, tmp_path, spy_reads
) -> None:
    # Given a lake with hours 0-5 (hour 3 only in part) and labels for hour 1, analysed once
    lake = CountedLake(tmp_path, binary_case)
    hour3 = _hours(binary_case, 3, 4)
    lake.add_captures(pd.concat([_hours(binary_case, 0, 3), hour3.iloc[:1_500], _hours(binary_case, 4, 6)]))
    lake.add_labels(_hours(binary_case, 1, 2)["inference_id"])
    first = lake.run("r1")
    assert first.chunks_analysed == 6 and first.chunks_reused == 0

    # When the rest of hour 3, hours 6-7 and labels for hour 4 arrive
    lake.add_captures(hour3.iloc[1_500:])
    lake.add_captures(_hours(binary_case, 6, 8))
    lake.add_labels(_hours(binary_case, 4, 5)["inference_id"])
    spy_reads.clear()
    second = lake.run("r2")

    # Then hours 0, 1, 2 and 5 keep their stored results; only hours 3-4 and 6-7 are read and analysed by the
    # performance monitor, and hour 4, whose rows did not change, only by it: drift and data quality (on by default
    # since #14) do not read labels, so labels landing change nothing for them
    assert second.chunks_analysed == 8 and second.chunks_reused == 4
    start = pd.Timestamp("2026-03-02", tz="UTC")
    changed = [(start + 3 * HOUR, start + 5 * HOUR), (start + 6 * HOUR, start + 8 * HOUR)]
    new_rows = [(start + 3 * HOUR, start + 4 * HOUR), (start + 6 * HOUR, start + 8 * HOUR)]
    assert spy_reads == [changed, new_rows, new_rows]
    # and everything it reports equals a full run over the same lake (exactly)
    full = lake.run("full", counted=False)
    assert full.chunks_reused == 0
    _same_outcome(second, full, lake)
    performance = lake.results(second).query("monitor == 'performance'")
    assert set(performance["kind"]) == {"estimated", "realized"}


def test_first_labels_after_an_unlabelled_run_line_up_with_the_reused_chunks(binary_case: Case, tmp_path) -> None:
    # Given a run without any label
    lake = CountedLake(tmp_path, binary_case)
    lake.add_captures(_hours(binary_case, 0, 8))
    assert lake.run("r1").chunks_reused == 0

    # When labels arrive for the last two hours only
    lake.add_labels(_hours(binary_case, 6, 8)["inference_id"])
    second = lake.run("r2")

    # Then the six unlabelled chunks are reused, realized rows exist for the labelled ones, and the report draws
    # estimated vs realized over all eight chunks
    assert second.chunks_reused == 6
    _same_outcome(second, lake.run("full", counted=False), lake)
    results = lake.results(second)
    assert sorted(results.loc[results["kind"] == "realized", "chunk_key"].unique()) == [
        "2026-03-02T06:00:00",
        "2026-03-02T07:00:00",
    ]
    report = Path(second.report_uri).read_text()
    assert "estimated vs realized" in report and "plot unavailable" not in report


def test_a_run_with_nothing_changed_reuses_every_chunk_without_the_estimator(
    binary_case: Case, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = CountedLake(tmp_path, binary_case)
    lake.add_captures(_hours(binary_case, 0, 8))
    lake.add_labels(binary_case.labels["inference_id"])
    first = lake.run("r1")

    def no_estimator(*args, **kwargs):
        raise AssertionError("a baseline was loaded although every chunk is unchanged")

    monkeypatch.setattr(analysis_run, "baseline_for", no_estimator)
    again = lake.run("r2")
    assert again.chunks_reused == 8 and again.estimator_cache == "unused"
    _same_outcome(again, first, lake)


def test_a_changed_config_or_a_tampered_state_means_a_full_run(binary_case: Case, tmp_path) -> None:
    lake = CountedLake(tmp_path, binary_case)
    lake.add_captures(_hours(binary_case, 0, 8))
    lake.run("r1")
    assert lake.run("r2").chunks_reused == 8

    # a tampered stored analysis is refused (its hash does not match its manifest) and the run is a full run
    key = artifacts.Artifact(binary_case.config.name, "performance", ANALYSIS, ".parquet").body_key
    body = bytearray(lake.store.get(key))
    body[len(body) // 2] ^= 0xFF
    lake.store.put(key, bytes(body))
    assert lake.run("r3").chunks_reused == 0

    # a config change (even one that keeps the fitted estimator) is a full run
    registry = Registry(lake.store)
    stored = registry.get(binary_case.config.name)
    registry.register(
        stored.model_copy(update={"estimation": stored.estimation.model_copy(update={"top_features": 2})})
    )
    outcome = lake.run("r4")
    assert outcome.chunks_reused == 0 and outcome.estimator_cache == "hit"
    assert lake.run("r5").chunks_reused == 8


def test_size_chunks_and_runs_without_counters_are_full_runs(binary_case: Case, tmp_path) -> None:
    config = binary_case.config.model_copy(
        update={"chunking": binary_case.config.chunking.model_copy(update={"period": None, "size": 2_500})}
    )
    lake = CountedLake(tmp_path, binary_case, config)
    lake.add_captures(_hours(binary_case, 0, 8))
    lake.run("r1")
    assert lake.run("r2").chunks_reused == 0


@pytest.mark.parametrize(("period", "chunks"), [("15m", 8), ("1h", 2), ("1d", 1)])
def test_every_chunk_overlapping_a_counted_hour_is_planned(binary_case: Case, tmp_path, period, chunks) -> None:
    config = binary_case.config.model_copy(
        update={"chunking": binary_case.config.chunking.model_copy(update={"period": period})}
    )
    hours = [datetime(2026, 3, 2, h, tzinfo=UTC) for h in (5, 6)]
    counters = [HourCounter(hours[0], rows=10, data_version=1), HourCounter(hours[1], rows=10, data_version=1)]
    plan = plan_reuse(config, "performance", LocalStore(tmp_path), "sha", counters, None, None, process_signer())
    assert plan is not None and len(plan.fingerprints) == chunks and not plan.reused
    ranges = merged_ranges(plan.fresh_chunks)  # what the run reads
    assert ranges == [(ranges[0][0], ranges[-1][1])]  # one contiguous read
    assert ranges[0][0] <= hours[0] and ranges[0][1] >= hours[1] + HOUR.to_pytimedelta()


def test_a_step_reads_only_the_features_its_monitor_reads_and_results_are_unchanged(
    binary_case: Case, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a lake with six hours and labels for two of them, run once reading every column (baselines fitted and
    # cached), its stored analyses then dropped, and a spy on what each step leaves in the lake
    lake = CountedLake(tmp_path, binary_case)
    lake.add_captures(_hours(binary_case, 0, 6))
    lake.add_labels(_hours(binary_case, 1, 3)["inference_id"])
    monkeypatch.setattr(analysis_run, "_unread_features", lambda monitor: [])
    whole = lake.run("r1", counted=False)
    monkeypatch.undo()
    for monitor in whole.monitors:
        analysis = artifacts.Artifact(lake.config.name, monitor, ANALYSIS, ".parquet")
        lake.store.delete([analysis.body_key, analysis.manifest_key])
    left_out: list[list[str]] = []
    real = analysis_run.read_captures

    def spy(store, model, ranges, without=()):
        left_out.append(sorted(without))
        return real(store, model, ranges, without)

    monkeypatch.setattr(analysis_run, "read_captures", spy)

    # When the model runs again with each step leaving out the features its monitor does not read
    outcome = lake.run("r2", counted=False)

    # Then CBPE's step read no feature, every other step all of them, and the results are the full read's
    features = sorted(binary_case.config.feature_names)
    assert "drift" in outcome.monitors and len(left_out) == len(outcome.monitors)
    assert sorted(left_out) == sorted([features] + [[]] * (len(left_out) - 1))
    pd.testing.assert_frame_equal(lake.results(outcome), lake.results(whole))


def test_fresh_chunks_are_read_in_batches_of_whole_chunks_up_to_a_row_budget(binary_case: Case, tmp_path) -> None:
    hours = [datetime(2026, 3, 2, h, tzinfo=UTC) for h in range(6)]
    step = HOUR.to_pytimedelta()
    counted = dict(zip(hours, (100, 100, 300, 50, 0, 40), strict=True))
    # Given hours 0-3 and 5 counted, none analysed before (hour 4 has no rows)
    counters = [HourCounter(h, rows=rows, data_version=1) for h, rows in counted.items() if rows]
    plan = plan_reuse(
        binary_case.config, "performance", LocalStore(tmp_path), "sha", counters, None, None, process_signer()
    )
    assert plan is not None

    # Then with no budget they are one batch, read as two ranges (adjacent hours merged); with a budget of 200 rows
    # each batch holds at most 200 counted rows, a bigger hour alone, and no hour is split or read twice
    chunks = [(h, h + step, counted[h]) for h in (*hours[:4], hours[5])]
    assert plan.fresh_chunks == chunks
    assert plan.batches(None) == [chunks]
    assert merged_ranges(plan.fresh_chunks) == [(hours[0], hours[4]), (hours[5], hours[5] + step)]
    assert [merged_ranges(batch) for batch in plan.batches(200)] == [
        [(hours[0], hours[2])],
        [(hours[2], hours[3])],
        [(hours[3], hours[4]), (hours[5], hours[5] + step)],
    ]
    assert plan.batches(1) == [[chunk] for chunk in chunks]


def test_a_run_analysing_its_fresh_hours_batch_by_batch_reports_what_one_batch_would(
    binary_case: Case, tmp_path, spy_reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a lake with hours 0-5 captured, labels for hours 1-3 and for hour 7, which is never captured
    # (unmatched), analysed once in one read per step, its stored analyses then dropped (baselines kept)
    lake = CountedLake(tmp_path, binary_case)
    lake.add_captures(_hours(binary_case, 0, 6))
    lake.add_labels(pd.concat([_hours(binary_case, 1, 4), _hours(binary_case, 7, 8)])["inference_id"])
    one_read = lake.run("r1")
    assert spy_reads and all(len(ranges) == 1 for ranges in spy_reads)
    for monitor in one_read.monitors:
        analysis = artifacts.Artifact(lake.config.name, monitor, ANALYSIS, ".parquet")
        lake.store.delete([analysis.body_key, analysis.manifest_key])
    spy_reads.clear()

    # When the steps may hold at most two hours' rows at once
    monkeypatch.setattr(analysis_run, "BATCH_ROWS", 2 * 2_500)
    label_reads: list[datetime] = []
    real_labels = analysis_run.read_ground_truth

    def spy_labels(store, model, start=None, ids=None, **kwargs):
        label_reads.append(start)
        return real_labels(store, model, start=start, ids=ids, **kwargs)

    monkeypatch.setattr(analysis_run, "read_ground_truth", spy_labels)
    in_batches = lake.run("r1")

    # Then each step read its six hours in three batches, and the run reports exactly what one read did: the same
    # results, chunks, alerts and label counts (each batch reads the labels of its own inference ids: hour 7's,
    # whose captures no batch holds, are never read)
    start = pd.Timestamp("2026-03-02", tz="UTC")
    pairs = [[(start + h * HOUR, start + (h + 2) * HOUR)] for h in (0, 2, 4)]  # each step's three reads
    assert spy_reads == [batch for _ in in_batches.monitors for batch in pairs]
    # the step reading labels read each batch's from its first hour on (labels land after their inference)
    assert label_reads == [reads[0][0] for reads in pairs]
    assert in_batches.chunks_reused == 0
    _same_outcome(in_batches, one_read, lake)
    assert in_batches.labels == one_read.labels
    assert in_batches.labels["unmatched_labels"] == 0 and in_batches.labels["label_rows"] == 3 * 2_500
    assert in_batches.chunks_analysed == one_read.chunks_analysed == 6


def test_a_step_out_of_time_defers_its_last_batches_and_the_next_run_analyses_only_them(
    binary_case: Case, tmp_path, spy_reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given six captured hours, read two at a time, and a step whose time runs out after its second batch
    lake = CountedLake(tmp_path, binary_case)
    lake.add_captures(_hours(binary_case, 0, 6))
    monkeypatch.setattr(analysis_run, "BATCH_ROWS", 2 * 2_500)
    left = iter([analysis_run.DEADLINE_MARGIN_SECONDS + 600.0, 1.0])  # asked before the second and third batch

    def step(run_id: str, time_left=None, counted: bool = True):
        counters = list(lake.counters.values()) if counted else None
        outcome = analysis_run.analyse_from_lake(
            lake.spec(run_id), "drift", lake.store, counters, LATE, signer=process_signer(), time_left=time_left
        )
        return outcome, pd.read_parquet(io.BytesIO(lake.store.get(outcome.results_key)))

    # When the step runs, then runs again with time to spare
    first, _ = step("r1", lambda: next(left))
    reads_first = list(spy_reads)
    spy_reads.clear()
    second, rows = step("r2")

    # Then the first analysed four hours and deferred the last two, skipped with the reason (nothing lost), and the
    # second read and analysed only those two, the rest taken from the first's stored results
    start = pd.Timestamp("2026-03-02", tz="UTC")
    assert reads_first == [[(start + h * HOUR, start + (h + 2) * HOUR)] for h in (0, 2)]
    assert first.chunks_analysed == 4
    assert [(e["start"], e["reason"]) for e in first.chunks_skipped] == [
        (f"2026-03-02T0{h}:00:00Z", "deferred to the next run: the drift step's time ran out after 2 of 3 batches")
        for h in (4, 5)
    ]
    assert spy_reads == [[(start + 4 * HOUR, start + 6 * HOUR)]]
    assert second.chunks_analysed == 6 and second.chunks_reused == 4 and not second.chunks_skipped
    # and its results are a full run's, exactly
    _, full = step("full", counted=False)
    pd.testing.assert_frame_equal(rows.drop(columns=["run_id"]), full.drop(columns=["run_id"]), check_exact=True)
