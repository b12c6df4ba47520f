"""Every Clarify bias metric equals smclarify's on the same rows (1e-9), with its divide-by-zero and infinity
conventions, for a categorical and a numeric (threshold) facet."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from smclarify.bias import report

from modelwatch.monitors.clarify import LABEL_FREE, MetricValue, Rows, compute_all, from_json_value, json_value

PRE = ["CDDL", "CI", "DPL", "JS", "KL", "KS", "LP", "TVD"]
POST = ["AD", "CDDPL", "DAR", "DCA", "DCR", "DI", "DPPL", "DRR", "FT", "GE", "RD", "SD", "TE"]


def _chunk(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "clinic": rng.choice(["east", "west", "north"], size=rows, p=[0.3, 0.5, 0.2]),
            "age": rng.uniform(18, 80, size=rows).round(1),
            "income": rng.normal(50, 10, size=rows),
            "group": rng.choice(["g1", "g2", "g3"], size=rows),
        }
    )
    score = 0.02 * (frame["age"] - 40) + 0.05 * (frame["income"] - 50) + (frame["clinic"] == "east") * 0.5
    frame["y_pred"] = (score + rng.normal(0, 0.5, size=rows) > 0).astype("int64")
    frame["y_true"] = (score + rng.normal(0, 0.8, size=rows) > 0).astype("int64")
    return frame


def _smclarify(frame: pd.DataFrame, facet: str, values: list[Any], stage: report.StageType) -> dict[str, MetricValue]:
    """smclarify's report of the chunk: features besides the facet (FT reads them), label and prediction."""
    data = frame[["income", facet] if facet != "income" else [facet]].copy()
    if facet == "clinic":
        data["age"] = frame["age"]
    label = report.LabelColumn("y_true", frame["y_true"], [1])
    predicted = report.LabelColumn("y_pred", frame["y_pred"], [1])
    found = report.bias_report(
        data,
        report.FacetColumn(facet, values),
        label,
        stage,
        predicted if stage is report.StageType.POST_TRAINING else None,
        group_variable=frame["group"],
    )
    (facet_report,) = found
    return {m["name"]: MetricValue(from_json_value(m.get("value")), m.get("error")) for m in facet_report["metrics"]}


def _ours(frame: pd.DataFrame, facet: str, values: list[Any], labelled: bool = True) -> dict[str, MetricValue]:
    if facet == "clinic":
        d = frame[facet].isin(values).to_numpy()
        numeric = frame[["income", "age"]]
    else:
        d = (frame[facet] > float(values[0])).to_numpy()
        numeric = frame[["income"]]
    rows = Rows(
        facet=d,
        predicted=(frame["y_pred"] == 1).to_numpy(),
        label=(frame["y_true"] == 1).to_numpy() if labelled else None,
        group=frame["group"].to_numpy(),
        features=numeric.to_numpy(dtype="float64"),
    )
    return compute_all(PRE + POST, rows)


def _assert_same(ours: dict[str, MetricValue], theirs: dict[str, MetricValue]) -> None:
    for name, expected in theirs.items():
        got = ours[name]
        if expected.value is None:
            assert got.value is None and got.error, (name, got, expected)
        elif math.isinf(expected.value):
            assert got.value == expected.value, (name, got, expected)
        else:
            assert got.value is not None and abs(got.value - expected.value) <= 1e-9, (name, got, expected)


@pytest.mark.parametrize(("facet", "values"), [("clinic", ["east"]), ("age", [40])])
def test_every_metric_equals_smclarify(facet: str, values: list[Any]) -> None:
    # Given a binary model's chunk with a categorical and a numeric facet
    frame = _chunk(600, seed=1)

    # When both compute every pre- and post-training metric
    ours = _ours(frame, facet, values)
    theirs = {
        **_smclarify(frame, facet, values, report.StageType.PRE_TRAINING),
        **_smclarify(frame, facet, values, report.StageType.POST_TRAINING),
    }

    # Then every value is smclarify's
    assert sorted(theirs) == sorted(PRE + POST)
    assert all(v.value is not None for v in theirs.values())
    _assert_same(ours, theirs)


def test_divide_by_zero_and_infinity_conventions_are_smclarify_s() -> None:
    # Given a chunk where facet a's model never predicts negative and facet d never has a false positive
    frame = _chunk(200, seed=2)
    east = frame["clinic"] == "east"
    frame.loc[~east, "y_pred"] = 1
    frame.loc[east & (frame["y_true"] == 0), "y_pred"] = 0

    # When both compute every metric
    ours = _ours(frame, "clinic", ["east"])
    theirs = {
        **_smclarify(frame, "clinic", ["east"], report.StageType.PRE_TRAINING),
        **_smclarify(frame, "clinic", ["east"], report.StageType.POST_TRAINING),
    }

    # Then the infinite and zero-denominator values agree (TE is infinite here, DCR and DRR difference infinities)
    assert any(v.value is not None and math.isinf(v.value) for v in theirs.values())
    _assert_same(ours, theirs)


def test_an_empty_facet_is_an_error_for_every_facet_metric() -> None:
    # Given a chunk without any row of the sensitive value
    frame = _chunk(100, seed=3)

    # When both compute the metrics of a facet value no row has
    ours = _ours(frame, "clinic", ["south"])
    theirs = _smclarify(frame, "clinic", ["south"], report.StageType.POST_TRAINING)

    # Then the facet metrics are errors in both (GE, over every row, still has a value)
    assert ours["DI"].value is None and ours["DI"].error == "facet set is empty"
    assert ours["GE"].value is not None
    _assert_same(ours, theirs)


def test_label_free_metrics_need_no_labels() -> None:
    # Given a chunk without labels
    frame = _chunk(300, seed=4)

    # When the metrics are computed without them
    ours = _ours(frame, "clinic", ["east"], labelled=False)

    # Then the label-free ones have values and the others say they need labels
    assert {n for n, v in ours.items() if v.value is not None} == set(LABEL_FREE)
    assert ours["AD"].error == "AD needs labels"


def test_infinities_are_written_as_clarify_writes_them() -> None:
    assert json_value(math.inf) == "Infinity" and json_value(-math.inf) == "-Infinity" and json_value(0.5) == 0.5
    assert from_json_value("Infinity") == math.inf and from_json_value("-Infinity") == -math.inf
    assert from_json_value(None) is None and from_json_value(0.25) == 0.25
