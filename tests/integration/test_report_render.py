"""The run's HTML report renders in headless Chromium (skipped without `chromium`; `make check-report` installs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.report_render import (
    DISTRIBUTIONS,
    MONITOR_SECTIONS,
    WINDOW,
    RenderResult,
    Report,
    build_report,
    check_dom,
    check_people,
    check_screenshot,
    find_chromium,
    render_and_check,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return build_report(tmp_path_factory.mktemp("lake"))


def test_report_renders_with_every_plot_drawn(report: Report, tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not on PATH (make check-report installs Debian's chromium and runs this check)")

    result = render_and_check(report, chromium, tmp_path / "report.png")

    assert result.problems == []
    assert result.plots == len(report.plot_titles)  # one per metric, then the drift and data-quality sections
    assert (tmp_path / "report.png").is_file()


def test_report_written_for_the_check_has_realized_and_drift_plots(report: Report) -> None:
    # The run labels three of six chunks: every metric compares estimated with realized, and drift names features;
    # drift and data quality draw their sections after the metrics, the distributions of a degraded chunk among them
    assert report.realized_metrics == report.metrics
    assert report.source_plots == len(report.metrics) + len(MONITOR_SECTIONS)
    assert report.plot_titles[len(report.metrics)] == "Drift of the top features"
    assert any(t.startswith(DISTRIBUTIONS + "2026-") for t in report.plot_titles)
    assert len(report.top_features) == 3
    # and every comparison plot carries the metric's thresholds (nannyml's comparison plot draws none by itself)
    graphs = report.path.read_text(encoding="utf-8").split('class="plotly-graph-div"')[1:]
    assert all(graph.count('"name":"Threshold"') == 2 for graph in graphs[: len(report.metrics)])


def test_dom_check_rejects_the_page_before_plotly_ran(report: Report) -> None:
    # The written HTML, as a browser without scripts would leave it: plot containers but nothing drawn
    _, problems = check_dom(report.path.read_text(encoding="utf-8"), report)

    assert problems == [f"0 plotly graphs drawn (js-plotly-plot), expected {len(report.plot_titles)}"]


def test_dom_check_rejects_an_empty_plot(report: Report) -> None:
    drawn = (
        '<h2>{title}</h2><div class="plotly-graph-div js-plotly-plot"><svg class="main-svg">'
        '<text class="gtitle">Estimated performance (CBPE) vs. Realized performance</text>'
        '<g class="legend"><text>Threshold</text>{features}</g>{line}</svg></div>'
    )
    line = '<path class="js-line" d="M0,10L100,20"></path>'
    features = "".join(f"<text>{f}</text>" for f in report.top_features)
    pages = [drawn.format(title=t, features=features, line=line) for t in report.plot_titles]
    assert check_dom("".join(pages), report)[1] == []

    pages[1] = drawn.format(title=report.plot_titles[1], features="", line="")
    _, problems = check_dom("".join(pages), report)

    assert problems == [f"{report.plot_titles[1]}: no line, bar, heatmap or table cell drawn (empty plot)"]


@pytest.mark.parametrize(
    "mark",
    [
        '<g class="hm"><image href="data:image/png;base64,AAAA"></image></g>',
        '<g class="trace bars"><g class="point"><path d="M0,10V20H5V10Z"></path></g></g>',
        '<g class="table"><text class="cell-text">data_type_check</text></g>',
    ],
    ids=["heatmap", "bar", "table"],
)
def test_dom_check_counts_heatmaps_bars_and_tables_as_drawn(report: Report, mark: str) -> None:
    # Given a page where one plot draws no line but a heatmap, bars or a table (and one where it draws nothing)
    drawn = (
        '<h2>{title}</h2><div class="plotly-graph-div js-plotly-plot"><svg class="main-svg">'
        '<text class="gtitle">Estimated performance (CBPE) vs. Realized performance</text>'
        '<g class="legend"><text>Threshold</text>{features}</g>{mark}</svg></div>'
    )
    features = "".join(f"<text>{f}</text>" for f in report.top_features)
    line = '<path class="js-line" d="M0,10L100,20"></path>'
    last = len(report.plot_titles) - 1
    marks = [line] * last
    pages = [
        drawn.format(title=t, features=features, mark=m)
        for t, m in zip(report.plot_titles, [*marks, mark], strict=True)
    ]
    empty = [*pages[:last], drawn.format(title=report.plot_titles[last], features=features, mark="<g></g>")]

    # Then the one with the mark passes and the empty one does not
    assert check_dom("".join(pages), report)[1] == []
    assert check_dom("".join(empty), report)[1] == [
        f"{report.plot_titles[last]}: no line, bar, heatmap or table cell drawn (empty plot)"
    ]


@pytest.mark.parametrize("colour", [(255, 255, 255), (250, 250, 250)])
def test_screenshot_check_rejects_a_blank_page(colour: tuple[int, int, int], tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "blank.png"
    Image.new("RGB", WINDOW, colour).save(png)
    result = RenderResult(report=tmp_path / "report.html", screenshot=png)

    check_screenshot(png, result)

    assert result.colours == 1
    assert len(result.problems) == 3
    assert all("blank" in p or "lower half" in p for p in result.problems)


def test_people_check_passes_the_published_report_and_rejects_raw_numbers_and_no_headline(report: Report) -> None:
    # Given the check's report as publishing left it (#20): a verdict headline, rounded tables, plotly.js shared
    page = report.path.read_text(encoding="utf-8")
    assert check_people(page, report) == []
    assert report.path.stat().st_size < 1_000_000 and report.folder is not None
    assert (report.folder / "index.html").is_file() and len(list(report.folder.glob("plotly-*.min.js"))) == 1
    # When a cell carries full precision and the headline is missing, Then both are named
    tampered = page.replace("id='verdict'", "id='other'").replace("</td>", "</td><td>0.9123456789</td>", 1)
    problems = check_people(tampered, report)
    assert len(problems) == 3  # the headline differs, is not a verdict, and one cell is unrounded
    assert "1 table cells with more than 4 decimals" in problems[2]
