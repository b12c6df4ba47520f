"""The run's HTML report, drawn from the results table: performance (estimated vs realized, confidence band,
thresholds, alerts) per metric and the drift of the top features, in one offline file (plotly.js embedded once)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from modelwatch.config.model import ModelConfig
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED
from modelwatch.monitors.drift import MONITOR as DRIFT
from modelwatch.monitors.nml import DRIFT_METHOD
from modelwatch.monitors.performance import MONITOR as PERFORMANCE
from modelwatch.observability import logger

if TYPE_CHECKING:
    import pandas as pd

THRESHOLD_COLOUR = "#DD4040"
ESTIMATED_COLOUR = "#3b0280"
REALIZED_COLOUR = "#3b82c4"
ALERT_COLOUR = "#DD4040"
FEATURE_COLOURS = ("#3b0280", "#3b82c4", "#2a9d8f", "#e9c46a", "#f4a261", "#8d99ae")


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


def _finite(values: Any) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _threshold_lines(figure: Any, x: list[Any], rows: pd.DataFrame) -> None:
    """Dashed lines across the chunks at the thresholds (fixed at fit time: the first chunk's are everyone's)."""
    drawn = 0
    for column in ("lower_threshold", "upper_threshold"):
        values = _finite(rows[column].dropna().head(1))
        if not values:
            continue
        figure.add_scatter(
            x=[x[0], x[-1]],
            y=[values[0]] * 2,
            mode="lines",
            name="Threshold",
            legendgroup="thresh",
            showlegend=drawn == 0,
            hoverinfo="skip",
            line={"color": THRESHOLD_COLOUR, "dash": "dash", "width": 2},
        )
        drawn += 1


def performance_figure(metric: str, rows: pd.DataFrame) -> Any:
    """Estimated (with its confidence band) and, where labelled, realized values of one metric per chunk."""
    import plotly.graph_objects as go

    estimated = rows.loc[rows["kind"] == KIND_ESTIMATED].sort_values("chunk_start")
    realized = rows.loc[rows["kind"] == KIND_REALIZED].sort_values("chunk_start")
    x = [t.isoformat() for t in estimated["chunk_start"]]
    figure = go.Figure()
    upper = estimated["upper_confidence_boundary"].tolist()
    lower = estimated["lower_confidence_boundary"].tolist()
    if _finite(upper) and _finite(lower):
        figure.add_scatter(x=x, y=upper, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        figure.add_scatter(
            x=x,
            y=lower,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(59, 2, 128, 0.15)",
            name="Confidence band",
            hoverinfo="skip",
        )
    figure.add_scatter(
        x=x, y=estimated["value"].tolist(), mode="lines+markers", name="Estimated", line={"color": ESTIMATED_COLOUR}
    )
    if len(realized):
        figure.add_scatter(
            x=[t.isoformat() for t in realized["chunk_start"]],
            y=realized["value"].tolist(),
            mode="lines+markers",
            name="Realized",
            line={"color": REALIZED_COLOUR},
        )
    if x:
        _threshold_lines(figure, x, estimated)
    alerts = rows.loc[rows["alert"]]
    if len(alerts):
        figure.add_scatter(
            x=[t.isoformat() for t in alerts["chunk_start"]],
            y=alerts["value"].tolist(),
            mode="markers",
            name="Alert",
            marker={"color": ALERT_COLOUR, "size": 11, "symbol": "diamond-open", "line": {"width": 2}},
        )
    title = f"Estimated performance ({metric})"
    if len(realized):
        title = f"Estimated performance vs Realized performance ({metric})"
    figure.update_layout(
        title=title, xaxis_title="Chunk start (UTC)", yaxis_title=metric, template="plotly_white", height=420
    )
    return figure


def drift_figure(rows: pd.DataFrame, features: list[str]) -> Any:
    """Jensen-Shannon distance of the top features per chunk, with each feature's threshold and alerts."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for index, feature in enumerate(features):
        mine = rows.loc[rows["feature"] == feature].sort_values("chunk_start")
        colour = FEATURE_COLOURS[index % len(FEATURE_COLOURS)]
        x = [t.isoformat() for t in mine["chunk_start"]]
        figure.add_scatter(x=x, y=mine["value"].tolist(), mode="lines+markers", name=feature, line={"color": colour})
        thresholds = _finite(mine["upper_threshold"].dropna().head(1))
        if thresholds and x:
            figure.add_scatter(
                x=[x[0], x[-1]],
                y=[thresholds[0]] * 2,
                mode="lines",
                name=f"{feature} threshold",
                line={"color": colour, "dash": "dash", "width": 1},
                hoverinfo="skip",
            )
        alerts = mine.loc[mine["alert"]]
        if len(alerts):
            figure.add_scatter(
                x=[t.isoformat() for t in alerts["chunk_start"]],
                y=alerts["value"].tolist(),
                mode="markers",
                name=f"{feature} alert",
                marker={"color": ALERT_COLOUR, "size": 10, "symbol": "diamond-open"},
            )
    figure.update_layout(
        title="Drift: Jensen-Shannon distance from the reference",
        xaxis_title="Chunk start (UTC)",
        yaxis_title="Jensen-Shannon distance",
        template="plotly_white",
        height=420,
    )
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
    config: ModelConfig,
    run_id: str,
    generated_at: str,
    table: pd.DataFrame,
    top_features: list[str],
    summary: dict[str, Any],
    alerts: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
) -> str:
    """A self-contained HTML page (plotly.js embedded once) readable offline."""
    sections: list[str] = []
    embedded: list[bool] = []
    performance = table.loc[table["monitor"] == PERFORMANCE]
    for metric in config.metrics:
        rows = performance.loc[performance["metric"] == metric]
        labelled = bool((rows["kind"] == KIND_REALIZED).any())
        title = f"{metric}: estimated vs realized" if labelled else f"{metric}: estimated"
        sections.append(_figure_html(partial(performance_figure, metric, rows), title, embedded))
    drift = table.loc[(table["monitor"] == DRIFT) & (table["metric"] == DRIFT_METHOD)]
    if len(drift) and top_features:
        sections.append(_figure_html(partial(drift_figure, drift, top_features), "Drift of the top features", embedded))
    facts = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
    )
    alert_table = _table(
        alerts, ["metric", "kind", "chunk_start", "chunk_end", "value", "lower_threshold", "upper_threshold"]
    )
    skipped_table = _table(skipped, ["start", "end", "rows", "reason"])
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
