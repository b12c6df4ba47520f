"""Registry: register, look up by endpoint/variant and ground-truth prefix, unregister."""

from __future__ import annotations

import threading
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


class _CountingStore(LocalStore):
    """A LocalStore that counts reads; while `overlap` is set, the first two reads wait for each other (so they
    only both return when they run at the same time: sequential reads would break the barrier)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.overlap: threading.Barrier | None = None
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self._lock:
            self.reads.append(key)
            first_two = len(self.reads) <= 2
        if self.overlap is not None and first_two:
            self.overlap.wait(timeout=10)
        return super().get(key)


def test_configs_are_read_concurrently_once_per_process_until_they_change(tmp_path: Path) -> None:
    # Given 40 registered models (stored under a fresh root, so no other test's configs are cached)
    store = _CountingStore(tmp_path)
    for i in range(40):
        Registry(store).register(_config(f"m{i:02d}"), b"PAR1", ".parquet")
    store.reads.clear()
    store.overlap = threading.Barrier(2)
    # When a first registry lists them (a cold ingest Lambda)
    configs = Registry(store).list()
    # Then every config was read once, at least two at the same time (the barrier held)
    assert [c.name for c in configs] == [f"m{i:02d}" for i in range(40)]
    assert len(store.reads) == 40 and not store.overlap.broken
    store.overlap = None
    # And a new registry in the same process (the next invocation of a warm Lambda) reads none of them again
    store.reads.clear()
    assert [c.name for c in Registry(store).list()] == [c.name for c in configs]
    assert store.reads == []
    # But a changed config is read again, and a newly registered one counts
    Registry(store).register(_config("m07", endpoint="ep-2"), b"PAR1", ".parquet")
    Registry(store).register(_config("new"), b"PAR1", ".parquet")
    store.reads.clear()
    listed = {c.name: c for c in Registry(store).list()}
    assert sorted(store.reads) == ["models/m07/config.yaml", "models/new/config.yaml"]
    assert listed["m07"].endpoint == "ep-2" and "new" in listed
