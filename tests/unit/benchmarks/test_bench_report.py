"""BENCHMARKS.md generation: only the marked block changes, failed sections say so, tables are well formed."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import BEGIN, END, e2e_section, render, table, update_markdown


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
