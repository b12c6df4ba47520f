"""The run's HTML report: nannyml's plots (estimated vs realized, drift of the top features) in one offline file."""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from typing import Any

from modelwatch.observability import logger


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


THRESHOLD_COLOUR = "#DD4040"  # nannyml's own threshold colour (its single-result plots)


def _add_thresholds(figure: Any, result: Any) -> None:
    """Dashed threshold lines across the chunks: nannyml's comparison plot draws alerts but not the thresholds."""
    import math

    frame = result.to_df()
    x = [frame[("chunk", "start_date")].min(), frame[("chunk", "end_date")].max()]
    columns = [c for c in frame.columns if c[1] in ("lower_threshold", "upper_threshold")]
    drawn = 0
    for column in columns:
        values = frame[column].dropna()
        if values.empty or not math.isfinite(float(values.iloc[0])):
            continue
        figure.add_scatter(
            x=x,
            y=[float(values.iloc[0])] * 2,
            mode="lines",
            name="Threshold",
            legendgroup="thresh",
            showlegend=drawn == 0,
            hoverinfo="skip",
            line={"color": THRESHOLD_COLOUR, "dash": "dash", "width": 2},
        )
        drawn += 1


def _compare_plot(estimated: Any, realized: Any) -> Any:
    figure = estimated.compare(realized).plot()
    _add_thresholds(figure, estimated)
    return figure


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
    model: str,
    run_id: str,
    generated_at: str,
    metrics: list[str],
    estimated: Any,
    realized: Any | None,
    realized_metrics: set[str],
    drift_result: Any | None,
    top_features: list[str],
    summary: dict[str, Any],
    alerts: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
) -> str:
    """A self-contained HTML page (plotly.js embedded once) readable offline."""
    sections: list[str] = []
    embedded: list[bool] = []
    for metric in metrics:
        est = estimated.filter(period="analysis", metrics=[metric])
        if realized is not None and metric in realized_metrics:
            real = realized.filter(period="analysis", metrics=[metric])
            compare = partial(_compare_plot, est, real)
            sections.append(_figure_html(compare, f"{metric}: estimated vs realized", embedded))
        else:
            sections.append(_figure_html(est.plot, f"{metric}: estimated", embedded))
    if drift_result is not None and top_features:
        drift = drift_result.filter(column_names=top_features)
        sections.append(_figure_html(lambda: drift.plot(kind="drift"), "Drift of the top features", embedded))
    facts = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
    )
    alert_table = _table(
        alerts, ["metric", "kind", "chunk_start", "chunk_end", "value", "lower_threshold", "upper_threshold"]
    )
    skipped_table = _table(skipped, ["start", "end", "rows", "reason"])
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
