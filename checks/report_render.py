"""The run's HTML report renders in a real browser: headless Chromium draws every plot, and its screenshot is not blank.

Runs `run_monitor` on a small real run (nannyml's synthetic car loan data, CBPE, six hourly chunks of which the first
three are labelled, so estimated and realized both show, plus the drift and data-quality sections), writes the report
to a temporary lake, then opens it offline in headless Chromium twice:
1. `--dump-dom` after the page's scripts ran (`--virtual-time-budget`): every plot of the report is a drawn plotly
   graph (`js-plotly-plot` with its `main-svg` layers, at least one drawn mark: a line, a bar, a heatmap or a table
   cell; a title), the section titles, metric names and top features are on the page, and no plot says
   "unavailable";
2. `--screenshot` at 1400x2000: the PNG has many distinct colours and enough non-white pixels, in the plot area too.
Before rendering, the run's verdict is decided as the publish step decides it (the model's incidents, none stored
before) and written as publishing writes it (the report's headline, the model's and the fleet's index pages). The
check asserts (#20) the headline on the rendered page, numbers rounded for people in the page's tables (no value
with more than MAX_DECIMALS decimals), and the size: the report loads the folder's one shared plotly.js and is under
MAX_REPORT_BYTES.
The screenshot is kept at `checks/.out/report.png` (gitignored) and its path printed. Needs `chromium` on PATH
(`make check-report` installs Debian's package when it is missing).
"""

from __future__ import annotations

import argparse
import html as html_module
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from checks._common import ROOT
from modelwatch.constants import LAKE_REPORTS

OUT = ROOT / "checks" / ".out"
SCREENSHOT = OUT / "report.png"
WINDOW = (1400, 2000)
HOURS = 6
LABELLED_HOURS = 3
RUN_ID = "report-render-check"
VIRTUAL_TIME_MS = 10_000
CHROMIUM_TIMEOUT_S = 90
# Flags for a root, screenless machine whose network is closed (no sandbox, no GPU, no background fetches).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)
# A rendered report: a white page with tables, lines, bands and text; a blank or failed render has a few colours.
MAX_REPORT_BYTES = 1_000_000  # a report (plotly.js shared per folder, not embedded)
MAX_DECIMALS = 4  # in the page's tables: full precision stays in results.parquet
MIN_COLOURS = 32
MIN_INK_SHARE = 0.03  # share of non-white pixels over the whole screenshot
MIN_PLOT_INK_SHARE = 0.02  # the same over the lower half, where the plots are (above: summary and alert tables)
WHITE_LEVEL = 245
# The drift and data-quality sections every report of the check's run shows, after the performance plots (#14); the
# distributions' title ends with the degraded chunk's start.
DRIFT_TOP = "Drift of the top features"
DISTRIBUTIONS = "Distributions of the top features: reference vs. the chunk of "
MONITOR_SECTIONS = (
    DRIFT_TOP,
    "Drift of every feature",
    "Multivariate drift (PCA reconstruction error)",
    "Prediction statistics per chunk",
    DISTRIBUTIONS,
    "Data quality: constraint violations (Model Monitor's checks)",
    "Data quality: nannyml's calculators (features with alerts)",
)
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


@dataclass(frozen=True)
class Report:
    """A report written by `run_monitor` and what it must show."""

    path: Path
    plot_titles: list[str]  # the report's section headings, one per plot
    metrics: list[str]
    realized_metrics: list[str]
    top_features: list[str]
    source_plots: int  # plotly graph divs in the written HTML
    headline: str = ""  # the verdict publishing wrote into the report
    folder: Path | None = None  # the lake's reports folder (the shared plotly.js, the index pages)


@dataclass
class Plot:
    """What one rendered plotly graph holds in the DOM."""

    main_svgs: int = 0
    drawn_lines: int = 0
    drawn_marks: int = 0  # lines, bars, heatmap images and table cells
    titles: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


@dataclass
class RenderResult:
    """The check's findings: problems (empty when the report renders) and what was measured."""

    report: Path
    screenshot: Path
    plots: int = 0
    colours: int = 0
    ink_share: float = 0.0
    plot_ink_share: float = 0.0
    problems: list[str] = field(default_factory=list)


