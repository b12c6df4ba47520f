"""The metrics profile (#15): lean sends exactly what the per-model alarms and the dashboard read, full everything.

The referenced set is read from template.yaml's dashboard and `publishing.alarms`, not listed here, so a graph or an
alarm added later without its series under lean (or a series sent under lean that nothing reads) fails this test.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checks.asl import load_template
from modelwatch.config.model import AttributionConfig, BiasConfig, MetricsConfig, MetricsProfile, ModelConfig
from modelwatch.constants import DIM_KIND
from modelwatch.errors import ConfigError
from modelwatch.monitors import configured, monitor_for
from modelwatch.monitors.mm_checks import BASELINE_DRIFT_CHECK
from modelwatch.monitors.results import ResultRow
from modelwatch.publishing.alarms import AlarmSettings, model_alarms
from modelwatch.publishing.datapoints import candidates, to_datapoint
from modelwatch.publishing.metrics import Datapoint
from tests.helpers import ROOT
from tests.unit.workflow.helpers import model_config

START = datetime(2026, 3, 2, tzinfo=UTC)
FULL_ONLY = "(metrics profile full)"  # the dashboard's mark on graphs of detail series


class Reference:
    """A metric a graph or an alarm reads: a name (or a SEARCH term matching names by prefix), maybe some Kinds."""

    def __init__(self, name: str, prefix: bool = False, kinds: frozenset[str] = frozenset(), where: str = "") -> None:
        self.name, self.prefix, self.kinds, self.where = name, prefix, kinds, where

    def matches(self, point: Datapoint) -> bool:
        named = point.metric_name.startswith(self.name) if self.prefix else point.metric_name == self.name
        kind = dict(point.dimensions).get(DIM_KIND)
        return named and (not self.kinds or kind in self.kinds)

    def __repr__(self) -> str:
        return f"{self.name}{'*' if self.prefix else ''}{sorted(self.kinds) or ''} ({self.where})"


def _dashboard() -> list[tuple[str, str]]:
    """(widget title, SEARCH expression) of every metric graph."""
    template = load_template(ROOT / "template.yaml")
    raw = template["Resources"]["ModelwatchDashboard"]["Properties"]["DashboardBody"]["Sub"]
    body = json.loads(re.sub(r"\$\{([^}!]+)\}", "X", raw))
    found = []
    for widget in body["widgets"]:
        properties = widget.get("properties", {})
        for row in properties.get("metrics", []):
            for item in row:
                if isinstance(item, dict) and "expression" in item:
                    found.append((properties["title"], item["expression"]))
    return found


def _references(expression: str, where: str) -> list[Reference]:
    kinds = frozenset(re.findall(r'Kind="([^"]+)"', expression))
    names = re.findall(r'MetricName="([^"]+)"', expression)
    refs = [Reference(n, kinds=kinds, where=where) for n in names]
    # A bare search term (Model Monitor's per-feature names, `<family>_<feature>`) matches names by prefix.
    refs += [Reference(term, prefix=True, where=where) for term in re.findall(r"\}\s+([A-Za-z_]+)'", expression)]
    return refs


def dashboard_references(full_only: bool) -> list[Reference]:
    return [
        ref
        for title, expression in _dashboard()
        if (FULL_ONLY in title) == full_only
        for ref in _references(expression, title)
    ]


def alarm_references(config: ModelConfig) -> list[Reference]:
    refs = []
    for alarm in model_alarms(AlarmSettings(stack="s", reference_rows_per_hour=1000.0), config):
        if "MetricName" in alarm:
            refs.append(Reference(alarm["MetricName"], where=alarm["AlarmName"]))
        for query in alarm.get("Metrics", []):
            if "MetricStat" in query:
                refs.append(Reference(query["MetricStat"]["Metric"]["MetricName"], where=alarm["AlarmName"]))
    return refs


def every_monitor(profile: MetricsProfile | None) -> ModelConfig:
    """A binary model with all five monitors on (bias on one facet, attribution), and the given profile."""
    config = model_config("m")
    update: dict[str, Any] = {
        "bias": BiasConfig.model_validate({"facets": [{"name_or_index": "x", "value_or_threshold": [1]}]}),
        "attribution": AttributionConfig(),
    }
    if profile is not None:
        update["cloudwatch"] = MetricsConfig(profile=profile)
    found = config.model_copy(update=update)
    assert configured(found) == ["performance", "drift", "data_quality", "bias", "attribution"]
    return found


def _row(monitor: str, metric: str, kind: str, value: float, **extra: Any) -> ResultRow:
    fields: dict[str, Any] = {
        "monitor": monitor,
        "metric": metric,
        "kind": kind,
        "chunk_start": START,
        "chunk_end": START + timedelta(hours=1),
        "value": value,
        "lower_bound": value - 0.01,
        "upper_bound": value + 0.01,
        "lower_threshold": 0.5,
        "upper_threshold": 1.0,
        "alert": False,
        "label_coverage": 1.0,
        "rows": 2500,
        **extra,
    }
    return ResultRow(**fields)


def rows_of_every_monitor(config: ModelConfig) -> list[ResultRow]:
    """One labelled chunk's rows as each monitor writes them (every kind its `publish` turns into datapoints)."""
    rows = []
    for metric in config.metrics:
        rows.append(_row("performance", metric, "estimated", 0.9))
        rows.append(_row("performance", metric, "realized", 0.3, alert=True))
    method = config.drift.continuous_methods[0]
    for feature in config.feature_names:
        rows += [
            _row("drift", method, "univariate", 0.2, feature=feature, alert=True),
            _row("drift", "missing_rate", "data_quality", 0.01, feature=feature),
            _row("data_quality", "non_null", "counts", 2400.0, feature=feature),
            _row("data_quality", "null", "counts", 100.0, feature=feature),
            _row("data_quality", BASELINE_DRIFT_CHECK, "constraint_check", 0.3, feature=feature, alert=True),
            _row("attribution", "global_shap", "realized", 0.4, feature=feature),
        ]
    rows.append(_row("drift", "reconstruction_error", "multivariate", 1.1))
    rows += [_row("drift", method, "prediction", 0.1, feature=c) for c in config.prediction_columns]
    for metric, kind in (("DI", "realized"), ("CI", "realized"), ("AD", "estimated"), ("AD", "realized")):
        rows.append(_row("bias", metric, kind, 0.8, facet="x", facet_value="1"))
    rows += [_row("attribution", "expected_value", "realized", 0.5), _row("attribution", "ndcg", "realized", 0.95)]
    return rows


