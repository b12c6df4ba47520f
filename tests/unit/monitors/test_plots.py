"""Report plots: every figure is drawn with the one template the page defines, and carries no copy of it."""

from __future__ import annotations

import json
import re

import plotly.io as pio

from modelwatch.monitors.plots import TEMPLATE, fragment, new_figure, page_script


def _call(html: str) -> tuple[str, list[dict], dict]:
    element, data, layout = re.fullmatch(
        r'<div id="([^"]+)" class="plotly-graph-div" style="[^"]*"></div><script>modelwatchPlot\("\1",(.*),(\{.*\})\)'
        r"</script>",
        html,
    ).groups()  # type: ignore[union-attr]
    return element, json.loads(data), json.loads(layout)


def test_a_plot_carries_its_data_and_layout_but_not_the_template() -> None:
    # Given a figure with a trace, a title and a height
    figure = new_figure()
    figure.add_scatter(x=[1, 2], y=[0.5, 0.25], name="Threshold")
    figure.update_layout(title="Drift", height=420)

    # When it is written as a plot of the page
    element, data, layout = _call(fragment(figure, "plot-3"))

    # Then the call draws it into its own div, and the template is the page's, not the figure's
    assert element == "plot-3"
    assert data == [{"name": "Threshold", "x": [1, 2], "y": [0.5, 0.25], "type": "scatter"}]
    assert layout["title"] == {"text": "Drift"} and layout["height"] == 420
    assert "template" not in layout
    assert 'style="height:420px; width:100%;"' in fragment(figure, "plot-3")


def test_the_page_defines_the_reports_template_once_and_applies_it_to_every_plot() -> None:
    script = page_script()

    defined = re.search(r"var modelwatchTemplate=(\{.*?\});function", script)
    assert defined is not None
    assert json.loads(defined.group(1)) == pio.templates[TEMPLATE].to_plotly_json()
    assert "layout.template=modelwatchTemplate;Plotly.newPlot(id,data,layout" in script


def test_text_from_the_data_cannot_close_the_script() -> None:
    figure = new_figure()
    figure.add_bar(x=["</script><script>alert(1)</script>"], y=[1])

    assert "</script><script>alert" not in fragment(figure, "plot-1")
