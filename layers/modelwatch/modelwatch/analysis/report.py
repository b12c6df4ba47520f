"""The run's HTML report, drawn from the results table: a headline slot (the verdict, filled in when the run is
published), a summary, the alerts, the skipped chunks, then each monitor's sections (`Monitor.report`). plotly.js is
not embedded: every report of a lake loads the one shared copy next to them by relative path (`shared_plotly`)."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelwatch.clock import parse_iso, to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.lake.layout import plotly_key, report_key
from modelwatch.lake.reports import HEADLINE_END, HEADLINE_START, PENDING_HEADLINE, STYLE
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors import configured, monitor_for
from modelwatch.monitors.plots import fragment, page_script
from modelwatch.monitors.variants import Comparison, comparison_figure
from modelwatch.monitors.wording import number, numbers_apart, when
from modelwatch.observability import logger

if TYPE_CHECKING:
    import pandas as pd

TIME_AXIS = "Chunk start (UTC)"  # every time axis of the report says this and spans the same window
_ALERT_COLUMNS = (
    ("metric", "metric"),
    ("kind", "value from"),
    ("chunk_start", "chunk start (UTC)"),
    ("chunk_end", "chunk end (UTC)"),
    ("value", "value"),
    ("lower_threshold", "lower threshold"),
    ("upper_threshold", "upper threshold"),
)
_KIND_WORDS = {"estimated": "estimate (no labels needed)", "realized": "labels (realized)"}


def shared_plotly(store: ObjectStore) -> str:
    """The key of the lake's shared plotly.js, written once (every report loads it by relative path)."""
    import plotly
    import plotly.offline

    key = plotly_key(plotly.__version__)
    if not store.exists(key):
        store.put(key, plotly.offline.get_plotlyjs().encode(), "text/javascript; charset=utf-8")
    return key


def relative_to_report(model: str, run_id: str, key: str) -> str:
    """`key` as a relative URL from the run's report (both under the lake's reports folder)."""
    depth = report_key(model, run_id).count("/") - 1  # reports/model=m/run=r/report.html: up to reports/ is ../../
    return "../" * depth + key.split("/", 1)[1]


def _time_window(table: pd.DataFrame) -> tuple[datetime, datetime] | None:
    if not len(table):
        return None
    return table["chunk_start"].min().to_pydatetime(), table["chunk_end"].max().to_pydatetime()


def _figure_html(
    build: Callable[[], Any],
    title: str,
    window: tuple[datetime, datetime] | None,
    element_id: str,
    switches: list[tuple[datetime, str]] | None = None,
) -> str:
    """One plot as an HTML fragment (plotly.js and the plots' template loaded once by the page); time axes span the
    run's window and mark each model version's switch in it."""
    try:
        figure = build()
        if window is not None:
            figure.for_each_xaxis(lambda axis: _same_window(axis, window))
            for at, label in switches or []:
                if window[0] <= at <= window[1]:
                    _mark_switch(figure, at, label)
        body = fragment(figure, element_id)
    except Exception as exc:  # a plot must never fail the run; say so in the report instead
        logger.warning("report plot failed", plot=title, error=str(exc))
        return f"<h2>{html.escape(title)}</h2><p>plot unavailable: {html.escape(str(exc))}</p>"
    return f"<h2>{html.escape(title)}</h2>{body}"


def _mark_switch(figure: Any, at: datetime, label: str) -> None:
    """A dotted line across every time axis at a model version's switch, labelled with the version."""
    for name in [k for k in figure.layout if k.startswith("xaxis")]:
        axis = figure.layout[name]
        if axis.title is None or axis.title.text != TIME_AXIS:
            continue
        ref = "x" + name.removeprefix("xaxis")
        figure.add_shape(
            type="line", xref=ref, yref="paper", x0=at.isoformat(), x1=at.isoformat(), y0=0, y1=1,
            line={"dash": "dot", "width": 1, "color": "#555"},
        )  # fmt: skip
        figure.add_annotation(
            x=at.isoformat(), xref=ref, yref="paper", y=1, text=html.escape(label), showarrow=False, yanchor="bottom"
        )


