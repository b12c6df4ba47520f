"""The run's HTML report, drawn from the results table: a summary, the alerts, the skipped chunks, then each
monitor's sections (`Monitor.report`), in one offline file (plotly.js embedded once)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelwatch.config.model import ModelConfig
from modelwatch.monitors import configured, monitor_for
from modelwatch.observability import logger

if TYPE_CHECKING:
    import pandas as pd


def _figure_html(build: Callable[[], Any], title: str, embedded: list[bool]) -> str:
    """One plot as an HTML fragment; plotly.js is embedded with the first plot that renders."""
    try:
        figure = build()
        body = figure.to_html(full_html=False, include_plotlyjs=not embedded)
        embedded.append(True)
    except Exception as exc:  # a plot must never fail the run; say so in the report instead
        logger.warning("report plot failed", plot=title, error=str(exc))
        return f"<h2>{html.escape(title)}</h2><p>plot unavailable: {html.escape(str(exc))}</p>"
    return f"<h2>{html.escape(title)}</h2>{body}"


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
) -> str:
    """A self-contained HTML page (plotly.js embedded once) readable offline; chunks whose realized values were
    skipped and monitors that failed are listed only when there are any."""
    sections: list[str] = []
    embedded: list[bool] = []
    for name in configured(config):
        for section in monitor_for(name, config).report(table, summaries.get(name, {})):
            sections.append(_figure_html(section.figure, section.title, embedded))
    facts = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
    )
    alert_table = _table(
        alerts, ["metric", "kind", "chunk_start", "chunk_end", "value", "lower_threshold", "upper_threshold"]
    )
    skipped_table = _table(skipped, ["start", "end", "rows", "reason"])
    if realized_skipped:
        skipped_table += "<h2>Realized values skipped</h2>" + _table(
            realized_skipped, ["start", "end", "rows", "reason"]
        )
    if failed_monitors:
        skipped_table += "<h2>Monitors failed</h2>" + _table(failed_monitors, ["monitor", "error", "cause"])
    model = config.name
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>modelwatch report: {html.escape(model)} {html.escape(run_id)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head><body>"
        f"<h1>modelwatch: {html.escape(model)}</h1><p>run {html.escape(run_id)}, generated {html.escape(generated_at)}"
        f"</p><table>{facts}</table><h2>Alerts</h2>{alert_table}<h2>Skipped chunks</h2>{skipped_table}"
        + "".join(sections)
        + "</body></html>"
    )
