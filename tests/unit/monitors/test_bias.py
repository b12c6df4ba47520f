"""The bias monitor: Clarify's metrics per facet and chunk (equal to smclarify on the chunk's rows), CBPE's
per-facet estimates (equal to CBPE run directly on each facet's rows), the baseline and the violations."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import nannyml as nml
import pandas as pd
import pytest
from smclarify.bias import report

from modelwatch.analysis import RunRequest
from modelwatch.analysis.run import analyse_monitor
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED
from modelwatch.errors import ReferenceDataError
from modelwatch.lake.store import LocalStore
from modelwatch.monitors import configured, monitor_for
from modelwatch.monitors.bias import BASELINE_DOCUMENT, CLOUDWATCH_INFINITY
from modelwatch.monitors.clarify import from_json_value
from modelwatch.monitors.results import read_results, to_parquet
from tests.unit.monitors import fairness_data as data

FACETS = [("clinic", "east", ["east"]), ("age", "40", [40])]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four hours, half of hour 3's rows labelled and the others fully; the result and the store."""
    config = data.credit_config(bias=data.BIAS)
    frame = data.captures(hours=4)
    labels = pd.concat([data.label_rows(frame.iloc[:1200]), data.label_rows(frame.iloc[1200:], share=0.5)])
    store = LocalStore(tmp_path_factory.mktemp("lake"))
    result = analyse_monitor(
        monitor_for("bias", config),
        data.reference(),
        data.lake_rows(frame),
        labels,
        RunRequest("credit", "r1", input_complete=True),
        store,
        data.LATE,
        signer=data.SIGNER,
    )
    return {"config": config, "frame": frame, "labels": labels, "result": result, "store": store}


def _smclarify(rows: pd.DataFrame, facet: str, values: list[Any]) -> dict[str, float | None]:
    """smclarify's metrics of both stages on `rows` (FT's features: the numeric ones besides facet and group)."""
    numeric = [c for c in ("age", "income", "tenure") if c != facet]
    frame = rows[[*numeric, facet]].copy()
    found: dict[str, float | None] = {}
    for stage in (report.StageType.PRE_TRAINING, report.StageType.POST_TRAINING):
        (facet_report,) = report.bias_report(
            frame,
            report.FacetColumn(facet, values),
            report.LabelColumn("repaid", rows["repaid"].astype("int64"), [1]),
            stage,
            report.LabelColumn("y_pred", rows["y_pred"].astype("int64"), [1]),
            group_variable=rows["clinic"],
        )
        found.update({m["name"]: from_json_value(m.get("value")) for m in facet_report["metrics"]})
    return found


def test_bias_is_configured_only_with_a_bias_section() -> None:
    assert "bias" not in configured(data.credit_config())
    assert "bias" in configured(data.credit_config(bias=data.BIAS))


@pytest.mark.parametrize(("facet", "value", "values"), FACETS)
def test_realized_metrics_equal_smclarify_on_the_chunk_rows(run: dict[str, Any], facet, value, values) -> None:
    # Given the fully labelled first hour, as smclarify sees it
    table = run["result"].table
    first = run["frame"].iloc[:400]
    expected = _smclarify(first, facet, values)

    # When the monitor analysed it
    mine = table.loc[
        (table["chunk_start"] == table["chunk_start"].min())
        & (table["facet"] == facet)
        & (table["facet_value"] == value)
        & (table["kind"] == KIND_REALIZED)
    ].set_index("metric")["value"]

    # Then every metric is smclarify's
    assert set(expected) <= set(mine.index)
    for name, theirs in expected.items():
        assert theirs is not None and abs(mine[name] - theirs) <= 1e-9, (name, mine[name], theirs)


def test_label_free_metrics_use_every_row_and_the_others_the_labelled_rows(run: dict[str, Any]) -> None:
    # Given hour 3, with half its rows labelled
    table = run["result"].table
    last = table.loc[(table["chunk_start"] == table["chunk_start"].max()) & (table["facet"] == "clinic")]
    rows = run["frame"].iloc[1200:]
    labelled = rows.iloc[:200]

    # Then DI is smclarify's on every row, AD on the labelled ones
    realized = last.loc[last["kind"] == KIND_REALIZED].set_index("metric")["value"]
    assert abs(realized["DI"] - _smclarify(rows, "clinic", ["east"])["DI"]) <= 1e-9  # type: ignore[operator]
    assert abs(realized["AD"] - _smclarify(labelled, "clinic", ["east"])["AD"]) <= 1e-9  # type: ignore[operator]
    assert set(last["label_coverage"]) == {0.5}


