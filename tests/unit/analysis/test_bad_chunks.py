"""A bad chunk is not a dead model, labels never stop an estimate, and each captured record counts once: poisoned
rows skip their chunk (with the reason, no value in it) and every other chunk gets exactly the values it gets
without the poison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelwatch.analysis import RunOutcome, RunRequest, run_monitor
from modelwatch.analysis import run as analysis_run
from modelwatch.errors import ChunkDataError
from modelwatch.lake.store import LocalStore

from .cases import LATE, Case
from .test_reuse import CountedLake, _hours

HOURS = 4


def _lean(case: Case) -> Case:
    """The case's first hours, performance only (drift and data quality off): a few small fits."""
    estimation = case.config.estimation.model_copy(update={"drift_metrics": False, "top_features": 0})
    quality = case.config.data_quality.model_copy(update={"enabled": False})
    config = case.config.model_copy(update={"estimation": estimation, "data_quality": quality})
    captures = _hours(case, 0, HOURS)
    labels = case.labels.loc[case.labels["inference_id"].isin(set(captures["inference_id"]))]
    return Case(**{**case.__dict__, "config": config, "captures": captures, "labels": labels})


@pytest.fixture(scope="module")
def lean(binary_case: Case) -> Case:
    return _lean(binary_case)


def _run(case: Case, root, captures=None, labels=None) -> RunOutcome:
    return run_monitor(
        case.config,
        case.reference,
        case.captures if captures is None else captures,
        case.labels if labels is None else labels,
        RunRequest(case.config.name, "r1"),
        LocalStore(root),
        LATE,
    )


