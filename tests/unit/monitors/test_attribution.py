"""The attribution monitor: a surrogate's TreeSHAP attributions, reproducible on the same data; a new model version
that depends on another feature crosses the nDCG threshold while clean chunks do not; unfaithful surrogates skip."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from modelwatch.analysis import RunRequest
from modelwatch.analysis.run import analyse_monitor
from modelwatch.errors import ReferenceDataError
from modelwatch.lake.store import LocalStore
from modelwatch.monitors import configured, monitor_for
from modelwatch.monitors.attribution import (
    BASELINE_DOCUMENT,
    METRIC_NDCG,
    METRIC_SHAP,
    encode,
    fit_surrogate,
    ndcg,
    rank_changes,
)
from modelwatch.monitors.frames import prepare_reference
from modelwatch.monitors.results import read_results, to_parquet
from tests.unit.monitors import fairness_data as data

ATTRIBUTION = {"ndcg_threshold": 0.9, "min_faithfulness": 0.8}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four hours; from hour 2 on the endpoint serves a new model version that looks at tenure, not income."""
    config = data.credit_config(attribution=ATTRIBUTION)
    frame = data.captures(hours=4, new_version_from=2)
    store = LocalStore(tmp_path_factory.mktemp("lake"))
    result = analyse_monitor(
        monitor_for("attribution", config),
        data.reference(),
        data.lake_rows(frame),
        None,
        RunRequest("credit", "r1", input_complete=True),
        store,
        data.LATE,
        signer=data.SIGNER,
    )
    return {"config": config, "result": result, "store": store}


def test_ndcg_is_clarify_s() -> None:
    # Given baseline attributions and a live ranking that swaps the top two
    baseline = {"a": 0.5, "b": 0.3, "c": 0.2}
    live = {"a": 0.3, "b": 0.6, "c": 0.1}

    # Then nDCG discounts the baseline attribution by the live rank: (0.3 + 0.5/log2 3 + 0.2/2) / (0.5 + ...)
    ideal = 0.5 + 0.3 / math.log2(3) + 0.2 / 2
    assert ndcg(baseline, live) == pytest.approx((0.3 + 0.5 / math.log2(3) + 0.2 / 2) / ideal, abs=1e-15)
    assert ndcg(baseline, baseline) == 1.0
    assert rank_changes(baseline, live) == "rose: b 2->1; fell: a 1->2"


def test_attribution_is_configured_only_when_asked_for() -> None:
    assert "attribution" not in configured(data.credit_config())
    assert "attribution" in configured(data.credit_config(attribution=ATTRIBUTION))
    assert "attribution" not in configured(data.credit_config(attribution={"enabled": False}))


def test_the_surrogate_s_attributions_reproduce_on_the_same_data() -> None:
    # Given the reference, fitted twice
    config = data.credit_config(attribution=ATTRIBUTION)
    reference = prepare_reference(config, data.reference())
    categories = {"clinic": ["east", "north", "west"]}
    matrix = encode(config, reference, categories)
    target = reference["y_pred_proba"].to_numpy()

    first = fit_surrogate(config, matrix, target)
    second = fit_surrogate(config, matrix.copy(), target.copy())

    # Then both are the same to the last bit, and faithful to the model
    assert first.global_shap == second.global_shap and first.expected_value == second.expected_value
    assert first.faithfulness == second.faithfulness and first.faithfulness > 0.9
    assert max(first.global_shap, key=first.global_shap.__getitem__) == "income"


def test_a_new_model_version_crosses_the_threshold_and_clean_chunks_do_not(run: dict[str, Any]) -> None:
    table = run["result"].table
    scores = table.loc[table["metric"] == METRIC_NDCG].sort_values("chunk_start")

    # Then hours 0 and 1 (the reference's model) stay above 0.9 and hours 2 and 3 (the new version) fall below
    assert scores["alert"].tolist() == [False, False, True, True]
    assert (scores["value"].iloc[:2] >= 0.9).all() and (scores["value"].iloc[2:] < 0.9).all()
    # And the alert says which features rose and fell in rank
    assert "rose: tenure" in scores["detail"].iloc[2] and "income" in scores["detail"].iloc[2].split("fell: ")[1]
    shap = table.loc[(table["metric"] == METRIC_SHAP) & (table["chunk_start"] == scores["chunk_start"].iloc[3])]
    assert shap.set_index("feature")["value"].idxmax() == "tenure"