def publish(config: ModelConfig) -> list[Datapoint]:
    rows = rows_of_every_monitor(config)
    return candidates(config, rows, {"drift": {"top_features": config.feature_names}}).points


@pytest.fixture(scope="module")
def lean() -> list[Datapoint]:
    return publish(every_monitor(MetricsProfile.LEAN))


@pytest.fixture(scope="module")
def full() -> list[Datapoint]:
    return publish(every_monitor(MetricsProfile.FULL))


def test_lean_is_the_default_profile() -> None:
    # Given a model config that does not mention metrics, then its profile is lean
    assert model_config("m").cloudwatch.profile is MetricsProfile.LEAN


def test_lean_sends_only_what_an_alarm_or_a_lean_graph_reads(lean: list[Datapoint]) -> None:
    # Given what the per-model alarms and the dashboard's graphs (those not marked full) read
    read = [*alarm_references(every_monitor(None)), *dashboard_references(full_only=False)]

    # Then every series the lean profile sends is read by one of them
    unread = sorted(
        {p.metric_name + str(dict(p.dimensions).get(DIM_KIND, "")) for p in lean if not any(r.matches(p) for r in read)}
    )
    assert not unread, f"sent under lean but read by no alarm or graph: {unread}"


def test_lean_keeps_every_series_an_alarm_or_a_lean_graph_reads(lean: list[Datapoint], full: list[Datapoint]) -> None:
    # Given the references that some monitor's datapoint answers (the rest are the service's and ingest's own)
    read = [*alarm_references(every_monitor(None)), *dashboard_references(full_only=False)]
    answered = [r for r in read if any(r.matches(p) for p in full)]
    assert answered, "no monitor series is read by the dashboard: the dashboard parse is broken"

    # Then the lean profile sends each of them
    missing = [r for r in answered if not any(r.matches(p) for p in lean)]
    assert not missing, f"read by an alarm or graph but not sent under lean: {missing}"


