"""The registry answers in units: a model watching several variants is one unit per variant, found by capture key,
with Model and Variant dimensions on its alarms."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.config import load_model_config_text
from modelwatch.errors import RegistryError
from modelwatch.lake.store import LocalStore
from modelwatch.publishing.alarms import AlarmSettings, model_alarms
from modelwatch.registry import Registry

CONFIG = """
name: ab
endpoint: ep
problem_type: regression
features: [{name: x}]
output: {format: csv, columns: [y_pred]}
"""


def _registry(tmp_path: Path, variants: str) -> Registry:
    registry = Registry(LocalStore(tmp_path), cache_seconds=0)
    registry.register(load_model_config_text(CONFIG + variants, "ab.yaml"), b"PAR1", ".parquet")
    return registry


def test_listed_variants_are_units_found_by_their_capture_keys(tmp_path: Path) -> None:
    registry = _registry(tmp_path, "variants: [blue, green]\n")
    assert registry.registered() == ["ab"] and registry.names() == ["ab.blue", "ab.green"]
    (green,) = registry.for_capture("ep", "green")
    assert (green.name, green.variant, green.model_name) == ("ab.green", "green", "ab")
    assert registry.for_capture("ep", "red") == [] and registry.for_capture("other", "green") == []
    assert registry.get("ab.green") == green and registry.get("ab").watches_variants
    with pytest.raises(RegistryError, match="does not watch variant 'red'"):
        registry.get("ab.red")


def test_every_variant_is_picked_up_as_its_captures_arrive(tmp_path: Path) -> None:
    registry = _registry(tmp_path, 'variants: "*"\n')
    assert registry.names() == []  # none seen yet
    (found,) = registry.for_capture("ep", "shadow-1")
    assert found.name == "ab.shadow-1"
    # Remembered: the fleet's schedule and a fresh registry see the new unit
    assert Registry(LocalStore(tmp_path)).names() == ["ab.shadow-1"]
    assert registry.for_capture("ep", "shadow-1") == [found]  # not twice


def test_unregister_takes_every_unit_and_refuses_a_unit_name(tmp_path: Path) -> None:
    registry = _registry(tmp_path, "variants: [blue, green]\n")
    (tmp_path / "models/ab.blue/performance").mkdir(parents=True)
    (tmp_path / "models/ab.blue/performance/baseline.pkl").write_bytes(b"x")  # a unit's fitted baseline
    with pytest.raises(RegistryError, match=r"'ab\.blue' is a variant of model 'ab'"):
        registry.unregister("ab.blue")
    deleted = registry.unregister("ab")
    assert "models/ab.blue/performance/baseline.pkl" in deleted and "models/ab/config.yaml" in deleted
    assert registry.names() == [] and not [p for p in tmp_path.joinpath("models").rglob("*") if p.is_file()]


def test_a_unit_s_alarms_name_the_model_and_the_variant(tmp_path: Path) -> None:
    registry = _registry(tmp_path, "variants: [blue, green]\n")
    (blue, _) = registry.list()
    alarms = model_alarms(AlarmSettings(stack="s", reference_rows_per_hour=1000.0), blue)
    state = next(a for a in alarms if a["AlarmName"].endswith("-alert"))
    assert state["Dimensions"] == [{"Name": "Model", "Value": "ab"}, {"Name": "Variant", "Value": "blue"}]
    for alarm in alarms:
        for metric in alarm.get("Metrics", []):
            if "MetricStat" in metric:
                dims = {d["Name"]: d["Value"] for d in metric["MetricStat"]["Metric"]["Dimensions"]}
                assert dims["Model"] == "ab" and dims["Variant"] == "blue"
    single = load_model_config_text(CONFIG.replace("name: ab", "name: one"), "one.yaml")
    plain = next(a for a in model_alarms(AlarmSettings(stack="s"), single) if a["AlarmName"].endswith("-alert"))
    assert plain["Dimensions"] == [{"Name": "Model", "Value": "one"}]


def test_an_unreadable_config_hides_no_other_model_and_keeps_its_name(tmp_path: Path) -> None:
    registry = _registry(tmp_path, "variants: [blue]\n")
    (tmp_path / "models/broken").mkdir(parents=True)
    (tmp_path / "models/broken/config.yaml").write_text("name: broken\n")  # fields missing
    assert [c.name for c in registry.list()] == ["ab.blue"]
    # Listed under its own name, so the fleet starts its run and that run fails on its own, saying why
    assert registry.names() == ["ab.blue", "broken"]
    assert "invalid model config" in registry.unreadable["broken"]
    with pytest.raises(Exception, match="invalid model config"):
        registry.get("broken")