def build_report(folder: Path) -> Report:
    """A real monitor run over nannyml's car loan data (six hours, three labelled); returns its report."""
    import pandas as pd

    from modelwatch.analysis import RunRequest, run_monitor
    from modelwatch.clock import to_utc
    from modelwatch.lake.store import LocalStore
    from tests.unit.analysis.cases import ANALYSIS_START, LATE, binary_case_data

    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = binary_case_data()
        start = to_utc(ANALYSIS_START.to_pydatetime())
        labelled_until = pd.Timestamp(start + timedelta(hours=LABELLED_HOURS))
        labelled_ids = case.captures.loc[case.captures["inference_time"] < labelled_until, "inference_id"]
        labels = case.labels[case.labels["inference_id"].isin(set(labelled_ids))]
        request = RunRequest(case.config.name, RUN_ID, window_start=start, window_end=start + timedelta(hours=HOURS))
        outcome = run_monitor(case.config, case.reference, case.captures, labels, request, LocalStore(folder), LATE)
    if outcome.report_uri is None or outcome.chunks_analysed != HOURS:
        raise RuntimeError(f"the run analysed {outcome.chunks_analysed} chunks and wrote no report")
    path = Path(outcome.report_uri)
    headline = publish_verdict(case.config, outcome, LocalStore(folder), start + timedelta(hours=HOURS))
    html = path.read_text(encoding="utf-8")
    realized = [m for m in case.config.metrics if f"{m}: estimated vs realized" in html]
    titles = [f"{m}: estimated vs realized" if m in realized else f"{m}: estimated" for m in case.config.metrics]
    degraded = html.split(DISTRIBUTIONS, 1)[1].split("<", 1)[0] if DISTRIBUTIONS in html else "(no degraded chunk)"
    sections = [f"{DISTRIBUTIONS}{degraded}" if t == DISTRIBUTIONS else t for t in MONITOR_SECTIONS]
    return Report(
        path=path,
        plot_titles=[*titles, *[html_module.unescape(t) for t in sections]],
        metrics=list(case.config.metrics),
        realized_metrics=realized,
        top_features=list(outcome.top_features),
        source_plots=html.count('class="plotly-graph-div"'),
        headline=headline,
        folder=folder / LAKE_REPORTS,
    )


def publish_verdict(config: Any, outcome: Any, store: Any, now: Any) -> str:
    """The run's verdict as the publish step decides it (no incident stored before) and its pages as publishing
    writes them: the report's headline and the index pages; returns the headline."""
    from modelwatch.lake.layout import results_key
    from modelwatch.monitors.results import read_results
    from modelwatch.publishing.alerting import views_by_kind
    from modelwatch.publishing.datapoints import candidates
    from modelwatch.publishing.incidents import KINDS, decide
    from modelwatch.publishing.pages import verdict_from_incidents, write_pages
    from modelwatch.publishing.service import RunOutcomeView

    rows = read_results(store.get(results_key(config.name, outcome.run_id)))
    found = candidates(config, rows, RunOutcomeView.model_validate(outcome.to_dict()).summaries())
    views = views_by_kind(config, rows, found)
    documents = {}
    for kind in KINDS:
        decision = decide(config, kind, None, views[kind], now, outcome.run_id)
        if decision.document is not None:
            documents[kind] = decision.document
    verdict = verdict_from_incidents(config.name, outcome.run_id, documents, outcome.chunks_analysed, now)
    write_pages(store, verdict, lambda: [config.name])
    return verdict.text


