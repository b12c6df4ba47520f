"""Logger, tracer and metrics shared by every handler; service name and namespace come from the template."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

from modelwatch.constants import DEFAULT_METRIC_NAMESPACE

logger = Logger()
tracer = Tracer()
# The template sets POWERTOOLS_METRICS_NAMESPACE; an explicit argument would override it, so only default it here.
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRIC_NAMESPACE)
