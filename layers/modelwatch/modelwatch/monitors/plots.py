"""Plot pieces monitors draw their report sections with (plotly, imported only when a report is rendered)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

THRESHOLD_COLOUR = "#DD4040"
ESTIMATED_COLOUR = "#3b0280"
REALIZED_COLOUR = "#3b82c4"
ALERT_COLOUR = "#DD4040"
FEATURE_COLOURS = ("#3b0280", "#3b82c4", "#2a9d8f", "#e9c46a", "#f4a261", "#8d99ae")


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