def test_full_sends_every_monitor_datapoint_and_feeds_the_full_graphs(full: list[Datapoint]) -> None:
    # Given every point each monitor's `publish` returns for the rows (the set sent before profiles existed)
    config = every_monitor(MetricsProfile.FULL)
    rows = rows_of_every_monitor(config)
    summaries = {"drift": {"top_features": config.feature_names}}
    everything = [
        to_datapoint(p)
        for name in configured(config)
        for p in monitor_for(name, config)
        .publish([r for r in rows if r.monitor == name], summaries.get(name, {}))
        .points
    ]

    # Then full sends exactly those, and each graph marked full has its series among them
    assert full == everything
    assert any(p.metric_name.startswith("feature_baseline_drift_") for p in full)
    for ref in dashboard_references(full_only=True):
        assert any(ref.matches(p) for p in full), ref


def test_lean_leaves_out_bounds_errors_and_per_feature_detail(lean: list[Datapoint], full: list[Datapoint]) -> None:
    # Then lean is a strict subset of full without confidence bounds, estimation error, per-feature series or the
    # Clarify metrics no graph reads, and the left-out points are counted
    assert set(lean) < set(full)
    kinds = {dict(p.dimensions).get(DIM_KIND) for p in lean}
    assert not kinds & {"lower_confidence_bound", "upper_confidence_bound", "estimation_error"}
    assert not [p for p in lean if "Feature" in dict(p.dimensions) or p.metric_name.startswith("feature_")]
    assert "bias_metric_CI" not in {p.metric_name for p in lean}
    config = every_monitor(MetricsProfile.LEAN)
    found = candidates(config, rows_of_every_monitor(config), {"drift": {"top_features": config.feature_names}})
    assert found.detail_left_out == len(full) - len(lean)


def test_the_profile_changes_no_alert(full: list[Datapoint]) -> None:
    # Given the same rows under both profiles, then the alerts and improvements are the same
    found = {}
    for profile in MetricsProfile:
        config = every_monitor(profile)
        result = candidates(config, rows_of_every_monitor(config), {"drift": {"top_features": config.feature_names}})
        found[profile] = (result.alerts, result.improvements)
    assert found[MetricsProfile.LEAN] == found[MetricsProfile.FULL]
    assert found[MetricsProfile.LEAN][0]


def test_metrics_profile_reads_from_yaml_and_round_trips() -> None:
    # Given `metrics: {profile: full}` in a config's YAML
    from modelwatch.config.model import load_model_config_text

    text = model_config("m").to_yaml()
    assert "metrics:\n  profile: lean" in text
    config = load_model_config_text(text.replace("profile: lean", "profile: full"), "m.yaml")

    # Then the profile is full, also after the dump the state machine carries
    assert config.cloudwatch.profile is MetricsProfile.FULL
    assert ModelConfig.model_validate(config.model_dump(mode="json")).cloudwatch.profile is MetricsProfile.FULL
    # And an unknown profile is a named error
    with pytest.raises(ConfigError, match=r"metrics\.profile"):
        load_model_config_text(text.replace("profile: lean", "profile: cheap"), "m.yaml")
