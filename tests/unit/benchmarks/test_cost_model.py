"""The cost model's arithmetic: line items from counts and measured seconds, SageMaker, fits and the ASL path."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.cost_model import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    Deployment,
    Measured,
    Prices,
    Workload,
    capture_files_per_hour,
    chunks_per_run,
    cost_report,
    cost_table,
    estimate_peak_memory_mb,
    estimate_seconds_per_run,
    linear_fit,
    measured_from_results,
    metric_series_per_model,
    models_makespan,
    modelwatch_monthly,
    rows_per_run,
    s3_requests_per_day,
    sagemaker_monitor_monthly,
    success_path_transitions,
)
from modelwatch.config.model import MetricsProfile
from modelwatch.constants import DIM_SEGMENT
from modelwatch.monitors import configured, monitor_for
from modelwatch.monitors.segments import OTHER, segment_dimension, segment_label, segment_publication

ROOT = Path(__file__).resolve().parents[3]
MEASURED = Measured(
    ingest_seconds_per_mb=0.01,
    estimate_seconds_fixed=2.0,
    estimate_seconds_per_row=1e-5,
    invocation_overhead_seconds=0.1,
    small_function_seconds=0.5,
    lake_bytes_per_row=250.0,
)


def _item(breakdown, service: str, item: str):
    [found] = [i for i in breakdown.items if (i.service, i.item) == (service, item)]
    return found


def test_custom_metrics_cost_metric_count_times_price_and_dominate_at_low_volume() -> None:
    cost = modelwatch_monthly(Workload(10_000), MEASURED, Deployment(metrics_per_model=22))
    metrics = _item(cost, "CloudWatch", "custom metrics")
    assert metrics.monthly_usd == pytest.approx(22 * 0.30)
    assert cost.dominant() == metrics
    fewer = modelwatch_monthly(Workload(10_000), MEASURED, Deployment(metrics_per_model=3))
    assert cost.total - fewer.total == pytest.approx(19 * 0.30)


def test_estimate_compute_is_runs_times_measured_seconds_times_memory() -> None:
    deployment = Deployment(estimate_memory_mb=2048, runs_per_day=24, lookback_days=0, incremental=False)
    cost = modelwatch_monthly(Workload(2_400_000), MEASURED, deployment)
    seconds_per_run = 2.0 + 1e-5 * 100_000  # 100k rows per hourly run (its own chunk only)
    expected_gbs = 24 * seconds_per_run * 2 * DAYS_PER_MONTH
    item = _item(cost, "Lambda", "estimate compute")
    assert item.quantity == pytest.approx(expected_gbs)
    assert item.monthly_usd == pytest.approx(expected_gbs * Prices().lambda_gb_second)


def test_ledger_reads_cover_the_runs_window() -> None:
    deployment = Deployment(lookback_days=14, runs_per_day=24, datapoints_per_chunk=16, dynamodb_reads_per_run=3)
    assert chunks_per_run(deployment) == 14 * 24
    reads = _item(modelwatch_monthly(Workload(10_000), MEASURED, deployment), "DynamoDB", "reads")
    assert reads.quantity == 24 * (3 + 14 * 24 * 16 * 0.5) * DAYS_PER_MONTH  # the ledger reads eventually consistent
    assert chunks_per_run(Deployment(lookback_days=0)) == 1


def test_s3_requests_count_ingest_runs_and_compaction() -> None:
    deployment = Deployment(
        lookback_days=0,
        incremental=False,
        runs_per_day=24,
        capture_files_min_per_hour=12,
        label_files_per_day=24,
        s3_puts_per_capture_file=2,
        s3_gets_per_capture_file=1,
        s3_puts_per_run=3,
        s3_gets_per_run=4,
        lake_areas_read_per_run=2,
    )
    puts, gets = s3_requests_per_day(Workload(10_000), deployment)  # 288 capture files a day
    assert puts == 288 * 2 + 24 * 2 + 24 * (3 + 2) + (48 + 2)
    assert gets == (288 + 24) + 24 * (4 + 2 + 144) + (288 + 24)
    longer, _ = s3_requests_per_day(Workload(10_000), replace(deployment, lookback_days=14))
    assert longer - puts == 24 * 2 * 14  # one LIST per extra day prefix per area


def test_runs_without_reuse_re_estimate_the_lookback() -> None:
    workload = Workload(100_000)
    full = Deployment(lookback_days=14, incremental=False)
    assert rows_per_run(workload, full) == 1_400_000
    assert rows_per_run(workload, replace(full, lookback_days=0)) == pytest.approx(100_000 / 24)
    assert estimate_seconds_per_run(workload, MEASURED, full) == pytest.approx(2.0 + 14.0)
    longer = modelwatch_monthly(workload, MEASURED, full)
    shorter = modelwatch_monthly(workload, MEASURED, replace(full, lookback_days=1))
    assert _item(longer, "Lambda", "estimate compute").quantity > _item(shorter, "Lambda", "estimate compute").quantity


def test_incremental_runs_estimate_the_new_chunk_and_the_newly_labelled_one() -> None:
    deployment = Deployment(lookback_days=14, runs_per_day=24)
    assert deployment.incremental
    assert rows_per_run(Workload(100_000, labelled_fraction=1.0), deployment) == pytest.approx(2 * 100_000 / 24)
    assert rows_per_run(Workload(100_000, labelled_fraction=0.0), deployment) == pytest.approx(100_000 / 24)
    # the run still covers (publishes and checks) the whole lookback
    assert chunks_per_run(deployment) == 14 * 24
    incremental = modelwatch_monthly(Workload(100_000), MEASURED, deployment)
    full = modelwatch_monthly(Workload(100_000), MEASURED, replace(deployment, incremental=False))
    assert (
        _item(incremental, "Lambda", "estimate compute").quantity < _item(full, "Lambda", "estimate compute").quantity
    )


def test_cost_report_flags_runs_longer_than_the_lambda_timeout_and_is_json() -> None:
    report = cost_report(MEASURED, Deployment(lookback_days=14, incremental=False), tiers=(10_000, 100_000_000))
    json.dumps(report)
    small, large = report["tiers"]
    assert small["fits_lambda_timeout"] and not large["fits_lambda_timeout"]
    incremental = cost_report(MEASURED, Deployment(lookback_days=14), tiers=(100_000_000,))["tiers"][0]
    assert incremental["fits_lambda_timeout"]
    assert incremental["full_window_estimate_seconds_per_run"] == large["estimate_seconds_per_run"]
    assert small["modelwatch"]["dominant"] == "CloudWatch: custom metrics"
    assert small["sagemaker"]["total_usd"] == pytest.approx(HOURS_PER_MONTH * 2 * 10 / 60 * 0.23, abs=0.01)
    assert report["sagemaker_by_billed_minutes"]["60"] == pytest.approx(HOURS_PER_MONTH * 2 * 0.23, abs=0.01)
    shares = [r["custom_metrics_usd"] for r in report["metric_count_sensitivity"]["rows"]]
    assert shares == sorted(shares) and shares[0] == pytest.approx(3 * 0.30)


def test_measured_from_results_fits_the_cached_runs() -> None:
    scaling = {
        "ingest": [
            {"rows": 10, "file_mb": 1.0, "seconds_per_mb": 0.5, "lake_bytes_per_row": 900.0},
            {"rows": 1000, "file_mb": 100.0, "seconds_per_mb": 0.02, "lake_bytes_per_row": 200.0},
            {
                "rows": 4000,
                "file_mb": 400.0,
                "seconds_per_mb": 0.01,
                "lake_bytes_per_row": 50.0,
                "repeated_lines": True,
            },
        ],
        "estimation": [
            {"rows": 10_000, "modelwatch_cached_run_seconds": 1.0 + 1e-5 * 10_000},
            {"rows": 100_000, "modelwatch_cached_run_seconds": 1.0 + 1e-5 * 100_000},
        ],
    }
    measured = measured_from_results(scaling)
    # speed from the largest file; lake size from the largest file of distinct rows (repeats compress too well)
    assert measured.ingest_seconds_per_mb == 0.01 and measured.lake_bytes_per_row == 200.0
    assert measured.estimate_seconds_fixed == pytest.approx(1.0)
    assert measured.estimate_seconds_per_row == pytest.approx(1e-5)


def test_memory_is_fitted_and_extrapolated_to_the_runs_rows() -> None:
    scaling = {
        "ingest": [{"rows": 10, "file_mb": 1.0, "seconds_per_mb": 0.5, "lake_bytes_per_row": 900.0}],
        "estimation": [
            {"rows": 10_000, "modelwatch_cached_run_seconds": 1.0, "modelwatch_cached_run_peak_rss_mb": 500.0 + 10.0},
            {"rows": 1_000_000, "modelwatch_cached_run_seconds": 2.0, "modelwatch_cached_run_peak_rss_mb": 1500.0},
        ],
    }
    measured = measured_from_results(scaling)
    assert measured.estimate_memory_fixed_mb == pytest.approx(500.0)
    assert measured.estimate_memory_mb_per_row == pytest.approx(1e-3)
    deployment = Deployment(lookback_days=14, estimate_memory_mb=3008, incremental=False)
    assert estimate_peak_memory_mb(Workload(100_000), measured, deployment) == pytest.approx(500.0 + 1_400.0)
    report = cost_report(measured, deployment, tiers=(100_000, 1_000_000))
    fits = [(t["fits_estimate_memory"], t["fits_lambda_max_memory"]) for t in report["tiers"]]
    assert fits == [(True, True), (False, False)]  # 1.9 GB fits; 14.5 GB fits nowhere
    # re-estimating only the changed chunks (two hours' rows) fits at 1M/day: 500 + 2 x 41.7 MB
    incremental = replace(deployment, incremental=True)
    assert estimate_peak_memory_mb(Workload(1_000_000), measured, incremental) == pytest.approx(500.0 + 2e6 / 24e3)
    assert estimate_peak_memory_mb(Workload(1), MEASURED, deployment) is None  # not measured
    # with batches of at most 300,000 rows, a run holds one batch (14 days of 100,000 a day: 1.4M rows), but never
    # less than a chunk (an hour of 24M a day: 1M rows), nor more than its rows (two hours of 1M a day)
    batched = replace(deployment, batch_rows=300_000)
    assert estimate_peak_memory_mb(Workload(100_000), measured, batched) == pytest.approx(500.0 + 300.0)
    assert estimate_peak_memory_mb(Workload(24_000_000), measured, batched) == pytest.approx(500.0 + 1_000.0)
    small = replace(batched, incremental=True)
    assert estimate_peak_memory_mb(Workload(1_000_000), measured, small) == pytest.approx(500.0 + 2e6 / 24e3)


def test_ingest_compute_follows_capture_megabytes_and_files() -> None:
    workload = Workload(3_000_000, rows_per_request=3, capture_bytes_per_request=2_000)  # 2,000 MB/day
    deployment = Deployment(ingest_memory_mb=1024, capture_files_min_per_hour=12, capture_file_max_mb=64)
    assert capture_files_per_hour(workload, deployment) == 12  # 83 MB/hour -> 2 files by size, floor 12
    cost = modelwatch_monthly(workload, MEASURED, deployment)
    expected = (12 * 24 * 0.1 + 2_000 * 0.01) * 1.0 * DAYS_PER_MONTH
    assert _item(cost, "Lambda", "ingest compute").quantity == pytest.approx(expected)


def test_large_traffic_rolls_more_capture_files() -> None:
    workload = Workload(100_000_000, rows_per_request=1, capture_bytes_per_request=1_000)  # 100 GB/day
    assert capture_files_per_hour(workload, Deployment(capture_file_max_mb=64)) == math.ceil(100_000 / 24 / 64)
    assert capture_files_per_hour(Workload(0), Deployment()) == 0


def test_step_functions_and_requests_scale_with_runs() -> None:
    cost = modelwatch_monthly(Workload(10_000), MEASURED, Deployment(runs_per_day=24, transitions_per_run=7))
    transitions = _item(cost, "Step Functions", "state transitions")
    assert transitions.quantity == 24 * 7 * DAYS_PER_MONTH
    assert transitions.monthly_usd == pytest.approx(24 * 7 * 30 * 0.025 / 1000)
    assert _item(cost, "CloudWatch", "alarms").monthly_usd == pytest.approx(0.20)
    assert _item(cost, "EventBridge", "S3 object events").monthly_usd == 0.0


def test_cost_grows_with_traffic_and_total_is_the_sum() -> None:
    costs = [modelwatch_monthly(Workload(n), MEASURED) for n in (10_000, 1_000_000, 100_000_000)]
    assert costs[0].total < costs[1].total < costs[2].total
    for cost in costs:
        assert cost.total == pytest.approx(sum(i.monthly_usd for i in cost.items))
        assert sum(cost.by_service().values()) == pytest.approx(cost.total)


def test_sagemaker_jobs_are_instance_hours_times_price() -> None:
    cost = sagemaker_monitor_monthly(10_000, jobs_per_hour=2, billed_minutes_per_job=10)
    assert cost.total == pytest.approx(HOURS_PER_MONTH * 2 * 10 / 60 * 0.23)
    one_job = sagemaker_monitor_monthly(10_000, jobs_per_hour=1, billed_minutes_per_job=10)
    assert one_job.total == pytest.approx(cost.total / 2)


def test_metric_series_per_model_counts_every_dimension_set() -> None:
    assert metric_series_per_model() == 2 * 5 + 2 + 1 + 3 + 6
    assert metric_series_per_model(7, missing_rate_features=0, drift_count=False, operational=0) == 7 * 6
    assert (
        metric_series_per_model(
            1, kinds_per_metric=1, alert_series=False, drift_count=False, missing_rate_features=0, operational=0
        )
        == 1
    )


def test_success_path_of_the_monitor_state_machine() -> None:
    asl = json.loads((ROOT / "statemachines" / "monitor.asl.json").read_text())
    path = success_path_transitions(asl)
    assert path[0] == asl["StartAt"]
    assert all(name in asl["States"] for name in path)
    assert asl["States"][path[-1]].get("Type") == "Succeed" or asl["States"][path[-1]].get("End")
    assert "RecordFailure" not in path


def test_success_path_follows_choices_and_detects_loops() -> None:
    asl = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Next": "B"}], "Default": "F"},
            "B": {"Type": "Pass", "End": True},
            "F": {"Type": "Fail"},
        },
    }
    assert success_path_transitions(asl) == ["A", "C", "B"]
    with pytest.raises(ValueError, match="loops"):
        success_path_transitions({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}})


def test_linear_fit_recovers_a_line() -> None:
    intercept, slope = linear_fit([(1e4, 1.0 + 2e-5 * 1e4), (1e5, 1.0 + 2e-5 * 1e5), (1e6, 1.0 + 2e-5 * 1e6)])
    assert intercept == pytest.approx(1.0)
    assert slope == pytest.approx(2e-5)
    assert linear_fit([(10.0, 5.0)]) == (0.0, 0.5)
    assert linear_fit([(2_400.0, 0.8), (12_000.0, 0.7)]) == (pytest.approx(0.75), 0.0)  # noise, not a speed-up
    with pytest.raises(ValueError):
        linear_fit([])


def test_models_makespan_runs_in_waves_of_the_concurrency() -> None:
    assert models_makespan(10.0, 1, 40) == 10.0
    assert models_makespan(10.0, 40, 40) == 10.0
    assert models_makespan(10.0, 41, 40, overhead_seconds=2.0) == 22.0
    assert models_makespan(10.0, 0, 40) == 0.0


def test_cost_table_has_a_column_per_breakdown_and_names_the_dominant_item() -> None:
    low = modelwatch_monthly(Workload(10_000), MEASURED, label="10k/day")
    sagemaker = sagemaker_monitor_monthly(10_000, label="SageMaker")
    table = cost_table([low, sagemaker])
    lines = table.splitlines()
    assert lines[0] == "| service | item | 10k/day | SageMaker |"
    assert f"**${low.total:,.2f}**" in table and f"**${sagemaker.total:,.2f}**" in table
    assert lines[-1].startswith("| dominant item | | CloudWatch: custom metrics | SageMaker:")


def test_prices_describe_every_price() -> None:
    rows = Prices().describe()
    assert len(rows) == len(Prices.__dataclass_fields__)
    assert ("CloudWatch custom metric", "$0.30 per metric-month (first 10,000)") in rows
    assert replace(Prices(), cloudwatch_metric_month=0.1).cloudwatch_metric_month == 0.1


def test_cloudwatch_metrics_are_priced_in_tiers() -> None:
    from benchmarks.cost_model import cloudwatch_metrics_monthly

    assert cloudwatch_metrics_monthly(100) == pytest.approx(30.0)
    assert cloudwatch_metrics_monthly(12_000) == pytest.approx(10_000 * 0.30 + 2_000 * 0.10)


def test_a_fleet_of_100_models_with_30_features_costs_no_more_than_model_monitor() -> None:
    from benchmarks.cost_model import data_quality_series, fleet_report

    # Given the shipped data-quality metrics (two Model Monitor families per feature) for 30 features
    assert data_quality_series(2) == metric_series_per_model() + 2 * 30 + 3 + 1
    # When a fleet of 100 such models is priced at 100,000 inferences a day each
    fleet = fleet_report(MEASURED, Deployment(), inferences_per_day=100_000)
    # Then every metric profile, the default included, costs no more than Model Monitor's jobs
    assert [p["cheaper"] for p in fleet["profiles"]] == [True, True, True]
    default = fleet["profiles"][1]
    assert default["fleet_series"] == 100 * data_quality_series(2)


def test_profile_report_prices_each_profile_and_shares_the_stack_in_the_fleet() -> None:
    # Given series per monitor for two profiles and ten operational series
    from benchmarks.cost_model import cloudwatch_metrics_monthly, profile_report

    series = {"lean": {"performance": 4, "drift": 4}, "full": {"performance": 10, "drift": 70}}
    report = profile_report(MEASURED, Deployment(), series, operational=10, models=100)
    lean, full = report["profiles"]

    # Then each profile's model pays its series at list price, lean less than full
    assert lean["series_per_model"] == 18 and full["series_per_model"] == 90
    assert lean["model_custom_metrics_usd"] == round(18 * Prices().cloudwatch_metric_month, 2)
    assert lean["model_usd"] < full["model_usd"]
    # And the fleet pays its series at the tiered price and less than 100 models each with a stack of its own
    assert lean["fleet_usd"] < 100 * lean["model_usd"]
    assert lean["fleet_usd"] >= cloudwatch_metrics_monthly(18 * 100)


def test_series_count_runs_the_monitors_publish_per_profile() -> None:
    # Given the benchmark's model with every monitor on (counted by the monitors' own publish code)
    from benchmarks.series_count import counts

    found = counts()

    # Then every monitor sends something under both profiles, lean never more than full, and the per-feature
    # data-quality and attribution series (30 features) only under full
    lean, full = found["profiles"]["lean"], found["profiles"]["full"]
    assert set(lean) == set(full) == {"performance", "drift", "data_quality", "bias", "attribution"}
    assert all(0 < lean[m] <= full[m] for m in lean)
    assert full["data_quality"] - lean["data_quality"] >= found["features"]
    assert full["attribution"] - lean["attribution"] >= found["features"]
    assert found["alarm_metrics_per_model"] >= found["alarms_per_model"] > 0


def test_segment_series_are_what_publishing_sends_for_each_segment() -> None:
    # Given the benchmark's model with one segment column (segments: [{column: f0, top: 5}]) under each profile
    from benchmarks.series_count import chunk_rows, model, segment_labels, segment_series_by_monitor, with_segments

    for profile in MetricsProfile:
        config = with_segments(model(profile), top=5)
        labels = segment_labels(config)
        counted = segment_series_by_monitor(profile, top=5)

        # Then the segments are the real slices: the column's five top values and `other`
        assert len(labels) == 6 and labels[-1] == segment_label("f0", OTHER)
        # And each segmentable monitor's count is the distinct series its publish sends for every segment's rows
        # (with the Segment dimension, detail points only under full); the others send none per segment
        for name in configured(config):
            monitor = monitor_for(name, config)
            if not monitor.segmentable:
                assert name not in counted
                continue
            rows = [r for r in chunk_rows(config) if r.monitor == name]
            sent = set()
            for label in labels:
                points = segment_publication(monitor.publish(rows, {}), label).points
                kept = [p for p in points if profile is MetricsProfile.FULL or not p.detail]
                assert all((DIM_SEGMENT, segment_dimension(label)) in p.dimensions for p in kept)
                sent |= {(p.namespace, p.metric_name, p.dimensions) for p in kept}
            assert counted[name] == len(sent) > 0, (profile, name)
        assert set(counted) == {"performance", "drift"}
        # And a column with its top two values (three segments) sends half as many: (top + 1) x per segment
        fewer = segment_series_by_monitor(profile, top=2)
        assert {m: 2 * n for m, n in fewer.items()} == counted


def test_profile_report_prices_a_segment_column_on_top_of_each_profile() -> None:
    # Given two profiles' series and what one segment column (top 5 and other: 6 segments) adds to each
    from benchmarks.cost_model import cloudwatch_metrics_monthly, profile_report

    series = {"lean": {"performance": 4, "drift": 4}, "full": {"performance": 10, "drift": 7}}
    segments = {"top": 5, "values": 6, "profiles": {"lean": {"performance": 24, "drift": 24}, "full": {"drift": 24}}}
    report = profile_report(MEASURED, Deployment(), series, operational=10, models=100, segments=segments)
    lean, full = report["profiles"]

    # Then each profile's model pays the segment series at list price on top of its own month
    assert (lean["segment_series"], lean["segment_series_per_value"]) == (48, 8)
    assert lean["segment_custom_metrics_usd"] == round(48 * Prices().cloudwatch_metric_month, 2)
    assert math.isclose(lean["model_with_segments_usd"], lean["model_usd"] + 14.40, abs_tol=0.01)
    assert full["segment_series"] == 24
    # And the fleet pays them at CloudWatch's tiered price on top of its other series
    added = cloudwatch_metrics_monthly((18 + 48) * 100) - cloudwatch_metrics_monthly(18 * 100)
    assert math.isclose(lean["fleet_with_segments_usd"], lean["fleet_usd"] + added, abs_tol=0.01)
    assert report["segments"] == {"top": 5, "values": 6}
