"""How `modelwatch run` and `demo` end (#20): per model and metric, the latest estimate, the realized value where
labels are known, and the verdict with its direction, read from what publishing left next to the reports (the
model's `runs.json`: its incidents' verdict, never recomputed) and the latest run's results table."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from modelwatch.clock import to_utc
from modelwatch.constants import KIND_ESTIMATED, KIND_REALIZED, LAKE_REPORTS
from modelwatch.lake.layout import results_key
from modelwatch.monitors.performance import MONITOR as PERFORMANCE
from modelwatch.monitors.wording import SIDE_WORDS, number

Reader = Callable[[str], bytes | None]  # a lake key's body, None when it is not there

LEGEND = (
    "Where each model stands. estimate: nannyml's estimate of the latest chunk, without labels (CBPE/DLE); "
    "realized: computed from labels (the chunk's start in brackets when from an earlier chunk); verdict: DEGRADED "
    "or IMPROVED while the metric is in an open incident (below/above: the side of its alert band), 'outside its "
    "band' when the latest chunk crossed but not yet often enough for an incident (alerts.in_alert), ok within its "
    "band. Numbers are rounded: full precision in results/ and metrics.jsonl."
)


@dataclass(frozen=True)
class MetricLine:
    """One row of the final table."""

    model: str
    metric: str
    chunk: datetime | None
    estimate: float | None
    realized: float | None
    realized_chunk: datetime | None
    verdict: str
    alerting: bool


@dataclass
class ModelStory:
    """A model's verdict (the headline of its latest report) and its metric lines."""

    model: str
    headline: str
    status: str
    lines: list[MetricLine] = field(default_factory=list)


def latest_runs(read: Reader, model: str) -> list[dict[str, Any]]:
    """The model's runs as its index lists them (latest first); empty when none was published."""
    body = read(f"{LAKE_REPORTS}/model={model}/runs.json")
    if body is None:
        return []
    try:
        loaded = json.loads(body)
    except ValueError:
        return []
    return [e for e in loaded if isinstance(e, dict)] if isinstance(loaded, list) else []


def _metric_verdict(entry: dict[str, Any] | None, status: str, crossed: bool) -> tuple[str, bool]:
    if entry is not None:
        side = SIDE_WORDS.get(str(entry.get("side")), "outside")
        kind = "DEGRADED" if entry.get("kind") == "degradation" else "IMPROVED"
        return f"{kind}: {side} its band", kind == "DEGRADED"
    if crossed:
        return "outside its band (not an incident yet)", False
    return ("ok" if status != "NO DATA" else "no data"), False


def model_story(read: Reader, model: str, metrics: list[str]) -> ModelStory:
    """The model's final lines: every configured metric (then any other metric in its incidents)."""
    import polars as pl

    runs = latest_runs(read, model)
    if not runs:
        return ModelStory(model, "no run published", "NO DATA")
    latest = runs[0]
    status = str(latest.get("status", ""))
    story = ModelStory(model, str(latest.get("text", "")), status)
    in_incident = {str(m.get("label")): m for m in latest.get("metrics", []) if isinstance(m, dict)}
    body = read(results_key(model, str(latest.get("run_id"))))
    table = None
    if body:
        table = pl.read_parquet(io.BytesIO(body))
        # The whole model's rows: a segment's (modelwatch.monitors.segments) share its chunks and metrics.
        whole = pl.col("segment").is_null() if "segment" in table.columns else pl.lit(True)
        table = table.filter((pl.col("monitor") == PERFORMANCE) & whole)
    for metric in metrics:
        chunk = estimate = realized = realized_chunk = None
        crossed = False
        if table is not None and table.height:
            rows = table.filter(pl.col("metric") == metric).sort("chunk_start")
            estimated = rows.filter(pl.col("kind") == KIND_ESTIMATED)
            if estimated.height:
                last = estimated.row(-1, named=True)
                chunk, estimate, crossed = to_utc(last["chunk_start"]), last["value"], bool(last["alert"])
            known = rows.filter((pl.col("kind") == KIND_REALIZED) & pl.col("value").is_not_null())
            if known.height:
                last = known.row(-1, named=True)
                realized, realized_chunk = last["value"], to_utc(last["chunk_start"])
                if chunk is not None and realized_chunk == chunk:
                    crossed = crossed or bool(last["alert"])
        verdict, alerting = _metric_verdict(in_incident.pop(metric, None), status, crossed)
        story.lines.append(MetricLine(model, metric, chunk, estimate, realized, realized_chunk, verdict, alerting))
    for label, entry in in_incident.items():  # other monitors' metrics in an incident (drift, data quality, bias)
        verdict, alerting = _metric_verdict(entry, status, True)
        story.lines.append(MetricLine(model, label, None, None, None, None, verdict, alerting))
    return story


def _short(moment: datetime) -> str:
    return f"{to_utc(moment):%m-%d %H:%M}"


def _realized(line: MetricLine) -> str:
    if line.realized is None:
        return "no labels yet" if line.chunk is not None else "-"
    if line.realized_chunk is not None and line.realized_chunk != line.chunk:
        return f"{number(line.realized)} ({to_utc(line.realized_chunk):%H:%M})"
    return number(line.realized)


def render_stories(console: Any, stories: list[ModelStory]) -> None:
    """A table per model, titled with its verdict (columns fold to the console's width: nothing is cut), then the
    legend."""
    from rich.table import Table
    from rich.text import Text

    for story in stories:
        style = {"DEGRADED": "bold red", "OK": "bold green", "IMPROVED": "bold blue"}.get(story.status, "bold")
        table = Table(
            title=Text(f"{story.model}: {story.headline}", style=style),
            title_justify="left",
            caption="times UTC",
            caption_justify="left",
        )
        longest = max((len(line.metric) for line in story.lines), default=6)
        table.add_column("metric", overflow="fold", min_width=min(longest, 24))
        table.add_column("latest chunk", overflow="fold")
        table.add_column("estimate", justify="right", overflow="fold")
        table.add_column("realized", justify="right", overflow="fold")
        table.add_column("verdict", overflow="fold", min_width=9)  # DEGRADED: unbroken
        for line in story.lines:
            mark = "bold red" if line.alerting else ("blue" if line.verdict.startswith("IMPROVED") else "")
            table.add_row(
                line.metric,
                _short(line.chunk) if line.chunk else "-",
                number(line.estimate) if line.estimate is not None else "-",
                _realized(line),
                Text(line.verdict, style=mark),
            )
        console.print(table)
    console.print(Text(LEGEND, style="dim"))


def export_report_folder(s3: Any, bucket: str, output: Path) -> list[Path]:
    """The reports folder's shared files (plotly.js, the fleet's index) out of the stack's lake into `output`,
    beside the models' reports; returns the files written."""
    written = []
    response = s3.list_objects_v2(Bucket=bucket, Prefix=f"{LAKE_REPORTS}/", Delimiter="/")
    for item in response.get("Contents", []):
        target = output / item["Key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        written.append(target)
    return written


def folder_reader(output: Path) -> Reader:
    """A Reader over an output folder that mirrors the lake's keys."""

    def read(key: str) -> bytes | None:
        path = output / key
        return path.read_bytes() if path.is_file() else None

    return read


def lake_reader(s3: Any, bucket: str) -> Reader:
    """A Reader over the stack's lake bucket."""

    def read(key: str) -> bytes | None:
        try:
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    return read