def _direct_cbpe(reference: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """nannyml's CBPE fitted on the reference rows and estimating the chunk rows as they are."""
    estimator = nml.CBPE(
        problem_type="classification_binary",
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="repaid",
        metrics=["accuracy", "recall", "specificity", "precision"],
        chunk_number=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(reference[["y_pred_proba", "y_pred", "repaid"]])
        return estimator.estimate(rows[["y_pred_proba", "y_pred"]]).filter(period="analysis").to_df()


@pytest.mark.parametrize(("facet", "value", "values"), FACETS)
def test_estimated_facet_metrics_equal_cbpe_on_each_facet_s_rows(run: dict[str, Any], facet, value, values) -> None:
    # Given CBPE fitted on each facet group's reference rows, estimating the group's rows of the second hour
    reference = data.reference()
    hour = run["frame"].iloc[400:800]

    def sensitive(frame: pd.DataFrame) -> pd.Series:
        return frame[facet].isin(values) if facet == "clinic" else frame[facet] > values[0]

    table = run["result"].table
    second = table.loc[
        (table["chunk_start"] == sorted(table["chunk_start"].unique())[1])
        & (table["facet"] == facet)
        & (table["kind"] == KIND_ESTIMATED)
    ].set_index("metric")
    for group, select in (("a", lambda f: ~sensitive(f)), ("d", sensitive)):
        direct = _direct_cbpe(reference.loc[select(reference)], hour.loc[select(hour)])
        for metric in ("accuracy", "recall", "specificity", "precision"):
            # Then value and sampling error are CBPE's
            assert second.loc[f"{metric}_{group}", "value"] == pytest.approx(direct[(metric, "value")].iloc[0], 1e-12)
            assert second.loc[f"{metric}_{group}", "sampling_error"] == pytest.approx(
                direct[(metric, "sampling_error")].iloc[0], rel=1e-12
            )
    # And the Clarify differences are the facets' differences, with the errors combined
    ad = second.loc["AD"]
    assert ad["value"] == pytest.approx(second.loc["accuracy_a", "value"] - second.loc["accuracy_d", "value"], 1e-12)
    assert ad["sampling_error"] == pytest.approx(
        math.hypot(second.loc["accuracy_a", "sampling_error"], second.loc["accuracy_d", "sampling_error"])
    )
    sd = second.loc["SD"]
    assert sd["value"] == pytest.approx(
        second.loc["specificity_d", "value"] - second.loc["specificity_a", "value"], 1e-12
    )


def test_estimates_are_checked_against_realized_values_when_labels_land(run: dict[str, Any]) -> None:
    table = run["result"].table
    both = table.loc[(table["metric"] == "AD") & (table["facet"] == "clinic")].pivot(
        index="chunk_start", columns="kind", values="value"
    )
    errors = table.loc[(table["metric"] == "AD") & (table["facet"] == "clinic"), "estimation_error"]
    assert len(both) == 4 and both.notna().all().all()
    assert errors.tolist()[:2] == pytest.approx((both[KIND_ESTIMATED] - both[KIND_REALIZED]).tolist()[:1] * 2)


def test_the_baseline_is_clarify_s_analysis_of_the_reference_as_json(run: dict[str, Any]) -> None:
    # Given the baseline document next to the cached baseline
    store: LocalStore = run["store"]
    document = json.loads(store.get(f"models/credit/bias/{BASELINE_DOCUMENT}"))

    # Then it has Clarify's shape, the numeric facet as its interval, and smclarify's values on the reference
    post = document["post_training_bias_metrics"]
    assert post["label"] == "repaid" and post["label_value_or_threshold"] == "1"
    (age,) = post["facets"]["age"]
    assert age["value_or_threshold"].startswith("(40.0, ")
    reference = data.reference()
    expected = _smclarify(reference, "clinic", ["east"])
    (clinic,) = document["pre_training_bias_metrics"]["facets"]["clinic"]
    assert {m["name"]: m["value"] for m in clinic["metrics"]}["CI"] == pytest.approx(expected["CI"], abs=1e-12)
    assert store.exists(f"models/credit/bias/{BASELINE_DOCUMENT}.json")  # its manifest


def test_violations_are_clarify_s_and_published_with_clarify_s_dimensions(run: dict[str, Any]) -> None:
    # Given the analysed rows, with a violation where a value is farther from neutral than the baseline's
    result = run["result"]
    table = result.table
    di = table.loc[(table["metric"] == "DI") & (table["facet"] == "clinic")].iloc[0]
    assert di["lower_threshold"] <= 1 <= di["upper_threshold"]  # DI's neutral point is 1
    assert bool(di["alert"]) == (abs(di["value"] - 1) > di["upper_threshold"] - 1)

    # Then each analysed chunk has a violations file in the lake listing exactly its alerting Clarify rows
    first = table["chunk_start"].min()
    name = f"results/model=credit/bias_violations/dt={first:%Y-%m-%d}/{first:%Y%m%dT%H%M%SZ}.json"
    violations = json.loads(run["store"].get(name))["violations"]
    expected = table.loc[(table["chunk_start"] == first) & table["alert"] & ~table["metric"].str.contains("_")]
    assert len(violations) == len(expected) and all(
        v["constraint_check_type"] == "bias_drift_check" for v in violations
    )

    # And publishing sends bias_metric_<NAME> in the configured namespace with Clarify's dimensions
    config = run["config"]
    monitor = monitor_for(
        "bias",
        config.model_copy(update={"estimation": config.estimation.model_copy(update={"min_label_coverage": 0.6})}),
    )
    rows = read_results(to_parquet(table.assign(model="credit", run_id="r1")))
    publication = monitor.publish(rows, {})
    point = next(p for p in publication.points if p.metric_name == "bias_metric_DI")
    assert point.namespace == "aws/sagemaker/Endpoints/bias-metrics"
    assert [d for d, _ in point.dimensions] == [
        "Endpoint",
        "MonitoringSchedule",
        "BiasStage",
        "Label",
        "LabelValue",
        "Facet",
        "FacetValue",
    ]
    estimated = next(p for p in publication.points if p.metric_name == "bias_metric_AD")
    assert dict(estimated.dimensions)["Kind"] in ("estimated", "realized")
    # The half-labelled hour's label-dependent realized values wait for a 60 % coverage gate
    assert any("below min_label_coverage" in g.reason for g in publication.gated)
    assert {r.metric for r in publication.alerts} <= set(table.loc[table["alert"], "metric"])


def test_infinity_is_published_as_clarify_publishes_it() -> None:
    assert CLOUDWATCH_INFINITY == 2.0**360 and f"{CLOUDWATCH_INFINITY:.6e}" == "2.348543e+108"


def test_an_imported_clarify_baseline_sets_the_violation_bands(tmp_path) -> None:
    # Given a Clarify analysis.json (DI of both facets; the numeric one written as its interval) as the baseline
    def facet(value: str, di: float) -> list[dict[str, Any]]:
        return [
            {
                "value_or_threshold": value,
                "metrics": [{"name": "DI", "description": "Disparate Impact (DI)", "value": di}],
            }
        ]

    imported = tmp_path / "analysis.json"
    post = {
        "label": "repaid",
        "label_value_or_threshold": "1",
        "facets": {"clinic": facet("east", 0.5), "age": facet("(40.0, 79.0]", 1.25)},
    }
    imported.write_text(json.dumps({"version": "1.0", "post_training_bias_metrics": post}))
    config = data.credit_config(bias={**data.BIAS, "methods": ["DI", "DPPL"], "baseline": str(imported)})
    store = LocalStore(tmp_path / "lake")

    # When an hour is analysed
    result = analyse_monitor(
        monitor_for("bias", config),
        data.reference(),
        data.lake_rows(data.captures(hours=1)),
        None,
        RunRequest("credit", "r1", input_complete=True),
        store,
        data.LATE,
        signer=data.SIGNER,
    )

    # Then DI's bands are the imported values' distance from neutral (1), DPPL (not in the file) has none, and the
    # stored baseline document is the imported one
    table = result.table.set_index(["metric", "facet"])
    assert (table.loc[("DI", "clinic"), "lower_threshold"], table.loc[("DI", "clinic"), "upper_threshold"]) == (
        0.5,
        1.5,
    )
    assert (table.loc[("DI", "age"), "lower_threshold"], table.loc[("DI", "age"), "upper_threshold"]) == (0.75, 1.25)
    assert math.isnan(table.loc[("DPPL", "clinic"), "upper_threshold"])
    assert json.loads(store.get(f"models/credit/bias/{BASELINE_DOCUMENT}"))["post_training_bias_metrics"] == post

    # And a file that is not Clarify's analysis is refused, naming it
    imported.write_text(json.dumps({"violations": []}))
    with pytest.raises(ReferenceDataError, match=r"is not a Clarify analysis\.json"):
        analyse_monitor(
            monitor_for("bias", config),
            data.reference(),
            data.lake_rows(data.captures(hours=1)),
            None,
            RunRequest("credit", "r2", input_complete=True),
            store,
            data.LATE,
            signer=data.SIGNER,
        )
