"""Registry: register, look up by endpoint/variant and ground-truth prefix, unregister."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.config import load_model_config_text
from modelwatch.errors import RegistryError
from modelwatch.lake.store import LocalStore
from modelwatch.registry import Registry

CONFIG = """
name: {name}
endpoint: {endpoint}
variant: AllTraffic
problem_type: regression
features: [{{name: x}}]
output: {{format: csv, columns: [y_pred]}}
ground_truth: {{prefix: "s3://capture-bucket/labels/{name}/"}}
"""


def _config(name: str, endpoint: str = "ep-1"):
    return load_model_config_text(CONFIG.format(name=name, endpoint=endpoint), f"{name}.yaml")


def test_register_stores_config_and_reference(tmp_path: Path) -> None:
    # Given an empty registry
    registry = Registry(LocalStore(tmp_path))
    # When a model is registered with reference data
    stored = registry.register(_config("m1"), b"PAR1", ".parquet")
    # Then the stored config points at the stored reference and reads back equal
    assert stored.reference == str(tmp_path / "models/m1/reference.parquet")
    assert (tmp_path / "models/m1/reference.parquet").read_bytes() == b"PAR1"
    assert registry.get("m1") == stored
    assert registry.names() == ["m1"]


def test_lookups_by_endpoint_and_ground_truth_prefix(tmp_path: Path) -> None:
    registry = Registry(LocalStore(tmp_path), cache_seconds=0)
    registry.register(_config("m1", "ep-1"), b"x")
    registry.register(_config("m2", "ep-2"), b"x")
    assert [c.name for c in registry.for_capture("ep-2", "AllTraffic")] == ["m2"]
    assert registry.for_capture("ep-2", "Other") == []
    assert [c.name for c in registry.for_ground_truth("labels/m1/2024/01/01/00/a.jsonl")] == ["m1"]
    assert registry.for_ground_truth("labels/other/a.jsonl") == []


def test_unregister_removes_everything_and_unknown_is_named(tmp_path: Path) -> None:
    registry = Registry(LocalStore(tmp_path))
    registry.register(_config("m1"), b"x")
    (tmp_path / "models/m1/estimator").mkdir()
    (tmp_path / "models/m1/estimator/manifest.json").write_text("{}")
    deleted = registry.unregister("m1")
    assert "models/m1/estimator/manifest.json" in deleted
    assert registry.names() == []
    with pytest.raises(RegistryError, match="'m1' is not registered"):
        registry.get("m1")
    with pytest.raises(RegistryError, match="no reference data"):
        registry.register(_config("m3"))
