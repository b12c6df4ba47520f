"""Comparing production variants: a challenger against the champion, chunk by chunk, on a performance metric.

Each variant is its own unit (modelwatch.units) with its own results; for every chunk both have, the difference
challenger minus champion of the metric's value (estimated, or realized where labelled) with its standard error.
The two variants serve different requests, so their sampling errors are independent:

    se(d_c) = sqrt(se_A,c^2 + se_B,c^2)

where se_X,c is nannyml's sampling error of the metric on chunk c (nannyml's sampling_error module). Over the last N
chunks both have, the mean difference D = sum(d_c) / N has the standard error

    se(D) = max( sqrt(sum se(d_c)^2) / N ,  sd(d_1 .. d_N) / sqrt(N) )

the larger of the one nannyml's sampling errors imply (chunks hold different requests) and the one the chunks' own
spread implies (from N >= 3 chunks). The second is there because nannyml's sampling error can understate the
spread: on synthetic chunks of 500 rows with a known ROC AUC (tests/unit/variants/test_compare.py), the realized
roc_auc varied from chunk to chunk about 1.4 times as much as its sampling error said, so the first alone made
intervals too narrow and "significant" differences that were not. The verdict is significant when |D| > z se(D)
(z = `comparison.z`, 1.96 by default: a two-sided 95 % level). An estimated
difference carries the estimator's own assumptions besides (CBPE: calibrated probabilities; no concept shift), which
its sampling error does not cover; the realized difference does not. "Better" follows the metric's direction
(modelwatch.monitors.direction): higher roc_auc, lower mae.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelwatch.config.model import ModelConfig
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED
from modelwatch.errors import LakeError, PublishError
from modelwatch.lake.layout import results_key
from modelwatch.lake.reports import find_report
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors.direction import HIGHER_IS_WORSE
from modelwatch.monitors.plots import ESTIMATED_COLOUR, FEATURE_COLOURS, REALIZED_COLOUR, new_figure
from modelwatch.monitors.results import ResultRow, read_results


@dataclass(frozen=True)
class ChunkDifference:
    """One chunk both variants have: their values, the difference challenger minus champion and its standard error
    (None where a sampling error is missing)."""

    chunk_start: datetime
    chunk_end: datetime | None
    champion: float
    challenger: float
    difference: float
    standard_error: float | None


@dataclass(frozen=True)
class Verdict:
    """The challenger against the champion on one metric and kind over the last `chunks` chunks both have."""

    metric: str
    kind: str
    champion: str
    challenger: str
    chunks: int
    difference: float | None  # mean challenger minus champion; None without a common chunk
    standard_error: float | None
    z: float
    significant: bool
    challenger_better: bool | None  # None when not significant

    @property
    def worse(self) -> bool:
        return self.significant and self.challenger_better is False

    def text(self) -> str:
        """A plain sentence: `challenger better than champion on roc_auc by 0.012 +/- 0.004 over the last 24 chunks`."""
        what = f"{self.metric} ({self.kind})"
        if self.difference is None:
            return f"{self.challenger} and {self.champion} have no chunk in common to compare on {what}"
        margin = f"+/- {self.standard_error:.4g}" if self.standard_error is not None else "(no sampling error)"
        size = f"{abs(self.difference):.4g} {margin}"
        span = f"over the last {self.chunks} chunk{'s' if self.chunks != 1 else ''}"
        if not self.significant:
            return (
                f"no significant difference between {self.challenger} and {self.champion} on {what}: "
                f"{self.difference:+.4g} {margin} {span} (|difference| within {self.z:g} standard errors)"
            )
        verb = "better" if self.challenger_better else "worse"
        return f"{self.challenger} {verb} than {self.champion} on {what} by {size} {span}"


def _values(rows: Iterable[ResultRow], metric: str, kind: str) -> dict[datetime, ResultRow]:
    return {
        r.chunk_start: r
        for r in rows
        if r.monitor == "performance"
        and r.metric == metric
        and r.kind == kind
        and r.value is not None
        and r.segment is None  # the whole variant's rows, not its segments'
    }


def chunk_differences(
    champion: Iterable[ResultRow], challenger: Iterable[ResultRow], metric: str, kind: str
) -> list[ChunkDifference]:
    """Per chunk both variants have (time order): challenger minus champion, and its standard error."""
    a, b = _values(champion, metric, kind), _values(challenger, metric, kind)
    found = []
    for start in sorted(set(a) & set(b)):
        x, y = a[start], b[start]
        assert x.value is not None and y.value is not None
        errors = (x.sampling_error, y.sampling_error)
        error = None if None in errors else math.hypot(*(e for e in errors if e is not None))
        found.append(ChunkDifference(start, x.chunk_end or y.chunk_end, x.value, y.value, y.value - x.value, error))
    return found


def verdict(
    differences: list[ChunkDifference],
    metric: str,
    kind: str,
    champion: str,
    challenger: str,
    last_chunks: int,
    z: float,
) -> Verdict:
    """The mean difference over the last `last_chunks` chunks, its standard error and whether it is significant."""
    recent = differences[-last_chunks:]
    if not recent:
        return Verdict(metric, kind, champion, challenger, 0, None, None, z, False, None)
    n = len(recent)
    mean = sum(d.difference for d in recent) / n
    errors = [d.standard_error for d in recent]
    error = None if None in errors else math.sqrt(sum(e * e for e in errors if e is not None)) / n
    if error is not None and n >= 3:  # the chunks' own spread, when nannyml's sampling error understates it
        spread = math.sqrt(sum((d.difference - mean) ** 2 for d in recent) / (n - 1))
        error = max(error, spread / math.sqrt(n))
    significant = error is not None and abs(mean) > z * error
    better = None
    if significant:
        better = mean < 0 if metric in HIGHER_IS_WORSE else mean > 0
    return Verdict(metric, kind, champion, challenger, len(recent), mean, error, z, significant, better)


# ---------------------------------------------------------------- from the lake
def latest_results(store: ObjectStore, unit: str) -> list[ResultRow]:
    """The rows of the unit's latest run with a report (every chunk of its window, reused ones too); none before
    its first run."""
    try:
        run = find_report(store, unit)
        return read_results(store.get(results_key(unit, run.run_id)))
    except (LakeError, PublishError):
        return []


@dataclass(frozen=True)
class Comparison:
    """A challenger against the champion on one metric and kind: the chunks both have and the verdict."""

    differences: list[ChunkDifference]
    verdict: Verdict


def compare_variants(
    config: ModelConfig,
    champion: str,
    challenger: str,
    champion_rows: list[ResultRow],
    challenger_rows: list[ResultRow],
    metrics: list[str] | None = None,
    last_chunks: int | None = None,
) -> list[Comparison]:
    """Per metric (default the model's) and kind (estimated, realized): the challenger's chunks against the
    champion's, with the verdict over the last `last_chunks` (default `comparison.last_chunks`)."""
    last = last_chunks or config.comparison.last_chunks
    found = []
    for metric in metrics or config.metrics:
        for kind in (KIND_ESTIMATED, KIND_REALIZED):
            differences = chunk_differences(champion_rows, challenger_rows, metric, kind)
            found.append(
                Comparison(
                    differences,
                    verdict(differences, metric, kind, champion, challenger, last, config.comparison.z),
                )
            )
    return found


def comparison_figure(comparisons: list[Comparison], z: float) -> Any:
    """Per metric and kind, each chunk's difference challenger minus champion with +/- z standard errors."""
    figure = new_figure(layout={"yaxis": {"title": {"text": "challenger minus champion"}}, "height": 420})
    metrics = list(dict.fromkeys(c.verdict.metric for c in comparisons))
    for comparison in comparisons:
        if not comparison.differences:
            continue
        verdict = comparison.verdict
        colour = ESTIMATED_COLOUR if verdict.kind == KIND_ESTIMATED else REALIZED_COLOUR
        if len(metrics) > 1:
            colour = FEATURE_COLOURS[metrics.index(verdict.metric) % len(FEATURE_COLOURS)]
        errors = [z * (d.standard_error or 0.0) for d in comparison.differences]
        figure.add_scatter(
            x=[d.chunk_start.isoformat() for d in comparison.differences],
            y=[d.difference for d in comparison.differences],
            error_y={"type": "data", "array": errors, "visible": True},
            mode="lines+markers",
            name=f"{verdict.metric} ({verdict.kind})",
            line={"color": colour, "dash": "solid" if verdict.kind == KIND_ESTIMATED else "dot"},
        )
    figure.add_hline(y=0.0, line={"color": "#888888", "width": 1})
    figure.update_xaxes(title={"text": "Chunk start (UTC)"})
    return figure
