"""Bad input fails the model's run with a named error whose message names the column or class."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelwatch.analysis import RunRequest, run_monitor
from modelwatch.errors import ConfigMismatchError, EmptyWindowError, ModelwatchError, ReferenceDataError
from modelwatch.lake.store import LocalStore

from .cases import LATE, Case


def _run(case: Case, tmp_path, *, reference=None, captures=None, labels=None, config=None, request=None):
    return run_monitor(
        config or case.config,
        case.reference if reference is None else reference,
        case.captures if captures is None else captures,
        labels,
        request or RunRequest(case.config.name, "r1"),
        LocalStore(tmp_path),
        LATE,
    )


def test_missing_feature_in_captures(binary_case: Case, tmp_path) -> None:
    with pytest.raises(ConfigMismatchError, match=r"lack feature column.*'driver_tenure'"):
        _run(binary_case, tmp_path, captures=binary_case.captures.drop(columns=["driver_tenure"]))


def test_no_probabilities_for_cbpe(binary_case: Case, tmp_path) -> None:
    with pytest.raises(ConfigMismatchError, match=r"no probabilities for CBPE.*y_pred_proba"):
        _run(binary_case, tmp_path, captures=binary_case.captures.drop(columns=["y_pred_proba"]))
    empty = binary_case.captures.assign(y_pred_proba=float("nan"))
    with pytest.raises(ConfigMismatchError, match="no probabilities for CBPE"):
        _run(binary_case, tmp_path, captures=empty)


def test_wrong_class_list(multiclass_case: Case, tmp_path) -> None:
    # the config names a class the endpoint never scores: its probability column is missing
    classes = ["prepaid_card", "highstreet_card", "premium_card"]
    config = multiclass_case.config.model_copy(update={"classes": classes})
    with pytest.raises(ConfigMismatchError, match="y_pred_proba_premium_card"):
        _run(multiclass_case, tmp_path, config=config)
    # the endpoint predicts a class the config does not list
    renamed = multiclass_case.captures.assign(
        y_pred=multiclass_case.captures["y_pred"].replace("upmarket_card", "gold")
    )
    # (every chunk holds it, so the run fails; the message counts the values, it never quotes them)
    with pytest.raises(ConfigMismatchError, match=r"y_pred: \d+ value\(s\) are not in the configured classes") as bad:
        _run(multiclass_case, tmp_path, captures=renamed)
    assert "gold" not in str(bad.value)


def test_reference_with_a_single_class(binary_case: Case, tmp_path) -> None:
    reference = binary_case.reference.assign(repaid=1.0)
    with pytest.raises(ReferenceDataError, match="'repaid' holds a single class"):
        _run(binary_case, tmp_path, reference=reference)


def test_reference_missing_columns(binary_case: Case, tmp_path) -> None:
    with pytest.raises(ReferenceDataError, match=r"lacks column\(s\) \['timestamp'\]"):
        _run(binary_case, tmp_path, reference=binary_case.reference.drop(columns=["timestamp"]))
    with pytest.raises(ReferenceDataError, match=r"lacks column\(s\) \['repaid'\]"):
        _run(binary_case, tmp_path, reference=binary_case.reference.drop(columns=["repaid"]))


def test_empty_window(binary_case: Case, tmp_path) -> None:
    request = RunRequest("car-loan", "r1", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
    with pytest.raises(EmptyWindowError, match="no captured rows"):
        _run(binary_case, tmp_path, request=request)
    with pytest.raises(EmptyWindowError):
        _run(binary_case, tmp_path, captures=binary_case.captures.iloc[:0])


def test_errors_are_modelwatch_errors_for_the_state_machine() -> None:
    for error in (ConfigMismatchError, EmptyWindowError, ReferenceDataError):
        assert issubclass(error, ModelwatchError)
