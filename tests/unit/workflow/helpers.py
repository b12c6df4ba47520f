"""Shared builders for the workflow tests: model configs and hour counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelwatch.config.model import ModelConfig, load_model_config_text

T0 = datetime(2024, 3, 1, tzinfo=UTC)

CONFIG = """
name: {name}
endpoint: ep-{name}
problem_type: {problem_type}
features: [{{name: x}}, {{name: y}}]
output: {{format: csv, columns: [{columns}]}}
reference: s3://lake/models/{name}/reference.parquet
chunking: {chunking}
estimation: {{lateness: 15m}}
"""


def model_config(
    name: str = "loans", problem_type: str = "binary_classification", chunking: str = "{period: 1h}"
) -> ModelConfig:
    columns = "y_pred" if problem_type == "regression" else "y_pred_proba, y_pred"
    text = CONFIG.format(name=name, problem_type=problem_type, columns=columns, chunking=chunking)
    return load_model_config_text(text, f"{name}.yaml")


@dataclass(frozen=True)
class Counter:
    """Same fields as modelwatch.state.HourCounter."""

    hour: datetime
    rows: int = 0
    labels: int = 0
    data_version: int = 0
    label_version: int = 0


def hours(count: int, rows: int = 500, start: datetime = T0, labels: int = 0) -> list[Counter]:
    """`count` consecutive hours from `start`, each with `rows` rows in one file."""
    return [
        Counter(start + timedelta(hours=i), rows=rows, labels=labels, data_version=1, label_version=1 if labels else 0)
        for i in range(count)
    ]
