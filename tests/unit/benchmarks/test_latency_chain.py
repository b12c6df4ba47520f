"""The capture-to-alarm chain on paper (#15 item 6): hops carry their basis, totals add up, measurements are used."""

from __future__ import annotations

from benchmarks.latency_chain import DOCUMENTED, MEASURED, run_from
from benchmarks.report import latency_section


def test_chain_totals_are_the_sum_of_its_hops_and_model_monitor_is_beside_it() -> None:
    # Given no measurements (every measured hop falls back to a stated default)
    found = run_from({})

    # Then the p95 is the sum of the hops' p95 budgets, each hop says where its figures come from, and the
    # documented hops cite AWS documentation
    assert found["pipeline_p95_seconds"] == round(sum(h["p95"] for h in found["hops"]), 1)
    assert all(h["p50"] <= h["p95"] and h["basis"] and h["source"] for h in found["hops"])
    assert all(
        h["source"].startswith("https://docs.aws.amazon.com/") for h in found["hops"] if h["basis"] == DOCUMENTED
    )
    assert not [h for h in found["hops"] if h["basis"] == MEASURED]
    # And detection waits for the chunk (lateness) on our side, for the schedule's delay and the job on Model Monitor's
    mm = found["model_monitor"]
    assert found["modelwatch_after_chunk_close_p95_seconds"] > found["lateness_seconds"]
    assert mm["after_hour_close_p95_seconds"] > mm["start_delay_p95_seconds"] + mm["job_seconds"]


def test_measured_function_times_and_imports_replace_the_defaults() -> None:
    # Given this run's end-to-end, cold start and memory sections
    results = {
        "e2e": {"function_seconds": {"IngestCaptureFunction": 0.2, "AnalyseFunction": 1.5, "PublishFunction": 0.1}},
        "coldstart": {"handlers": [{"function": "ingest_capture", "import_seconds_median": 0.9}]},
        "memory": {
            "configs": {
                "estimation": {"performance": {"import_seconds_median": 1.0, "nannyml_import_seconds_median": 4.0}}
            }
        },
    }

    # Then the hops that use them say so and carry the figures
    hops = {h["name"]: h for h in run_from(results)["hops"]}
    analyse = hops["Analyse: the monitors' steps and Assemble (cold image)"]
    assert analyse["basis"] == MEASURED and analyse["p50"] == 1.5 and analyse["p95"] == 1.5 + 5.0
    assert (
        hops["ingest Lambda cold start"]["basis"] == MEASURED and hops["ingest Lambda cold start"]["p95"] == 0.2 + 0.9
    )


def test_latency_section_renders_the_chain_and_the_comparison() -> None:
    text = latency_section(run_from({}))
    assert "### Capture to alarm on AWS, on paper" in text
    assert "S3 object created -> EventBridge" in text and "Model Monitor" in text
    assert "0-20 minutes" in text
