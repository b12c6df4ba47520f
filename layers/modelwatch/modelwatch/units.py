"""Monitored units: a model that watches several production variants of its endpoint (`variants:` in its config) is
monitored as one unit per variant, named `<model>.<variant>`.

A unit is a model in every respect the pipeline knows (its lake partition, fitted baselines, state, runs, results
and reports live under the unit name), so every monitor works per variant unchanged; CloudWatch sees the model and
the variant as two dimensions, `Model` and `Variant`. Model names cannot hold a `.`, so the split is unambiguous; a
model that watches one variant (the default) is its own unit and keeps its name.
"""

from __future__ import annotations

from modelwatch.constants import DIM_MODEL, DIM_VARIANT

SEPARATOR = "."


def unit_name(model: str, variant: str) -> str:
    """The unit of `model` watching `variant`."""
    return f"{model}{SEPARATOR}{variant}"


def split_unit(name: str) -> tuple[str, str | None]:
    """(model, variant) of a unit name; (name, None) for a model watching one variant under its own name."""
    model, separator, variant = name.partition(SEPARATOR)
    return (model, variant) if separator else (name, None)


def model_of(name: str) -> str:
    """The model a unit belongs to (the name itself for a single-variant model)."""
    return split_unit(name)[0]


def model_dimensions(name: str) -> tuple[tuple[str, str], ...]:
    """CloudWatch dimensions naming a unit: `Model`, and `Variant` for a unit of a model watching several variants."""
    model, variant = split_unit(name)
    return ((DIM_MODEL, model),) if variant is None else ((DIM_MODEL, model), (DIM_VARIANT, variant))