def test_violations_baseline_and_publication_are_clarify_s(run: dict[str, Any]) -> None:
    result, store = run["result"], run["store"]
    table = result.table
    # The baseline is Clarify's explanations shape, as JSON
    document = json.loads(store.get(f"models/credit/attribution/{BASELINE_DOCUMENT}"))
    shap = document["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    assert set(shap) == {"age", "income", "tenure", "clinic"}
    # A chunk below the threshold has Clarify's violation; a clean one an empty list
    starts = sorted(table["chunk_start"].unique())
    violations = {
        s: json.loads(
            store.get(f"results/model=credit/attribution_violations/dt={s:%Y-%m-%d}/{s:%Y%m%dT%H%M%SZ}.json")
        )["violations"]
        for s in starts
    }
    assert violations[starts[0]] == []
    (violation,) = violations[starts[2]]
    assert violation["constraint_check_type"] == "feature_attribution_drift_check" and violation["label"] == "label0"
    assert violation["description"].endswith("exceeds threshold 0.9")
    # Published: feature_<name> with Clarify's dimensions, the nDCG, and the alerting chunks
    monitor = monitor_for("attribution", run["config"])
    publication = monitor.publish(read_results(to_parquet(table.assign(model="credit", run_id="r1"))), {})
    point = next(p for p in publication.points if p.metric_name == "feature_income")
    assert dict(point.dimensions) == {
        "Endpoint": "credit-endpoint",
        "MonitoringSchedule": "credit",
        "ExplainabilityMethod": "TreeShap",
        "Label": "label0",
        "ValueType": "GlobalShapValues",
    }
    assert point.namespace == "aws/sagemaker/Endpoints/explainability-metrics"
    assert len(publication.alerts) == 2 and all(a.detail for a in publication.alerts)


def test_an_unfaithful_surrogate_skips_the_chunk_with_the_reason(tmp_path) -> None:
    # Given a chunk whose captured outputs do not depend on the features (noise)
    config = data.credit_config(attribution=ATTRIBUTION)
    frame = data.captures(hours=1)
    frame["y_pred_proba"] = np.random.default_rng(3).uniform(size=len(frame))
    frame["y_pred"] = (frame["y_pred_proba"] > 0.5).astype("int64")

    result = analyse_monitor(
        monitor_for("attribution", config),
        data.reference(),
        data.lake_rows(frame),
        None,
        RunRequest("credit", "r1", input_complete=True),
        LocalStore(tmp_path),
        data.LATE,
        signer=data.SIGNER,
    )

    # Then its nDCG is missing, with the faithfulness it measured, and publishing holds it back with the reason
    row = result.table.loc[result.table["metric"] == METRIC_NDCG].iloc[0]
    assert math.isnan(row["value"]) and "below min_faithfulness 0.8" in row["detail"]
    publication = monitor_for("attribution", config).publish(read_results(to_parquet(result.table)), {})
    assert [g.reason for g in publication.gated] == [row["detail"]]


def test_the_incident_names_the_features_that_moved_in_rank(run: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    from modelwatch.publishing.alerting import views_by_kind
    from modelwatch.publishing.datapoints import Candidates
    from modelwatch.publishing.incidents import DEGRADATION, decide
    from modelwatch.publishing.notify import RunContext, build_incident_notification

    # Given the run's rows, whose last chunks' nDCG is below the threshold
    config = run["config"]
    rows = read_results(to_parquet(run["result"].table.assign(model="credit", run_id="r1")))
    found = Candidates(alerts=monitor_for("attribution", config).publish(rows, {}).alerts)

    # When they open the model's incident and its message is built
    now = datetime(2026, 4, 1, tzinfo=UTC)
    views = views_by_kind(config, rows, found)[DEGRADATION]
    (event,) = decide(config, DEGRADATION, None, views, now, "r1").events
    note = build_incident_notification(config, event, views, RunContext("r1", now))

    # Then it names the attribution drift and which features rose and fell in rank
    assert "attribution ndcg" in note.subject
    line = next(x for x in note.text.splitlines() if x.strip().startswith("attribution ndcg:"))
    assert "rose: tenure" in line
    assert note.data["metrics"][0]["detail"].startswith("rose: tenure")


def test_an_imported_clarify_baseline_replaces_the_reference_s_attributions(tmp_path) -> None:
    # Given a Clarify analysis.json whose global SHAP values rank tenure first, imported as the baseline
    imported = tmp_path / "analysis.json"
    shap = {"age": 0.02, "income": 0.01, "tenure": 0.5, "clinic": 0.005}
    explanations = {"kernel_shap": {"label0": {"global_shap_values": shap, "expected_value": 0.42}}}
    imported.write_text(json.dumps({"version": "1.0", "explanations": explanations}))
    config = data.credit_config(attribution={**ATTRIBUTION, "baseline": str(imported)})
    store = LocalStore(tmp_path / "lake")

    # When a clean hour (the model still looks at income) is analysed
    result = analyse_monitor(
        monitor_for("attribution", config),
        data.reference(),
        data.lake_rows(data.captures(hours=1)),
        None,
        RunRequest("credit", "r1", input_complete=True),
        store,
        data.LATE,
        signer=data.SIGNER,
    )

    # Then it is compared with the imported ranking (income rose, tenure fell: an alert), and the stored baseline
    # document is the imported one's
    row = result.table.loc[result.table["metric"] == METRIC_NDCG].iloc[0]
    assert row["alert"] and "rose: income" in row["detail"] and "tenure 1->" in row["detail"]
    stored = json.loads(store.get(f"models/credit/attribution/{BASELINE_DOCUMENT}"))
    assert stored["explanations"]["kernel_shap"]["label0"] == {"global_shap_values": shap, "expected_value": 0.42}

    # And a file without the features' values is refused, naming what is missing
    del shap["clinic"]
    imported.write_text(json.dumps({"version": "1.0", "explanations": explanations}))
    with pytest.raises(ReferenceDataError, match=r"lacks features \['clinic'\]"):
        analyse_monitor(
            monitor_for("attribution", config),
            data.reference(),
            data.lake_rows(data.captures(hours=1)),
            None,
            RunRequest("credit", "r2", input_complete=True),
            store,
            data.LATE,
            signer=data.SIGNER,
        )
