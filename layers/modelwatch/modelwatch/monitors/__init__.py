"""Monitors behind one interface (`monitors.base.Monitor`): each is fitted on the reference, analyses chunks and
returns rows of the one results table. A new monitor is a module here and one line in MONITORS."""

from __future__ import annotations

from modelwatch.config.model import ModelConfig
from modelwatch.errors import ConfigError
from modelwatch.monitors.attribution import AttributionMonitor
from modelwatch.monitors.base import Monitor
from modelwatch.monitors.bias import BiasMonitor
from modelwatch.monitors.data_quality import DataQualityMonitor
from modelwatch.monitors.drift import DriftMonitor
from modelwatch.monitors.performance import PerformanceMonitor

# In the order runs analyse them and reports show them.
MONITORS: dict[str, type[Monitor]] = {
    PerformanceMonitor.name: PerformanceMonitor,
    DriftMonitor.name: DriftMonitor,
    DataQualityMonitor.name: DataQualityMonitor,
    BiasMonitor.name: BiasMonitor,
    AttributionMonitor.name: AttributionMonitor,
}


def configured(config: ModelConfig) -> list[str]:
    """The monitors the model's config asks for, in run order."""
    return [name for name, kind in MONITORS.items() if kind.enabled(config)]


def monitor_for(name: str, config: ModelConfig) -> Monitor:
    """The named monitor of a model; ConfigError for a name no monitor has."""
    kind = MONITORS.get(name)
    if kind is None:
        raise ConfigError(f"no monitor named {name!r}; monitors are {sorted(MONITORS)}")
    return kind(config)
