"""Fixtures: nannyml's synthetic datasets as lake rows (built once per session), nannyml's warnings silenced."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from .cases import LATE, Case, binary_case_data, multiclass_case_data, regression_case_data

__all__ = ["LATE", "Case"]


@pytest.fixture(scope="session")
def binary_case() -> Case:
    return binary_case_data()


@pytest.fixture(scope="session")
def multiclass_case() -> Case:
    return multiclass_case_data()


@pytest.fixture(scope="session")
def regression_case() -> Case:
    return regression_case_data()


@pytest.fixture(autouse=True)
def _quiet_nannyml() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
