"""Model configs (nannyml-like datasets) and sample capture files for the capture decoder tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwatch.config.model import ModelConfig, parse_model_config
from tests.helpers import EVENTS

CAPTURES = EVENTS / "captures"

CAR_LOAN_FEATURES = [
    {"name": "car_value", "type": "numeric"},
    {"name": "salary_range", "type": "categorical"},
    {"name": "debt_to_income_ratio", "type": "numeric"},
    {"name": "loan_length", "type": "numeric"},
    {"name": "repaid_loan_on_prev_car", "type": "categorical"},
    {"name": "size_of_downpayment", "type": "categorical"},
    {"name": "driver_tenure", "type": "numeric"},
]
CREDIT_CARD_FEATURES = [
    {"name": "acq_channel", "type": "categorical"},
    {"name": "app_behavioral_score", "type": "numeric"},
    {"name": "requested_credit_limit", "type": "numeric"},
    {"name": "app_channel", "type": "categorical"},
    {"name": "credit_bureau_score", "type": "numeric"},
    {"name": "stated_income", "type": "numeric"},
    {"name": "is_customer", "type": "categorical"},
]
CAR_PRICE_FEATURES = [
    {"name": "car_age", "type": "numeric"},
    {"name": "km_driven", "type": "numeric"},
    {"name": "price_new", "type": "numeric"},
    {"name": "accident_count", "type": "numeric"},
    {"name": "door_count", "type": "numeric"},
    {"name": "fuel", "type": "categorical"},
    {"name": "transmission", "type": "categorical"},
]
CREDIT_CARD_CLASSES = ["prepaid_card", "highstreet_card", "upmarket_card"]


def make_config(**overrides: Any) -> ModelConfig:
    """The car-loan binary model (CSV in, probability out), with overrides."""
    data: dict[str, Any] = {
        "name": "car_loan",
        "endpoint": "car-loan-endpoint",
        "problem_type": "binary_classification",
        "features": CAR_LOAN_FEATURES,
        "output": {"format": "csv", "columns": ["y_pred_proba"]},
    }
    data.update(overrides)
    return parse_model_config(data, "<test>")


@pytest.fixture
def car_loan() -> ModelConfig:
    return make_config()


@pytest.fixture
def car_loan_json_out() -> ModelConfig:
    return make_config(
        output={
            "format": "json",
            "probabilities": "$.predictions[*].score",
            "prediction": "$.predictions[*].predicted_label",
        }
    )


@pytest.fixture
def credit_card_json() -> ModelConfig:
    return make_config(
        name="credit_card",
        problem_type="multiclass_classification",
        features=CREDIT_CARD_FEATURES,
        classes=CREDIT_CARD_CLASSES,
        input={"format": "json", "instances": "$.instances"},
        output={"format": "json", "probabilities": "$.probabilities"},
    )


@pytest.fixture
def credit_card_csv() -> ModelConfig:
    return make_config(
        name="credit_card",
        problem_type="multiclass_classification",
        features=CREDIT_CARD_FEATURES,
        classes=CREDIT_CARD_CLASSES,
        output={"format": "csv", "columns": [f"y_pred_proba_{c}" for c in CREDIT_CARD_CLASSES]},
    )


@pytest.fixture
def car_price() -> ModelConfig:
    return make_config(
        name="car_price",
        problem_type="regression",
        features=CAR_PRICE_FEATURES,
        input={"format": "json", "instances": "$.instances"},
        output={"format": "json", "prediction": "$.predictions"},
    )


def capture_bytes(name: str) -> bytes:
    """A sample capture or ground-truth file from `events/captures/`."""
    return (CAPTURES / name).read_bytes()


def corpus_files() -> list[Path]:
    return sorted((Path(__file__).parent / "corpus").glob("*.jsonl"))


def refuse(monkeypatch: pytest.MonkeyPatch, reason: str, *places: tuple[object, str]) -> None:
    """Each `(object, attribute)` replaced by a function that fails the test with `reason` when it is called: the
    path a test expects the decoder to take is the only one it can take."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError(reason)

    for owner, name in places:
        monkeypatch.setattr(owner, name, refused)
