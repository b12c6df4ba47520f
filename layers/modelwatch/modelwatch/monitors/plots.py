"""Plot pieces monitors draw their report sections with (plotly, imported only when a report is rendered)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

THRESHOLD_COLOUR = "#DD4040"
ESTIMATED_COLOUR = "#3b0280"
REALIZED_COLOUR = "#3b82c4"
ALERT_COLOUR = "#DD4040"
FEATURE_COLOURS = ("#3b0280", "#3b82c4", "#2a9d8f", "#e9c46a", "#f4a261", "#8d99ae")
# Every plot of a report is drawn with this plotly template, which the page defines once (`page_script`): a figure
# carrying its own copy costs a validated deep copy to build and ~8 KB of HTML per plot.
TEMPLATE = "plotly_white"
_PLOT_FUNCTION = "modelwatchPlot"


def new_figure(data: Any = None, layout: dict[str, Any] | None = None) -> Any:
    """A plotly figure without plotly's default template (the report's page applies TEMPLATE to every plot)."""
    import plotly.graph_objects as go

    return go.Figure(data=data, layout={"template": {}, **(layout or {})})


@cache
def page_script() -> str:
    """The page's script drawing every `fragment`: TEMPLATE once, then each plot with it (nothing without plotly)."""
    import plotly.io as pio
    from plotly.io.json import to_json_plotly

    template = to_json_plotly(pio.templates[TEMPLATE].to_plotly_json())
    return (
        f"<script>var modelwatchTemplate={template};"
        f"function {_PLOT_FUNCTION}(id,data,layout){{if(!window.Plotly||!document.getElementById(id))return;"
        "layout.template=modelwatchTemplate;Plotly.newPlot(id,data,layout,{responsive:true})}</script>"
    )


def fragment(figure: Any, element_id: str) -> str:
    """`figure` as a plot's HTML (a div and the call that draws it into the div), for a page with `page_script`."""
    from plotly.io.json import to_json_plotly

    figure_dict = figure.to_plotly_json()
    layout = figure_dict.get("layout", {})
    layout.pop("template", None)
    height = layout.get("height")
    element = html.escape(element_id, quote=True)
    style = f"height:{height}px; width:100%;" if isinstance(height, int | float) else "height:100%; width:100%;"
    return (
        f'<div id="{element}" class="plotly-graph-div" style="{style}"></div>'
        f'<script>{_PLOT_FUNCTION}("{element}",{to_json_plotly(figure_dict.get("data", []))},'
        f"{to_json_plotly(layout)})</script>"
    )


def finite(values: Any) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def threshold_lines(figure: Any, x: list[Any], rows: pd.DataFrame) -> None:
    """Dashed lines across the chunks at the thresholds (fixed at fit time: the first chunk's are everyone's)."""
    drawn = 0
    for column in ("lower_threshold", "upper_threshold"):
        values = finite(rows[column].dropna().head(1))
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


def alert_markers(figure: Any, rows: pd.DataFrame, name: str, size: int = 10, **marker: Any) -> None:
    """Open diamonds on the chunks of `rows` in alert (nothing when none is)."""
    alerts = rows.loc[rows["alert"]]
    if len(alerts):
        figure.add_scatter(
            x=[t.isoformat() for t in alerts["chunk_start"]],
            y=alerts["value"].tolist(),
            mode="markers",
            name=name,
            marker={"color": ALERT_COLOUR, "size": size, "symbol": "diamond-open", **marker},
        )


@dataclass(frozen=True)
class Section:
    """One titled section of a run's report: a plotly figure built on demand (a failing plot never fails the run)."""

    title: str
    figure: Callable[[], Any]