def _versions_html(config: ModelConfig, table: pd.DataFrame) -> str:
    """The model's versions: when each was live, its reference, its chunks in this window; the pending one."""
    rows = []
    chunks = table.drop_duplicates("chunk_key") if "version" in table.columns and len(table) else table.iloc[0:0]
    for span in config.version_spans():
        mine = chunks.loc[chunks["version"] == span.name] if config.versioned else chunks
        rows.append(
            {
                "version": span.name,
                "from": span.start.isoformat() if span.start else "the start",
                "until": span.end.isoformat() if span.end else "now",
                "reference": span.reference or "none: reported, not estimated",
                "chunks": len(mine),
            }
        )
    pending = config.pending_version
    if pending is not None:
        rows.append(
            {
                "version": pending.name,
                "from": "pending: the endpoint's next update",
                "until": "",
                "reference": pending.reference or "none",
                "chunks": 0,
            }
        )
    columns = [(k, k) for k in ("version", "from", "until", "reference", "chunks")]
    intro = (
        "<p>Chunks never mix versions: the chunk a switch falls in is two partial chunks, each estimated against its "
        "own version's reference (dotted lines in the plots).</p>"
    )
    return f"<h2>Versions</h2>{intro}{table_html(rows, columns)}"


def _same_window(axis: Any, window: tuple[datetime, datetime]) -> None:
    """A time axis (titled TIME_AXIS) shows the whole window, so plots line up chunk for chunk."""
    if axis.title is not None and axis.title.text == TIME_AXIS:
        axis.update(type="date", range=[window[0].isoformat(), window[1].isoformat()])


def _cell(value: Any) -> str:
    """A value for people: numbers rounded (full precision stays in results.parquet), times to the minute."""
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape('' if value is None else str(value))}</td>"
    if isinstance(value, int):
        return f"<td class='num'>{value:,}</td>"
    if isinstance(value, float):
        return f"<td class='num'>{number(float(value))}</td>"
    if isinstance(value, datetime):  # a time as the text ones below (who is hurt hands over datetimes)
        return f"<td>{when(to_utc(value))}</td>"
    text = str(value)
    if len(text) >= 16 and text[4:5] == "-" and text[10:11] == "T":
        try:
            return f"<td>{when(parse_iso(text))}</td>"
        except ValueError:
            pass
    return f"<td>{html.escape(_KIND_WORDS.get(text, text))}</td>"


