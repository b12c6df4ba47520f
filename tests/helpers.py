"""Test helpers shared by all suites: canonical events from `events/`, repository paths, handler loading."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"


def load_event(name: str) -> dict[str, Any]:
    """Load one canonical event JSON from `events/` (name with or without `.json`)."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


def load_handler(function: str) -> ModuleType:
    """Import `functions/<function>/app.py` as a module, the way Lambda would."""
    path = FUNCTIONS / function / "app.py"
    module_name = f"modelwatch_fn_{function}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@cache
def _state_table_schema() -> dict[str, Any]:
    from modelwatch_cli.local.template import Template

    properties = Template(ROOT / "template.yaml").properties("StateTable")
    return {key: properties[key] for key in ("AttributeDefinitions", "KeySchema", "BillingMode")}


def create_state_table(dynamodb: Any, name: str) -> None:
    """Create the state table on moto with the key schema template.yaml gives it."""
    dynamodb.create_table(TableName=name, **_state_table_schema())


def rescored(reference: Any, noise: float, seed: int) -> Any:
    """The reference as a noisier binary model scores it (its probabilities shaken by normal noise of sd `noise`,
    seeded, the predicted class following): a second model version's own reference."""
    import numpy as np

    noisy = reference.copy()
    shaken = noisy["y_pred_proba"] + np.random.default_rng(seed).normal(0.0, noise, len(noisy))
    noisy["y_pred_proba"] = shaken.clip(0.001, 0.999)
    noisy["y_pred"] = (noisy["y_pred_proba"] >= 0.5).astype(int)
    return noisy
