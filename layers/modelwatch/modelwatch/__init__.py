"""modelwatch: serverless performance monitoring for SageMaker endpoints."""

from __future__ import annotations

__version__ = "0.1.0"