def table_html(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """Rows as an HTML table: (key, heading) columns, values rounded and worded for people."""
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(heading)}</th>" for _, heading in columns)
    body = "".join("<tr>" + "".join(_row_cells(row, columns)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _row_cells(row: dict[str, Any], columns: list[tuple[str, str]]) -> list[str]:
    """A row's cells; a value and its thresholds rounded alike, never showing a crossing as a tie."""
    shown: dict[str, str] = {}
    value = row.get("value")
    if isinstance(value, float):
        keys = [k for k in ("lower_threshold", "upper_threshold") if isinstance(row.get(k), float)]
        shown = dict(zip(["value", *keys], numbers_apart(value, *(row[k] for k in keys)), strict=True))
    return [f"<td class='num'>{shown[k]}</td>" if k in shown else _cell(row.get(k)) for k, _ in columns]


def _comparison_html(
    config: ModelConfig, comparisons: list[Comparison], window: tuple[datetime, datetime] | None, element_id: str
) -> str:
    """The variants section: each challenger against the champion (verdicts, then the per-chunk differences)."""
    pairs = list(dict.fromkeys((c.verdict.champion, c.verdict.challenger) for c in comparisons))
    title = "Variants: " + "; ".join(f"{challenger} against {champion}" for champion, challenger in pairs)
    items = "".join(f"<li>{html.escape(c.verdict.text())}</li>" for c in comparisons)
    note = (
        f"<p>Each chunk both variants have: challenger minus champion, bars +/- {config.comparison.z:g} standard "
        "errors; a verdict is significant beyond that many standard errors of the mean difference "
        "(`modelwatch compare` shows the numbers).</p>"
    )
    figure = _figure_html(lambda: comparison_figure(comparisons, config.comparison.z), title, window, element_id)
    return figure.replace("</h2>", f"</h2><ul>{items}</ul>{note}", 1)


def _hurt_html(hurt: list[dict[str, Any]]) -> str:
    """Who is hurt: the latest chunk's segments past a performance threshold, furthest first."""
    columns = [
        ("segment", "segment"),
        ("metric", "metric"),
        ("kind", "value from"),
        ("chunk_start", "chunk start (UTC)"),
        ("value", "value"),
        ("threshold", "threshold"),
        ("beyond", "beyond the threshold by"),
    ]
    intro = (
        "<p>Segments (<code>segments:</code> in the model config) whose performance in the latest chunk is past its "
        "threshold, furthest first; each segment is estimated against the reference rows of that segment.</p>"
    )
    return f"<h2>Who is hurt</h2>{intro}{table_html(hurt, columns) if hurt else '<p>no segment in alert</p>'}"


def _facts(summary: dict[str, Any]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in summary.items())
    return f"<table>{cells}</table>"


def render_report(
    *,
    config: ModelConfig,
    run_id: str,
    generated_at: str,
    table: pd.DataFrame,
    summaries: dict[str, dict[str, Any]],
    summary: dict[str, Any],
    alerts: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    realized_skipped: list[dict[str, Any]] | None = None,
    failed_monitors: list[dict[str, Any]] | None = None,
    plotly_src: str = "",
    comparisons: list[Comparison] | None = None,
    hurt: list[dict[str, Any]] | None = None,
) -> str:
    """An HTML page readable offline next to the lake's shared plotly.js (`plotly_src`, relative); chunks whose
    realized values were skipped and monitors that failed are listed only when there are any."""
    sections: list[str] = []
    window = _time_window(table)
    switches = [(s.start, f"version {s.name}") for s in config.version_spans() if s.start and config.versioned]
    for name in configured(config):
        for section in monitor_for(name, config).report(table, summaries.get(name, {})):
            sections.append(_figure_html(section.figure, section.title, window, f"plot-{len(sections) + 1}", switches))
    if config.versions:
        sections.append(_versions_html(config, table))
    if comparisons:
        sections.append(_comparison_html(config, comparisons, window, f"plot-{len(sections) + 1}"))
    if hurt is not None:
        sections.append(_hurt_html(hurt))
    chunk_columns = [("start", "chunk start (UTC)"), ("end", "chunk end (UTC)"), ("rows", "rows"), ("reason", "why")]
    alert_table = table_html(alerts, list(_ALERT_COLUMNS))
    skipped_table = table_html(skipped, chunk_columns)
    if realized_skipped:
        skipped_table += "<h2>Chunks estimated without their labels</h2>" + table_html(realized_skipped, chunk_columns)
    if failed_monitors:
        skipped_table += "<h2>Monitors that failed</h2>" + table_html(
            failed_monitors, [("monitor", "monitor"), ("error", "error"), ("cause", "cause")]
        )
    model = config.name
    script = page_script()
    if plotly_src:
        script = (
            f"<script src='{html.escape(plotly_src)}'></script>"
            "<script>window.addEventListener('DOMContentLoaded',function(){if(!window.Plotly){"
            "document.getElementById('plotly-missing').hidden=false}})</script>" + script
        )
    missing = html.escape(plotly_src.rsplit("/", 1)[-1] or "plotly.js")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>modelwatch report: {html.escape(model)} {html.escape(run_id)}</title>"
        f"<style>{STYLE}</style>{script}</head><body>"
        f"<h1>modelwatch: {html.escape(model)}</h1>{HEADLINE_START}{PENDING_HEADLINE}{HEADLINE_END}"
        f"<p id='plotly-missing' hidden>The plots need {missing} from the reports folder this report belongs to "
        "(open the report inside that folder).</p>"
        f"<p>run {html.escape(run_id)}, generated {html.escape(when(parse_iso(generated_at)))} UTC "
        "(numbers rounded; full precision in the run's results.parquet)</p>"
        f"{_facts(summary)}<h2>Alerts</h2>{alert_table}<h2>Skipped chunks</h2>{skipped_table}"
        + "".join(sections)
        + "</body></html>"
    )
