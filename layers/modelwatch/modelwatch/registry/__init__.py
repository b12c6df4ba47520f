"""The model registry: configs and reference data in the lake."""

from __future__ import annotations

from modelwatch.registry.store import Registry

__all__ = ["Registry"]
