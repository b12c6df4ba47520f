"""Model versions: a switch in the middle of an hour splits that chunk in two partial chunks, each version's chunks
are estimated against its own reference (equal to nannyml run directly on those rows, 1e-9), a version without a
reference is reported and not estimated, and datapoints carry a Version dimension."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelwatch.analysis import RunOutcome, RunRequest, run_monitor
from modelwatch.config.model import parse_model_config
from modelwatch.constants import DIM_VERSION
from modelwatch.lake.store import LocalStore
from modelwatch.monitors.results import read_results, to_parquet
from modelwatch.publishing.datapoints import candidates
from tests.helpers import rescored

from .cases import LATE, Case
from .helpers import direct_estimated
from .test_reuse import CountedLake, _hours, _same_outcome

SWITCH = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # in the middle of the fourth hourly chunk
RETIRED = datetime(2026, 3, 2, 6, tzinfo=UTC)


def _second_model(reference: pd.DataFrame) -> pd.DataFrame:
    """The reference as a second model scores it (noisier probabilities): version 2's own reference."""
    return rescored(reference, 0.15, seed=3)


def _versioned(case: Case, *versions: dict[str, object]) -> Case:
    data = case.config.model_dump(mode="json", by_alias=True)
    data["versions"] = list(versions)
    return replace(case, config=parse_model_config(data))


def _estimated(stored: pd.DataFrame, version: str) -> pd.DataFrame:
    rows = stored[(stored["kind"] == "estimated") & (stored["version"] == version)]
    return rows.sort_values(["metric", "chunk_start"]).reset_index(drop=True)


def _run(
    case: Case, root: Path, references: dict[str, pd.DataFrame | None], labels: pd.DataFrame | None = None
) -> RunOutcome:
    """Every monitor of the case's captures over the whole window, each version with `references`' reference."""
    store = LocalStore(root)
    request = RunRequest(case.config.name, "r1")
    return run_monitor(
        case.config, case.reference, case.captures, labels, request, store, LATE, version_references=references
    )


@pytest.fixture(scope="module")
def two_versions(binary_case: Case, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, pd.DataFrame, object]:
    case = _versioned(
        binary_case,
        {"name": "v1"},
        {"name": "v2", "reference": "s3://lake/versions/v2/reference.parquet", "from": "2026-03-02T03:30:00Z"},
    )
    second = _second_model(case.reference)
    outcome = _run(case, tmp_path_factory.mktemp("versions"), {"v1": case.reference, "v2": second})
    return case, pd.read_parquet(outcome.results_uri), second


def test_a_switch_mid_hour_makes_two_partial_chunks_never_a_mixed_one(two_versions) -> None:
    case, stored, _ = two_versions
    performance = stored[stored["monitor"] == "performance"]
    windows = performance.drop_duplicates("chunk_key")[["chunk_key", "chunk_start", "chunk_end", "version", "rows"]]
    by_version = {v: part.sort_values("chunk_start") for v, part in windows.groupby("version")}
    assert set(by_version) == {"v1", "v2"}
    # v1: three whole hours and [03:00, 03:30); v2: [03:30, 04:00) and four whole hours
    v1, v2 = by_version["v1"].iloc[-1], by_version["v2"].iloc[0]
    assert (v1["chunk_key"], v1["chunk_end"]) == ("2026-03-02T03:00:00@v1", pd.Timestamp(SWITCH))
    assert (v2["chunk_key"], v2["chunk_start"]) == ("2026-03-02T03:00:00@v2", pd.Timestamp(SWITCH))
    assert (len(by_version["v1"]), len(by_version["v2"])) == (4, 5)
    # Every row of a chunk was captured while its version was live, and every row is in one chunk.
    stamps = case.direct_analysis["timestamp"]
    for row in windows.itertuples():
        start, end = row.chunk_start.tz_localize(None), row.chunk_end.tz_localize(None)
        assert row.rows == int(((stamps >= start) & (stamps < end)).sum())
        assert (row.version == "v1") == (end <= pd.Timestamp(SWITCH).tz_localize(None))
    assert int(windows["rows"].sum()) == len(case.direct_analysis)


