"""The data-quality monitor's suggested baseline: its parse is cached with the fit and reused while the files' bytes
are the same; an edited file is parsed again (and counts)."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

import modelwatch.monitors.data_quality as data_quality
from modelwatch.analysis.run import prepared_reference
from modelwatch.lake.store import LocalStore
from modelwatch.monitors.data_quality import DataQualityMonitor, baseline_keys

from .cases import Case

NOW = datetime(2026, 1, 10, tzinfo=UTC)


def test_a_cached_fit_reuses_its_parse_until_the_files_change(
    binary_case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fitted monitor whose suggested baseline is in the lake, and its fit as the cache holds it
    store = LocalStore(tmp_path)
    monitor = DataQualityMonitor(binary_case.config)
    monitor.bind(store, NOW)
    fitted = monitor.fit(prepared_reference(binary_case.config, binary_case.reference))
    cached = pickle.loads(pickle.dumps(fitted))
    assert cached.documents is None and cached.parsed is not None

    # When a later run reads the files back with the same bytes
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed again")

    with monkeypatch.context() as patched:
        patched.setattr(data_quality, "parse_baseline", refuse)
        later = DataQualityMonitor(binary_case.config)
        later.bind(store, NOW)
        # Then the cached rules are used, nothing is parsed and nothing needs caching again
        assert not later.incomplete(cached, None)  # type: ignore[arg-type]
    assert cached.documents is not None and cached.documents.features == fitted.documents.features  # type: ignore[union-attr]

    # When the suggested constraints are edited in the lake
    _, constraints_key = baseline_keys(binary_case.config.name)
    constraints = json.loads(store.get(constraints_key))
    first = constraints["features"][0]
    first["completeness"] = 0.5
    store.put(constraints_key, json.dumps(constraints).encode())
    edited = pickle.loads(pickle.dumps(fitted))
    # Then they are parsed again, count, and the fit is to be cached with the new parse
    assert later.incomplete(edited, None)  # type: ignore[arg-type]
    assert edited.documents is not None and edited.documents.features[first["name"]].completeness == 0.5
