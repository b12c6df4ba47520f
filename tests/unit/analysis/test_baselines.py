"""Fit once, analyse many: cached baselines are reused only when reference, config and libraries match, never
tampered."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from modelwatch.analysis import RunRequest, run_monitor
from modelwatch.errors import UntrustedArtifactError
from modelwatch.lake.store import LocalStore
from modelwatch.monitors import artifacts
from modelwatch.monitors.frames import reference_columns, reference_hash
from modelwatch.monitors.performance import PerformanceBaseline, PerformanceMonitor
from modelwatch.signing import process_signer

from .cases import LATE, Case


def _run(case: Case, store: LocalStore, run_id: str, config=None, reference=None):
    return run_monitor(
        config or case.config,
        case.reference if reference is None else reference,
        case.captures,
        case.labels,
        RunRequest(case.config.name, run_id),
        store,
        LATE,
    )


def _values(uri: str) -> pd.DataFrame:
    return pd.read_parquet(uri).drop(columns=["run_id"])


def _performance(uri: str) -> pd.DataFrame:
    table = pd.read_parquet(uri)
    return table.loc[table["monitor"] == "performance"]


def _baseline(case: Case) -> artifacts.Artifact:
    return artifacts.Artifact(case.config.name, "performance")


def test_second_run_loads_the_cached_fit_and_gives_identical_results(regression_case: Case, tmp_path, monkeypatch):
    # Given a first run that fitted and stored the estimator (DLE: LightGBM)
    store = LocalStore(tmp_path)
    first = _run(regression_case, store, "r1")
    assert first.estimator_cache == "fit"
    manifest = json.loads(store.get(_baseline(regression_case).manifest_key))
    assert set(manifest["versions"]) == {"nannyml", "scikit-learn", "lightgbm", "pandas", "numpy"}
    assert manifest["config_sha256"] == artifacts.digest(PerformanceMonitor(regression_case.config).fitting_key())

    # When the same inputs run again, with fitting made impossible
    def no_fit(*args, **kwargs):
        raise AssertionError("refitted although a valid cached fit exists")

    monkeypatch.setattr(PerformanceMonitor, "fit", no_fit)
    second = _run(regression_case, store, "r2")

    # Then the cached fit is used and results are identical
    assert second.estimator_cache == "hit"
    pd.testing.assert_frame_equal(_values(first.results_uri), _values(second.results_uri))


def test_changed_reference_or_fitting_config_refits(binary_case: Case, tmp_path) -> None:
    store = LocalStore(tmp_path)
    assert _run(binary_case, store, "r1").estimator_cache == "fit"
    # a change that does not affect fitting keeps the cache
    gates = binary_case.config.estimation.model_copy(update={"min_rows_per_chunk": 50, "lateness": "1h"})
    relaxed = binary_case.config.model_copy(update={"estimation": gates, "endpoint": "another-endpoint"})
    assert _run(binary_case, store, "r2", config=relaxed).estimator_cache == "hit"
    # different reference data refits
    assert _run(binary_case, store, "r3", reference=binary_case.reference.iloc[:-2_500]).estimator_cache == "fit"
    assert _run(binary_case, store, "r4").estimator_cache == "fit"
    # different thresholds refit
    from modelwatch.config.model import Threshold

    tighter = binary_case.config.estimation.model_copy(
        update={"thresholds": {"roc_auc": Threshold(type="constant", lower=0.9, upper=None)}}
    )
    outcome = _run(binary_case, store, "r5", config=binary_case.config.model_copy(update={"estimation": tighter}))
    assert outcome.estimator_cache == "fit"
    stored = pd.read_parquet(outcome.results_uri)
    assert (stored.loc[stored["metric"] == "roc_auc", "lower_threshold"] == 0.9).all()


def test_changed_library_versions_refit(binary_case: Case, tmp_path) -> None:
    store = LocalStore(tmp_path)
    _run(binary_case, store, "r1")
    key = _baseline(binary_case).manifest_key
    manifest = json.loads(store.get(key))
    manifest["versions"]["nannyml"] = "0.0.1"
    store.put(key, json.dumps(manifest).encode())
    assert _run(binary_case, store, "r2").estimator_cache == "fit"


def test_tampered_pickle_is_refused_and_refitted(binary_case: Case, tmp_path, monkeypatch) -> None:
    # Given a cached fit whose pickle was modified after its manifest was written
    store = LocalStore(tmp_path)
    first = _run(binary_case, store, "r1")
    artifact = _baseline(binary_case)
    body = bytearray(store.get(artifact.body_key))
    body[len(body) // 2] ^= 0xFF
    store.put(artifact.body_key, bytes(body))
    fitting = PerformanceMonitor(binary_case.config).fitting_key()
    key = artifacts.cache_key(fitting, reference_hash(reference_columns(binary_case.config, binary_case.reference)))

    # Then loading refuses it without unpickling
    def no_unpickle(*args, **kwargs):
        raise AssertionError("unpickled an artifact that failed its hash check")

    with monkeypatch.context() as patch:
        patch.setattr(artifacts.pickle, "loads", no_unpickle)
        with pytest.raises(UntrustedArtifactError, match="does not match its manifest"):
            artifacts.load_body(store, artifact, key, process_signer())
        assert artifacts.load_baseline(store, artifact, key, PerformanceBaseline, process_signer()) is None
    # and a run refits (the refusal is logged), with the same results as before
    second = _run(binary_case, store, "r2")
    assert second.estimator_cache == "fit"
    pd.testing.assert_frame_equal(_values(first.results_uri), _values(second.results_uri))
    assert artifacts.load_baseline(store, artifact, key, PerformanceBaseline, process_signer()) is not None


def test_realized_calculator_is_fitted_when_labels_first_arrive(binary_case: Case, tmp_path) -> None:
    # Given a cached fit from a run without labels
    store = LocalStore(tmp_path)
    without = run_monitor(
        binary_case.config,
        binary_case.reference,
        binary_case.captures,
        None,
        RunRequest(binary_case.config.name, "r1"),
        store,
        LATE,
    )
    assert without.estimator_cache == "fit"
    assert set(_performance(without.results_uri)["kind"]) == {"estimated"}

    # When labels arrive, the cached estimator is reused and the realized calculator is added to the cache
    labelled = _run(binary_case, store, "r2")
    assert labelled.estimator_cache == "hit"
    assert _run(binary_case, store, "r3").estimator_cache == "hit"

    # Then results equal those of a run that fitted everything at once
    fresh = _run(binary_case, LocalStore(tmp_path / "fresh"), "r2")
    pd.testing.assert_frame_equal(_values(labelled.results_uri), _values(fresh.results_uri))
    assert set(_performance(labelled.results_uri)["kind"]) == {"estimated", "realized"}
