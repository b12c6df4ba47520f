"""Configuration: the model config (YAML) and each function's environment."""

from __future__ import annotations

from modelwatch.config.model import (
    Chunking,
    Estimation,
    Feature,
    ModelConfig,
    ProblemType,
    load_model_config,
    load_model_config_text,
    parse_duration,
    parse_model_config,
)

__all__ = [
    "Chunking",
    "Estimation",
    "Feature",
    "ModelConfig",
    "ProblemType",
    "load_model_config",
    "load_model_config_text",
    "parse_duration",
    "parse_model_config",
]
