"""The fleet benchmark's arithmetic: per-model failures from the fleet's output, counts scaled against the quotas."""

from __future__ import annotations

from collections import Counter

from benchmarks.fleet_bench import QUOTAS, summarise
from benchmarks.report import fleet_run_section


def _summary(**overrides: object) -> dict:
    arguments: dict = {
        "wall_seconds": 10.0,
        "setup_seconds": 1.0,
        "function_seconds": {"AnalyseFunction": 8.0},
        "fleet_status": "SUCCEEDED",
        "output": {
            "models": 4,
            "runs": [{"models": 4, "statuses": {"started": 3, "no_data": 1}, "started": ["a", "b", "c"], "failed": []}],
        },
        "monitor_statuses": Counter({"SUCCEEDED": 3}),
        "invocations": Counter(
            {
                "ListModelsFunction": 1,
                "StartMonitorFunction": 1,
                "PrepareRunFunction": 3,
                "AnalyseFunction": 12,
                "PublishFunction": 3,
            }
        ),
        "calls": Counter(
            {
                ("stepfunctions", "StartExecution"): 3,
                ("cloudwatch", "PutMetricData"): 8,
                ("dynamodb", "Query"): 30,
                ("s3", "GetObject"): 9,
            }
        ),
        "datapoints": 40,
        "history_events": 17,
        "listed_bytes": 200,
        "batch_size": 25,
        "map_concurrency": 10,
    }
    arguments.update(overrides)
    return summarise(4, **arguments)


def test_a_clean_run_has_no_failures_and_scales_counts_to_a_thousand_models() -> None:
    summary = _summary()
    assert summary["per_model_failures"] == 0 and summary["failed_models"] == []
    assert summary["fleet_statuses"] == {"no_data": 1, "started": 3}
    assert summary["start_execution_calls"] == 3 and summary["dynamodb_calls"] == 30
    extra = summary["extrapolation"]
    assert extra["start_execution_calls"] == 750 and extra["put_metric_data_requests"] == 2000
    by_key = {q["key"]: q for q in extra["quotas"]}
    assert set(by_key) == {q.key for q in QUOTAS}
    # 40 batches of 25, 10 at once, against 10,000 parallel children
    assert by_key["map_children"]["need_value"] == 10 and by_key["map_children"]["headroom"] == 1000
    # 10 batches at once, each at most 10 starts a second: 100/s against the smallest Regions' 150/s refill
    assert by_key["start_execution"]["need_value"] == 100 and not by_key["start_execution"]["binds"]
    # 4 Analyse calls per run (3 monitors at once, then the assembly): 3,000 concurrent against 1,000: binds
    assert by_key["lambda_concurrency"]["need_value"] == 3000 and by_key["lambda_concurrency"]["binds"]
    assert all(q["url"].startswith("https://") for q in extra["quotas"])


def test_every_kind_of_failure_counts_per_model() -> None:
    output = {
        "models": 6,
        "runs": [
            {
                "models": 3,
                "statuses": {"failed": 1, "started": 2},
                "started": ["a", "b"],
                "failed": [{"model": "c", "error": "WorkflowError", "cause": "x"}],
            },
            {"batch": ["d", "e"], "status": "failed", "error": "States.Timeout", "cause": "y"},
        ],
    }
    summary = _summary(output=output, monitor_statuses=Counter({"SUCCEEDED": 1, "FAILED": 1}))
    # one failed model, a failed batch of two, one Monitor run that failed
    assert summary["per_model_failures"] == 4
    assert summary["failed_models"] == ["c", "d", "e"]


def test_the_report_names_each_quota_with_its_page_and_marks_what_binds() -> None:
    text = fleet_run_section(_summary())
    assert text.startswith("### Fleet")
    for quota in QUOTAS:
        assert quota.url in text and quota.limit in text
    assert text.count("**binds**") == 1
    assert fleet_run_section({"error": "RuntimeError: boom"}).endswith("Not measured: RuntimeError: boom")