def test_each_version_equals_nannyml_on_its_own_rows_and_reference(two_versions) -> None:
    case, stored, second = two_versions
    analysis = case.direct_analysis
    before = analysis[analysis["timestamp"] < pd.Timestamp(SWITCH).tz_localize(None)]
    after = analysis[analysis["timestamp"] >= pd.Timestamp(SWITCH).tz_localize(None)]
    for version, reference, rows in (("v1", case.reference, before), ("v2", second, after)):
        direct = direct_estimated(replace(case, reference=reference), rows)
        mine = _estimated(stored[stored["monitor"] == "performance"], version)
        for metric in case.config.metrics:
            got = mine[mine["metric"] == metric]
            assert len(got) == len(direct), (version, metric)
            for field in ("value", "sampling_error", "upper_threshold", "lower_threshold"):
                np.testing.assert_allclose(
                    got[field].to_numpy(dtype=float),
                    direct[(metric, field)].to_numpy(dtype=float),
                    rtol=0,
                    atol=1e-9,
                    equal_nan=True,
                    err_msg=f"{version} {metric} {field}",
                )
    # The versions' thresholds differ: each was fitted on its own reference.
    v1, v2 = _estimated(stored, "v1"), _estimated(stored, "v2")
    assert not np.allclose(v1["lower_threshold"].dropna().unique(), v2["lower_threshold"].dropna().unique())


def test_datapoints_carry_the_version(two_versions) -> None:
    case, stored, _ = two_versions
    rows = read_results(to_parquet(stored))
    found = candidates(case.config, rows, {})
    versions = {dict(p.dimensions).get(DIM_VERSION) for p in found.points if p.namespace is None}
    assert versions == {"v1", "v2"}
    # A chunk split at the switch publishes each part at its own start, so no ledger key is shared.
    assert len({p.ledger_key for p in found.points}) == len(found.points)


def test_a_version_without_reference_is_reported_not_estimated(binary_case: Case, tmp_path) -> None:
    case = _versioned(
        binary_case,
        {"name": "v1"},
        {"name": "v2", "from": "2026-03-02T03:30:00Z", "reference": "v2.parquet"},
        {"name": "v3", "from": "2026-03-02T06:00:00Z"},
    )
    outcome = _run(case, tmp_path, {"v1": case.reference, "v2": _second_model(case.reference), "v3": None})
    stored = pd.read_parquet(outcome.results_uri)
    assert set(stored["version"].dropna()) == {"v1", "v2"}
    assert stored["chunk_end"].max() == pd.Timestamp(RETIRED)
    skipped = [s for s in outcome.chunks_skipped if "no reference" in s["reason"]]
    assert {s["start"] for s in skipped} == {"2026-03-02T06:00:00Z", "2026-03-02T07:00:00Z"}
    assert all("modelwatch register --version v3 --reference" in s["reason"] for s in skipped)


def test_a_next_hour_run_reuses_both_parts_of_a_split_chunk(binary_case: Case, tmp_path) -> None:
    # Given versions switching in the middle of hour 3, v2's reference a file of its own, hours 0-5 analysed once
    second = tmp_path / "reference-v2.parquet"
    _second_model(binary_case.reference).to_parquet(second, index=False)
    case = _versioned(binary_case, {"name": "v1"}, {"name": "v2", "reference": str(second), "from": SWITCH.isoformat()})
    lake = CountedLake(tmp_path / "lake", case)
    lake.add_captures(_hours(case, 0, 6))
    first = lake.run("r1")
    assert first.chunks_analysed == 7 and first.chunks_reused == 0  # hour 3 is two chunks
    # When hours 6-7 arrive
    lake.add_captures(_hours(case, 6, 8))
    again = lake.run("r2")
    # Then both parts of hour 3 and the other unchanged hours keep their stored rows, and it equals a full run
    assert again.chunks_analysed == 9 and again.chunks_reused == 7
    _same_outcome(again, lake.run("full", counted=False), lake)


def test_labels_are_joined_once_for_every_version(binary_case: Case, tmp_path) -> None:
    # Given labels for every request, of both versions
    second = {"name": "v2", "reference": "v2.parquet", "from": SWITCH.isoformat()}
    case = _versioned(binary_case, {"name": "v1"}, second)
    references = {"v1": case.reference, "v2": _second_model(case.reference)}
    outcome = _run(case, tmp_path, references, labels=case.labels)
    # Then none is unmatched (each version's rows would leave the other's labels unmatched) and every part of a
    # chunk has realized values of its own labelled rows
    assert outcome.labels["unmatched_labels"] == 0 and outcome.labels["label_rows"] == len(case.labels)
    stored = pd.read_parquet(outcome.results_uri)
    realized = stored[(stored["monitor"] == "performance") & (stored["kind"] == "realized")]
    parts = realized.drop_duplicates("chunk_key")
    assert len(parts) == 9 and (parts["labelled_rows"] == parts["rows"]).all()
