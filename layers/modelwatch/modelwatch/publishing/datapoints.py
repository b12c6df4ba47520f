"""One path from any monitor's results rows to CloudWatch datapoints and alerts: each monitor says which of its rows
are published and which are alerts (`Monitor.publish`); this module versions them for the ledger."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

from modelwatch.config.model import MetricsProfile, ModelConfig
from modelwatch.monitors import configured, monitor_for
from modelwatch.monitors.base import MetricPoint, Monitor, Publication
from modelwatch.monitors.results import ResultRow
from modelwatch.monitors.segments import segment_publication
from modelwatch.monitors.versions import version_publication
from modelwatch.publishing.metrics import Datapoint, Skipped
from modelwatch.state import ledger_key


def value_version(value: float | None, *parts: object) -> str:
    """A short hash of a value (12 significant digits) and the data it came from (row counts, coverage): the
    ledger's version of a published datapoint, so a value is sent again only when it changed."""
    text = "nan" if value is None or not math.isfinite(value) else f"{value:.12g}"
    joined = "|".join([text, *(str(p) for p in parts)])
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def to_datapoint(point: MetricPoint) -> Datapoint:
    """A monitor's point as a CloudWatch datapoint with its ledger key and version."""
    return Datapoint(
        metric_name=point.metric_name,
        dimensions=point.dimensions,
        timestamp=point.timestamp,
        value=point.value,
        unit=point.unit,
        ledger_key=ledger_key(point.series, point.ledger_metric, point.timestamp),
        version=value_version(point.value, *point.version_parts),
        namespace=point.namespace,
    )


@dataclass
class Candidates:
    """What a run's rows become: datapoints to send, points held back with their reason, alert rows (the worse
    side) and improvement rows (the better side)."""

    points: list[Datapoint] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    alerts: list[ResultRow] = field(default_factory=list)
    improvements: list[ResultRow] = field(default_factory=list)
    detail_left_out: int = 0  # points marked detail, not sent under the lean metrics profile (results keep them)


def candidates(config: ModelConfig, rows: list[ResultRow], summaries: dict[str, dict[str, Any]]) -> Candidates:
    """Every configured monitor's publication of its own rows (`summaries`: each monitor's window summary); under
    the lean metrics profile without the points marked detail (alerts are decided on rows, so they do not change)."""
    found = Candidates()
    full = config.cloudwatch.profile is MetricsProfile.FULL
    for name in configured(config):
        monitor = monitor_for(name, config)
        own = [r for r in rows if r.monitor == name]
        # While more than one version is live, each version's rows are published apart, with a Version dimension
        # (modelwatch.monitors.versions); the model's incident follows every version's alerts.
        versions = sorted({r.version for r in own}, key=lambda v: v or "") if config.versioned else [None]
        for version in versions:
            part = [r for r in own if r.version == version] if config.versioned else own
            for publication in _publications(monitor, part, summaries.get(name, {})):
                _collect(found, version_publication(publication, version) if version else publication, full)
    return found


def _publications(monitor: Monitor, rows: list[ResultRow], summary: dict[str, Any]) -> list[Publication]:
    """A monitor's publication of its whole rows, and each segment's (modelwatch.monitors.segments: datapoints with
    a Segment dimension, no incident of their own)."""
    publications = [monitor.publish([r for r in rows if r.segment is None], summary)]
    for label in sorted({r.segment for r in rows if r.segment is not None}):
        part = [replace(r, segment=None) for r in rows if r.segment == label]
        publications.append(segment_publication(monitor.publish(part, {}), label))
    return publications


def _collect(found: Candidates, publication: Publication, full: bool) -> None:
    """One publication's points (without detail under the lean profile), gated points, alerts and improvements."""
    found.points.extend(to_datapoint(p) for p in publication.points if full or not p.detail)
    found.skipped.extend(
        Skipped(to_datapoint(g.point), g.reason) for g in publication.gated if full or not g.point.detail
    )
    found.detail_left_out += sum(1 for p in publication.points if p.detail and not full)
    found.alerts.extend(publication.alerts)
    found.improvements.extend(publication.improvements)
