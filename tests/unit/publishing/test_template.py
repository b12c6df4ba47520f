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
        c.METRIC_ALERT_STATE,
        c.METRIC_RUN_HEARTBEAT,
        c.METRIC_CAPTURED_ROWS,
        c.METRIC_LABEL_COVERAGE,
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
    # and each endpoint's own metrics beside the performance graph
    for metric in ("Invocations", "ModelLatency", "Invocation4XXErrors", "Invocation5XXErrors"):
        assert f'{{AWS/SageMaker,EndpointName,VariantName}} MetricName="{metric}"' in text, metric
    assert all(e.startswith("SEARCH('") for e in expressions)
    ids = [
        item["id"]
        for w in body["widgets"]
        for row in w.get("properties", {}).get("metrics", [])
        for item in row
        if isinstance(item, dict) and "id" in item
    ]
    assert len(ids) == len(set(ids)) and all(re.match(r"^[a-z][a-zA-Z0-9_]*$", i) for i in ids)


def test_dashboard_has_a_data_quality_and_drift_row(template: dict[str, Any]) -> None:
    # Given the dashboard's metric expressions (the raw text: the namespaces are parameters)
    raw = template["Resources"]["ModelwatchDashboard"]["Properties"]["DashboardBody"]["Sub"]
    expressions = "\n".join(_expressions(json.loads(re.sub(r"\$\{([^}!]+)\}", r"<\1>", raw))))

    # Then violations, multivariate and output drift are graphed per model in the stack's namespace, and Model
    # Monitor's baseline drift per feature in its namespace (quoted: it holds '/' and '-') with its dimensions (#14)
    for metric, dimensions in (
        (c.METRIC_CONSTRAINT_VIOLATIONS, c.DIM_MODEL),
        (c.METRIC_MULTIVARIATE_DRIFT, c.DIM_MODEL),
        (c.METRIC_PREDICTION_DRIFT, f"{c.DIM_MODEL},{c.DIM_OUTPUT}"),
    ):
        assert f'{{<MetricNamespace>,{dimensions}}} MetricName="{metric}"' in expressions, metric
    mm = f'{{"<ModelMonitorMetricNamespace>",{c.DIM_ENDPOINT},{c.DIM_MONITORING_SCHEDULE},{c.DIM_FEATURE}}}'
    assert f"{mm} feature_baseline_drift" in expressions


def test_dashboard_widgets_do_not_overlap(template: dict[str, Any]) -> None:
    body, _ = _body(template)
    boxes = [(w["x"], w["y"], w["width"], w["height"]) for w in body["widgets"]]
    for i, (x, y, width, height) in enumerate(boxes):
        for other in boxes[i + 1 :]:
            ox, oy, owidth, oheight = other
            assert not (x < ox + owidth and ox < x + width and y < oy + oheight and oy < y + height), (boxes[i], other)


def test_fleet_alarm_follows_the_fleet_state_and_keeps_it_between_runs(template: dict[str, Any]) -> None:
    # Changed by #19: the publisher sends AlertState without dimensions (models with an open incident) every run;
    # the alarm must match it exactly and keep its state while no run publishes
    alarm = template["Resources"]["FleetAlertAlarm"]["Properties"]
    assert alarm["MetricName"] == c.METRIC_ALERT_STATE and "Dimensions" not in alarm
    assert alarm["Namespace"] == {"Ref": "MetricNamespace"}
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Maximum", 60, 1)
    assert (alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (1, "ignore")
    assert alarm["OKActions"] == alarm["AlarmActions"] == [{"Ref": "AlarmsTopic"}]


def test_every_fleet_alarm_is_on_the_dashboard(template: dict[str, Any]) -> None:
    _, names = _body(template)  # the alarm widget lists ${<alarm>.Arn}
    shown = {name.split(".")[0] for name in names if name.endswith(".Arn")}
    alarms = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert shown == alarms


def test_the_fleet_stalls_after_two_schedule_intervals_without_a_heartbeat(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["FleetStalledAlarm"]["Properties"]
    metric, expression = alarm["Metrics"]
    assert metric["MetricStat"]["Metric"]["MetricName"] == c.METRIC_RUN_HEARTBEAT
    assert "Dimensions" not in metric["MetricStat"]["Metric"]
    assert metric["MetricStat"]["Period"] == {"Ref": "ScheduleIntervalSeconds"}
    assert expression["Expression"] == "FILL(m, 0)" and expression["ReturnData"] is True
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"]) == (2, 2, 1)
    assert (alarm["ComparisonOperator"], alarm["TreatMissingData"]) == ("LessThanThreshold", "breaching")
    # and the functions that send heartbeats may (only in the stack's namespace)
    for name in ("ListModelsFunction", "StartMonitorFunction"):
        policies = template["Resources"][name]["Properties"]["Policies"]
        statements = [st for pol in policies if isinstance(pol, dict) for st in pol.get("Statement", [])]
        assert any(st["Action"] == ["cloudwatch:PutMetricData"] for st in statements), name


def test_functions_may_put_metrics_and_the_dashboard_url_is_an_output(template: dict[str, Any]) -> None:
    # PutMetricData has no resource-level permissions: allowed on "*" but only in the stack's namespace; the
    # publisher also in the bias and attribution monitors' Clarify-compatible namespaces (#13), Model Monitor's
    # two model-quality namespaces (issue 17: one statement, since a statement whose condition fails denies locally)
    # and the namespace of the Model Monitor-compatible data-quality metrics (#14: deliberate change).
    namespaces = {
        "PublishFunction": [
            {"Ref": "MetricNamespace"},
            {"Ref": "BiasMetricNamespace"},
            {"Ref": "ExplainabilityMetricNamespace"},
            "aws/sagemaker/Endpoints/model-metrics",
            "aws/sagemaker/ModelMonitoring/model-metrics",
            {"Ref": "ModelMonitorMetricNamespace"},
        ],
        "RecordFailureFunction": {"Ref": "MetricNamespace"},
    }
    for name, allowed in namespaces.items():
        policies = template["Resources"][name]["Properties"]["Policies"]
        statements = [st for pol in policies if isinstance(pol, dict) for st in pol.get("Statement", [])]
        puts = [st for st in statements if "cloudwatch:PutMetricData" in st["Action"]]
        assert [st["Condition"] for st in puts] == [{"StringEquals": {"cloudwatch:namespace": allowed}}], name
    assert "ModelwatchDashboard" in template["Outputs"]["DashboardUrl"]["Value"]["Sub"]