def _values(outcome: RunOutcome, kinds: tuple[str, ...] = ("estimated", "realized")) -> pd.DataFrame:
    """The published values by chunk (the chunk index over the window is left out: it counts the skipped ones)."""
    assert outcome.results_uri is not None
    table = pd.read_parquet(outcome.results_uri).drop(columns=["run_id", "chunk_index"])
    table = table.loc[table["kind"].isin(kinds)]
    return table.sort_values(["chunk_start", "metric", "kind"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def clean(lean: Case, tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    return _run(lean, tmp_path_factory.mktemp("clean"))


def _hour(captures: pd.DataFrame, hour: int) -> pd.Series:
    start = pd.Timestamp("2026-03-02", tz="UTC") + pd.Timedelta(hours=hour)
    return (captures["inference_time"] >= start) & (captures["inference_time"] < start + pd.Timedelta(hours=1))


def _poisoned(case: Case) -> pd.DataFrame:
    """The case's captures with an infinite probability in hour 1 (nannyml fails on it) and a prediction outside 0/1
    in hour 2."""
    captures = case.captures.copy()
    first_of = {h: captures.index[_hour(captures, h)][0] for h in (1, 2)}
    captures.loc[first_of[1], "y_pred_proba"] = np.inf
    captures["y_pred"] = captures["y_pred"].astype("object")
    captures.loc[first_of[2], "y_pred"] = 7
    return captures


def test_poisoned_chunks_are_skipped_and_the_others_keep_their_values(lean: Case, clean: RunOutcome, tmp_path) -> None:
    # Given an infinite probability in hour 1 (nannyml fails on it) and a prediction outside 0/1 in hour 2
    captures = _poisoned(lean)
    # When the run analyses them
    outcome = _run(lean, tmp_path, captures=captures)
    # Then hours 1 and 2 are skipped with their reasons (named, no value from the rows in them)
    reasons = {s["start"][11:16]: s["reason"] for s in outcome.chunks_skipped}
    assert set(reasons) == {"01:00", "02:00"}
    assert "y_pred" in reasons["02:00"] and "1 value(s)" in reasons["02:00"] and "7" not in reasons["02:00"]
    assert reasons["01:00"].startswith(("ValueError", "CalculatorException", "InvalidArgumentsException"))
    assert outcome.chunks_analysed == HOURS - 2
    # And hours 0 and 3 have exactly the values they have without the poison
    kept = _values(clean)
    kept = kept.loc[~kept["chunk_start"].dt.hour.isin([1, 2])].reset_index(drop=True)
    pd.testing.assert_frame_equal(_values(outcome), kept)


def test_read_an_hour_at_a_time_poisoned_hours_are_skipped_and_the_others_analysed(
    lean: Case, clean: RunOutcome, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the poisoned hours in a lake whose steps read and analyse one hour at a time
    lake = CountedLake(tmp_path, lean)
    lake.add_captures(_poisoned(lean).astype({"y_pred": "int64"}))
    lake.add_labels(lean.labels["inference_id"])
    monkeypatch.setattr(analysis_run, "BATCH_ROWS", 2_500)
    # When the model runs
    outcome = lake.run("r1")
    # Then the two poisoned hours, each its own batch, are skipped with the reasons an in-memory run gives, and the
    # other two have the clean run's values
    reasons = {s["start"][11:16]: s["reason"] for s in outcome.chunks_skipped}
    assert set(reasons) == {"01:00", "02:00"} and "y_pred" in reasons["02:00"]
    assert outcome.chunks_analysed == HOURS - 2
    kept = _values(clean)
    kept = kept.loc[~kept["chunk_start"].dt.hour.isin([1, 2])].reset_index(drop=True)
    pd.testing.assert_frame_equal(_values(outcome), kept)


def test_when_every_chunk_is_bad_the_run_fails_by_name_without_values(lean: Case, tmp_path) -> None:
    # Given a prediction no chunk can use in every row
    captures = lean.captures.assign(y_pred="maybe")
    # When the run analyses them, then it fails naming the column, never the value
    with pytest.raises(ChunkDataError) as failed:
        _run(lean, tmp_path, captures=captures)
    assert "y_pred" in str(failed.value) and "maybe" not in str(failed.value)


def test_labels_never_stop_the_estimates(lean: Case, clean: RunOutcome, tmp_path) -> None:
    # Given a label outside the model's classes, and two captured requests sharing an inference id
    labels = lean.labels.copy()
    labels["y_true"] = labels["y_true"].astype("object")
    labels.loc[labels.index[0], "y_true"] = 7
    captures = lean.captures.copy()
    twins = captures.index[_hour(captures, 3)][:2]
    captures.loc[twins[1], "inference_id"] = captures.loc[twins[0], "inference_id"]
    # When the run joins them (this used to fail: the label, then "Merge keys are not unique")
    outcome = _run(lean, tmp_path, captures=captures, labels=labels)
    # Then the label is left out and counted, the twins get no label, and every estimate is the clean run's (what
    # the labels decide beside an estimate, its coverage and its error against the realized value, changes with them)
    assert outcome.labels["invalid_labels"] == 1 and outcome.labels["ambiguous_rows"] == 2
    assert outcome.chunks_analysed == HOURS and not outcome.chunks_skipped
    from_labels = ["estimation_error", "labelled_rows", "label_coverage"]
    estimates, clean_estimates = (_values(o, ("estimated",)).drop(columns=from_labels) for o in (outcome, clean))
    pd.testing.assert_frame_equal(estimates, clean_estimates)
    fewer = _values(clean, ("estimated",))["labelled_rows"] - _values(outcome, ("estimated",))["labelled_rows"]
    assert set(fewer) <= {0, 1, 2} and fewer.any()


def test_labels_that_cannot_be_joined_skip_only_the_realized_values(lean: Case, clean: RunOutcome, tmp_path) -> None:
    # Given ground truth without its label column
    outcome = _run(lean, tmp_path, labels=lean.labels.drop(columns=["y_true"]))
    # Then every chunk is estimated as without the problem, and its realized values are skipped with the reason
    assert outcome.chunks_analysed == HOURS
    assert len(outcome.realized_skipped) == HOURS
    assert all("labels not usable" in s["reason"] and "y_true" in s["reason"] for s in outcome.realized_skipped)
    estimates = _values(outcome)
    assert set(estimates["kind"]) == {"estimated"} and (estimates["labelled_rows"] == 0).all()
    assert estimates["estimation_error"].isna().all()  # nothing realized to compare with
    from_labels = ["estimation_error", "labelled_rows", "label_coverage"]
    pd.testing.assert_frame_equal(
        estimates.drop(columns=from_labels), _values(clean, ("estimated",)).drop(columns=from_labels)
    )


def test_a_copied_capture_file_counts_once_with_and_without_labels(lean: Case, tmp_path) -> None:
    # Given the same captures in the lake twice (a copy under another name) and their labels
    doubled = CountedLake(tmp_path / "doubled", lean, lean.config)
    single = CountedLake(tmp_path / "single", lean, lean.config)
    for lake in (doubled, single):
        lake.add_captures(lean.captures)
        lake.add_labels(lean.labels["inference_id"])
    doubled.add_captures(lean.captures)
    # When both lakes are analysed (with labels this failed with "Merge keys are not unique")
    twice, once = doubled.run("r1"), single.run("r1")
    # Then the copy is counted (in the outcome) and the results are the single lake's
    assert (twice.rows_duplicate, twice.rows_superseded) == (len(lean.captures), 0)
    assert (once.rows_duplicate, once.rows_superseded) == (0, 0)
    assert [c["rows"] for c in twice.label_coverage] == [c["rows"] for c in once.label_coverage]
    pd.testing.assert_frame_equal(doubled.results(twice), single.results(once), check_exact=True)


def test_when_every_new_chunk_fails_the_reused_ones_stay_and_each_new_one_is_skipped(lean: Case, tmp_path) -> None:
    # Given a lake whose first two hours were analysed, then two new hours whose probabilities nannyml refuses
    lake = CountedLake(tmp_path, lean, lean.config)
    lake.add_captures(_hours(lean, 0, 2))
    first = lake.run("r1")
    poisoned = _hours(lean, 2, 4).copy()
    poisoned["y_pred_proba"] = np.inf
    lake.add_captures(poisoned)
    # When the next run analyses the new hours
    outcome = lake.run("r2")
    # Then both new hours are skipped with the analysis' reason, and the reused hours keep their values
    assert outcome.chunks_analysed == 2 and outcome.chunks_reused == 2
    assert [s["start"][11:16] for s in outcome.chunks_skipped] == ["02:00", "03:00"]
    assert all(s["reason"] for s in outcome.chunks_skipped) and not outcome.realized_skipped
    pd.testing.assert_frame_equal(lake.results(outcome), lake.results(first), check_exact=True)
