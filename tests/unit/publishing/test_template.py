"""template.yaml: the dashboard's JSON body, its SEARCH graphs, and the alarm wiring publishing relies on."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from checks.asl import load_template
from modelwatch import constants as c
from tests.helpers import ROOT

PSEUDO = {"AWS::Region", "AWS::StackName", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _body(template: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    raw = template["Resources"]["ModelwatchDashboard"]["Properties"]["DashboardBody"]["Sub"]
    names = re.findall(r"\$\{([^}!]+)\}", raw)
    return json.loads(re.sub(r"\$\{([^}!]+)\}", "X", raw)), names


def test_dashboard_body_is_json_and_every_substitution_resolves(template: dict[str, Any]) -> None:
    # Given the dashboard's DashboardBody (!Sub)
    body, names = _body(template)

    # Then it is valid JSON after substitution, and every ${...} names a parameter, resource attribute or pseudo
    assert body["widgets"]
    resources, parameters = template["Resources"], template["Parameters"]
    for name in names:
        base = name.split(".")[0]
        assert name in PSEUDO or base in resources or base in parameters, name
    assert template["Resources"]["ModelwatchDashboard"]["Type"] == "AWS::CloudWatch::Dashboard"


def _expressions(body: dict[str, Any]) -> list[str]:
    found = []
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            found.extend(item["expression"] for item in row if isinstance(item, dict) and "expression" in item)
    return found


def test_dashboard_graphs_every_published_metric_with_search(template: dict[str, Any]) -> None:
    # Given the dashboard's metric expressions
    body, _ = _body(template)
    expressions = _expressions(body)
    text = "\n".join(expressions)

    # Then estimated and realized performance per model and metric, alerts, ingestion, lag and failures are graphed
    assert f'MetricName="{c.METRIC_PERFORMANCE}" Kind="{c.KIND_ESTIMATED}"' in text
    assert f'MetricName="{c.METRIC_PERFORMANCE}" Kind="{c.KIND_REALIZED}"' in text
    assert f"{{X,{c.DIM_MODEL},{c.DIM_METRIC},{c.DIM_KIND}}}" in text
    for metric in (
        c.METRIC_ALERT,
        c.METRIC_RECORDS_DECODED,
        c.METRIC_RECORDS_QUARANTINED,
        c.METRIC_INGEST_LAG,
        c.METRIC_WORKFLOW_FAILURES,
        c.METRIC_WORKFLOW_DURATION,
        c.METRIC_FEATURES_DRIFTING,
        c.METRIC_MISSING_RATE,
    ):
        assert f'MetricName="{metric}"' in text, metric
    # and the bias and attribution monitors' Clarify metrics in their own namespaces (#13)
    assert 'MetricName="bias_metric_DI"' in text and 'MetricName="bias_metric_AD"' in text
    assert '{"X",Endpoint,MonitoringSchedule,BiasStage,Label,LabelValue,Facet,FacetValue,Kind}' in text
    assert '{"X",Endpoint,MonitoringSchedule,ExplainabilityMethod,Label} MetricName="ndcg"' in text
    assert all(e.startswith("SEARCH('") for e in expressions)
    ids = [
        item["id"]
        for w in body["widgets"]
        for row in w.get("properties", {}).get("metrics", [])
        for item in row
        if isinstance(item, dict) and "id" in item
    ]
    assert len(ids) == len(set(ids)) and all(re.match(r"^[a-z][a-zA-Z0-9_]*$", i) for i in ids)


def test_fleet_alarm_watches_the_dimensionless_alert(template: dict[str, Any]) -> None:
    # The publisher sends Alert without dimensions for the fleet; the alarm must match it exactly
    alarm = template["Resources"]["FleetAlertAlarm"]["Properties"]
    assert alarm["MetricName"] == c.METRIC_ALERT and "Dimensions" not in alarm
    assert alarm["Namespace"] == {"Ref": "MetricNamespace"}
    assert (alarm["Statistic"], alarm["Threshold"], alarm["TreatMissingData"]) == ("Maximum", 1, "notBreaching")


def test_functions_may_put_metrics_and_the_dashboard_url_is_an_output(template: dict[str, Any]) -> None:
    # PutMetricData has no resource-level permissions: allowed on "*" but only in the stack's namespace, and for
    # the publisher also in the bias and attribution monitors' Clarify-compatible namespaces (#13).
    clarify = [{"Ref": "MetricNamespace"}, {"Ref": "BiasMetricNamespace"}, {"Ref": "ExplainabilityMetricNamespace"}]
    for name, namespaces in (("PublishFunction", clarify), ("RecordFailureFunction", {"Ref": "MetricNamespace"})):
        policies = template["Resources"][name]["Properties"]["Policies"]
        statements = [st for pol in policies if isinstance(pol, dict) for st in pol.get("Statement", [])]
        assert any(
            st["Action"] == ["cloudwatch:PutMetricData"]
            and st["Condition"] == {"StringEquals": {"cloudwatch:namespace": namespaces}}
            for st in statements
        ), name
    assert "ModelwatchDashboard" in template["Outputs"]["DashboardUrl"]["Value"]["Sub"]