class _PlotParser(HTMLParser):
    """Walks a rendered DOM and records, for every `js-plotly-plot` element, its SVG layers, lines and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.plots: list[Plot] = []
        self.headings: list[str] = []
        self._depth = 0
        self._plot_depth: int | None = None
        self._in_title = False
        self._in_h2 = False
        self._in_heatmap: int | None = None
        self._in_point: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if tag not in VOID_TAGS:
            self._depth += 1
        if tag == "h2":
            self._in_h2 = True
        if self._plot_depth is None and "js-plotly-plot" in classes:
            self._plot_depth = self._depth
            self.plots.append(Plot())
        if self._plot_depth is None:
            return
        plot = self.plots[-1]
        if tag == "svg" and "main-svg" in classes:
            plot.main_svgs += 1
        drawn = len(values.get("d") or "") > 4
        if tag == "path" and "js-line" in classes and drawn:
            plot.drawn_lines += 1
            plot.drawn_marks += 1
        if tag == "g" and "point" in classes:
            self._in_point = self._depth
        if tag == "path" and self._in_point is not None and drawn and "js-line" not in classes:
            plot.drawn_marks += 1  # a bar (or a marker)
        if tag == "g" and "hm" in classes:
            self._in_heatmap = self._depth
        if tag == "image" and self._in_heatmap is not None and values.get("href", values.get("xlink:href")):
            plot.drawn_marks += 1
        if tag == "text" and "cell-text" in classes:
            plot.drawn_marks += 1
        if tag == "text" and "gtitle" in classes:
            self._in_title = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        if self._plot_depth is not None and self._depth == self._plot_depth:
            self._plot_depth = None
        if self._in_point == self._depth:
            self._in_point = None
        if self._in_heatmap == self._depth:
            self._in_heatmap = None
        self._depth -= 1
        if tag == "text":
            self._in_title = False
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text:
            return
        if self._in_h2 and self._plot_depth is None:
            self.headings.append(text)
        if self._plot_depth is not None:
            self.plots[-1].text.append(text)
            if self._in_title:
                self.plots[-1].titles.append(text)


def check_dom(dom: str, report: Report) -> tuple[list[Plot], list[str]]:
    """Every plot of the report drawn by plotly.js, with its titles and names; returns the plots and problems."""
    parser = _PlotParser()
    parser.feed(dom)
    parser.close()
    plots = parser.plots
    problems: list[str] = []
    expected = len(report.plot_titles)
    if report.source_plots != expected:
        problems.append(f"the report holds {report.source_plots} plotly graphs, expected {expected}")
    if len(plots) != expected:
        problems.append(f"{len(plots)} plotly graphs drawn (js-plotly-plot), expected {expected}")
    for title in report.plot_titles:
        if title not in parser.headings:
            problems.append(f"section title missing from the rendered page: {title!r}")
    if "plot unavailable" in dom:
        problems.append("the report says a plot is unavailable")
    for index, plot in enumerate(plots):
        name = report.plot_titles[index] if index < expected else f"plot {index + 1}"
        if plot.main_svgs < 1:
            problems.append(f"{name}: no main-svg drawn")
        if plot.drawn_marks < 1:
            problems.append(f"{name}: no line, bar, heatmap or table cell drawn (empty plot)")
        if not plot.titles:
            problems.append(f"{name}: no figure title drawn")
    for index, metric in enumerate(report.metrics[: len(plots)]):
        text = " ".join(plots[index].text)
        title = " ".join(plots[index].titles)
        if "Estimated performance" not in title:
            problems.append(f"{metric}: figure title {title!r} is not nannyml's estimated performance title")
        if metric in report.realized_metrics and "Realized performance" not in title:
            problems.append(f"{metric}: figure title {title!r} does not compare with realized performance")
        if "Threshold" not in text:
            problems.append(f"{metric}: no threshold in the legend")
    if len(plots) == expected:
        for index, title in enumerate(report.plot_titles):
            if title == DRIFT_TOP or title.startswith(DISTRIBUTIONS):
                drawn = " ".join(plots[index].text)
                missing = [f for f in report.top_features if f not in drawn]
                problems.extend(f"{title}: top feature {f!r} not drawn" for f in missing)
    return plots, problems


_CELL = re.compile(r"<t[dh][^>]*>([^<]*)</t[dh]>")
_LONG_DECIMAL = re.compile(rf"\d\.\d{{{MAX_DECIMALS + 1},}}")
_HEADLINE = re.compile(r"id=\"?'?verdict\"?'?[^>]*>([^<]*)<")


def check_people(dom: str, report: Report) -> list[str]:
    """What #20 asks of the page: the verdict headline, rounded numbers in its tables, and its size."""
    problems: list[str] = []
    found = _HEADLINE.search(dom)
    drawn = html_module.unescape(found.group(1)) if found else ""
    if not report.headline or drawn != report.headline:
        problems.append(f"headline {drawn!r} on the page, expected the run's verdict {report.headline!r}")
    if not drawn.startswith(("DEGRADED since ", "IMPROVED since ", "OK: ", "NO DATA: ")):
        problems.append(f"headline {drawn!r} does not start with a verdict")
    long = [cell for cell in _CELL.findall(dom) if _LONG_DECIMAL.search(cell)]
    if long:
        problems.append(f"{len(long)} table cells with more than {MAX_DECIMALS} decimals, e.g. {long[0]!r}")
    size = report.path.stat().st_size
    if size >= MAX_REPORT_BYTES:
        problems.append(f"the report is {size:,} bytes (>= {MAX_REPORT_BYTES:,})")
    if report.folder is not None:
        shared = sorted(report.folder.glob("plotly-*.min.js"))
        if len(shared) != 1:
            problems.append(f"{len(shared)} shared plotly.js files in {report.folder}, expected 1")
        for name in ("index.html", f"model={report.path.parent.parent.name.removeprefix('model=')}/index.html"):
            if not (report.folder / name).is_file():
                problems.append(f"no index page {name} next to the reports")
    return problems


