"""BENCHMARKS.md generation: only the marked block changes, failed sections say so, tables are well formed."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import BEGIN, END, e2e_section, profiles_section, render, table, update_markdown


def test_update_markdown_replaces_only_the_generated_block(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Title\n\nintro\n\n{BEGIN}\n\nold tables\n\n{END}\n\n## After\n\nhand-written\n")
    update_markdown(path, "new tables")
    text = path.read_text()
    assert "old tables" not in text and "new tables" in text
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith("## After\n\nhand-written\n")
    update_markdown(path, "newer")
    assert path.read_text().count(BEGIN) == 1


def test_update_markdown_appends_a_block_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    update_markdown(path, "tables")
    assert path.read_text() == f"# Benchmarks\n\n{BEGIN}\n\ntables\n\n{END}\n"


def test_table_formats_cells_and_alignment() -> None:
    text = table(("a", "b", "c", "d"), [(1234, 0.5, True, None), ("x", 12.345, False, "y")], "lrll")
    assert text.splitlines() == [
        "| a | b | c | d |",
        "| --- | ---: | --- | --- |",
        "| 1,234 | 0.500 | yes | - |",
        "| x | 12.3 | **no** | y |",
    ]


def test_failed_sections_render_as_not_measured() -> None:
    failed = {"error": "RuntimeError: boom"}
    results = {
        "machine": {"date": "2026-01-01 00:00", "cpu_model": "cpu"},
        "decode": failed,
        "estimation": failed,
        "fairness": failed,
        "e2e": failed,
        "coldstart": failed,
        "scaling": failed,
        "cost": failed,
    }
    text = render(results, plot=None)
    assert text.count("Not measured: RuntimeError: boom") == 7
    assert "### Machine" in text


def test_e2e_row_without_a_time_carries_its_reason() -> None:
    text = e2e_section(
        {
            "metric_published_seconds": 1.5,
            "notification_seconds": None,
            "notification_seconds_reason": "no alert",
            "alarm_notification_seconds": None,
            "alarm_notification_seconds_reason": "no alarm transition",
            "function_seconds": {"EstimateFunction": 1.0},
        }
    )
    assert "not measured: no alert" in text and "not measured: no alarm transition" in text
    assert "**not met**" in text  # the alarm was not measured, so the goal cannot be claimed


def test_the_profiles_section_prices_a_segment_column() -> None:
    # Given a profile report with one segment column (top 5 and other) counted beside each profile
    from benchmarks.cost_model import Deployment, Measured, profile_report

    measured = Measured(ingest_seconds_per_mb=0.01, estimate_seconds_fixed=2.0, estimate_seconds_per_row=1e-5)
    segments = {"top": 5, "values": 6, "profiles": {"lean": {"performance": 24, "drift": 24}}}
    profiles = profile_report(measured, Deployment(), {"lean": {"performance": 4}}, 10, segments=segments)
    profiles.update(operational=["RecordsDecoded"], alarms_per_model=1, alarm_metrics_per_model=1, features=30)

    # When the cost section's profile part is rendered
    text = profiles_section(profiles)

    # Then it states the formula and a row with the series (6 segments x 8) and their price per model
    (lean,) = profiles["profiles"]
    assert "series = (top + 1) x series per segment" in text
    row = next(line for line in text.splitlines() if line.startswith("| lean | 24 | 24 |"))
    assert f"| 48 (6 x 8) | ${lean['segment_custom_metrics_usd']:,.2f} |" in row


def test_the_memory_section_shows_the_big_hour_against_the_functions_limits() -> None:
    from benchmarks.report import memory_section

    step = {
        "import_seconds_median": 0.5,
        "nannyml_import_seconds_median": 2.0,
        "rss_after_import_mb": 91.0,
        "rss_after_nannyml_mb": 340.0,
        "peak_rss_mb": 404.0,
        "step_seconds_median": 0.2,
        "baseline": "hit",
        "loaded": ["nannyml"],
    }
    memory = {
        "configs": {"estimation": {"performance": step}},
        "repeats": 3,
        "rows": "2,400 rows",
        "goal_fixed_mb": 500.0,
        "fixed_mb": 404.0,
        "goal_met": True,
        "big_hour": {
            "rows": 4_200_000,
            "reference_rows": 50_000,
            "features": 30,
            "memory_mb": 3008,
            "timeout_seconds": 900,
            "goal_met": False,
            "labelled": True,
            "batch_rows": 2_000_000,
            "day_old_labels": 4_200_000,
            "environment": {"ARROW_DEFAULT_MEMORY_POOL": "system"},
            "surrogate_sampling": {
                "sampled": {"rows": 381_819, "faithfulness": 0.9955, "seconds": 18.5},
                "all": {"rows": 4_200_000, "faithfulness": 0.9957, "seconds": 78.3},
                "ndcg": 1.0,
                "same_order": True,
            },
            "steps": {
                "performance": {
                    "chunks_analysed": 2,
                    "peak_rss_mb": 2900.0,
                    "step_seconds": 40.0,
                    "fits_memory": True,
                    "fits_timeout": True,
                },
                "drift": {"peak_rss_mb": 6100.5, "step_seconds": 95.0, "fits_memory": False, "fits_timeout": True},
            },
        },
    }
    text = memory_section(memory)
    assert "One hour of a model at 100M inferences a day (4,200,000 rows, 30 features" in text
    assert "| drift |  | 6,100.5 | 95.0 | **no** | yes |" in text
    assert "| performance | 2 (0) | 2,900.0 | 40.0 | yes | yes |" in text
    assert "within the Analyse function's 3,008 MB" in text and "**not met**" in text
    assert "every monitor on" in text and "the monitors that read labels analyse both hours" in text
    assert "one batch of whole chunks of at most 2,000,000 counted rows (here: one hour) at a time" in text
    assert "the labels of an hour of the day before (4,200,000 rows" in text
    assert "with the Analyse function environment (ARROW_DEFAULT_MEMORY_POOL=system)" in text
    assert "so: 381,819 rows (R² 0.9955, 18.5 s), against all 4,200,000 (R² 0.9957, 78.3 s)" in text
    assert "same order of every feature: yes" in text
    failed = memory_section({**memory, "big_hour": {"error": "RuntimeError: killed"}})
    assert "One hour of a model at 100M inferences a day: not measured (RuntimeError: killed)." in failed