def check_screenshot(png: Path, result: RenderResult) -> None:
    """The screenshot is the window's size, colourful and inked (the lower half, where the plots are, too)."""
    from PIL import Image

    with Image.open(png) as opened:
        image = opened.convert("RGB")
    if image.size != WINDOW:
        result.problems.append(f"screenshot is {image.size}, expected {WINDOW}")
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    result.colours = len(colours)
    result.ink_share = _ink_share(image)
    result.plot_ink_share = _ink_share(image.crop((0, image.height // 2, image.width, image.height)))
    if result.colours < MIN_COLOURS:
        result.problems.append(f"screenshot has {result.colours} distinct colours (< {MIN_COLOURS}): blank?")
    if result.ink_share < MIN_INK_SHARE:
        result.problems.append(f"screenshot is {result.ink_share:.1%} non-white (< {MIN_INK_SHARE:.0%}): blank?")
    if result.plot_ink_share < MIN_PLOT_INK_SHARE:
        result.problems.append(
            f"lower half of the screenshot is {result.plot_ink_share:.1%} non-white (< {MIN_PLOT_INK_SHARE:.0%})"
        )


def _ink_share(image: Any) -> float:
    grey = image.convert("L")
    histogram = grey.histogram()
    return sum(histogram[:WHITE_LEVEL]) / (grey.width * grey.height)


def _chromium(chromium: str, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on the page with a fresh, empty profile."""
    with tempfile.TemporaryDirectory(prefix="modelwatch-chromium-") as profile:
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={VIRTUAL_TIME_MS}",
            *args,
            page.as_uri(),
        ]
        result = subprocess.run(  # noqa: S603 - fixed argv, a local file
            command, capture_output=True, text=True, check=False, timeout=CHROMIUM_TIMEOUT_S
        )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise RuntimeError(f"chromium exited {result.returncode}: {tail}")
    return result


def find_chromium() -> str | None:
    """The Chromium executable on PATH (Debian's package installs `chromium`)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_report_render(screenshot: Path = SCREENSHOT, chromium: str | None = None) -> RenderResult:
    """Build a report, render it headless (DOM and screenshot); the result lists every problem found."""
    executable = chromium or find_chromium()
    if executable is None:
        raise RuntimeError("chromium not found on PATH (make check-report installs it)")
    with tempfile.TemporaryDirectory(prefix="modelwatch-report-") as folder:
        return render_and_check(build_report(Path(folder)), executable, screenshot)


def render_and_check(report: Report, chromium: str, screenshot: Path) -> RenderResult:
    """Render a written report headless: check its DOM after the scripts ran, then screenshot it and check the PNG."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    result = RenderResult(report=report.path, screenshot=screenshot)
    dom = _chromium(chromium, report.path, "--dump-dom").stdout
    plots, problems = check_dom(dom, report)
    result.plots = len(plots)
    result.problems.extend(problems)
    result.problems.extend(check_people(dom, report))
    screenshot.unlink(missing_ok=True)
    _chromium(chromium, report.path, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={screenshot}")
    if not screenshot.is_file():
        result.problems.append(f"chromium wrote no screenshot at {screenshot}")
    else:
        check_screenshot(screenshot, result)
    return result


def main(argv: list[str] | None = None) -> int:
    """Print the screenshot's path and one line per problem; exit 1 when there is any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, default=SCREENSHOT, help="where to save the PNG")
    parser.add_argument("--chromium", default=None, help="Chromium executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    try:
        result = check_report_render(args.screenshot, args.chromium)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"report render: {exc}", file=sys.stderr)
        return 1
    for problem in result.problems:
        print(f"report render: {problem}", file=sys.stderr)
    print(f"report render: screenshot {result.screenshot}")
    if result.problems:
        return 1
    print(
        f"report render: OK: {result.plots} plots drawn; screenshot {result.colours} colours, "
        f"{result.ink_share:.1%} non-white ({result.plot_ink_share:.1%} in the plot half)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
