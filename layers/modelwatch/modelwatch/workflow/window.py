"""Which chunks a run covers, the input version (hash of data and label watermarks) and the execution name."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelwatch.chunks import HOUR, chunk_start, hour_of
from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig
from modelwatch.state import HourCounter

# Runs re-estimate the recent past so late rows and late labels are picked up; CloudWatch takes nothing older.
DEFAULT_LOOKBACK = timedelta(days=14)
MAX_EXECUTION_NAME = 80
VERSION_CHARS = 12
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class RunWindow:
    """The chunks one run covers and the version of its input.

    `window_start`/`window_end` bound chunk starts (None = unbounded, as in `RunRequest`); `last_chunk_end` is the
    end of the last chunk the run can complete (what run state records as last analysed); `sealed_chunks` counts
    chunks complete at planning time (period chunks in the window, or full size chunks).
    """

    model: str
    window_start: datetime | None
    window_end: datetime | None
    last_chunk_end: datetime | None
    input_complete: bool
    data_digest: str
    label_digest: str
    rows: int
    labels: int
    sealed_chunks: int

    @property
    def input_version(self) -> str:
        """Short hash of the data and label watermarks of the window: changes when rows or labels change."""
        return _digest(f"{self.data_digest}|{self.label_digest}|{int(self.input_complete)}")[:VERSION_CHARS]

    @property
    def is_empty(self) -> bool:
        return self.rows == 0 or self.sealed_chunks == 0

    def execution_name(self, attempt: int = 0) -> str:
        return execution_name(self.model, self.window_start, self.window_end, self.input_version, attempt)

    def to_payload(self) -> dict[str, Any]:
        """The JSON the Monitor state machine starts with."""
        return {
            "model": self.model,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "input_complete": self.input_complete,
            "input_version": self.input_version,
            "last_chunk_end": iso(self.last_chunk_end),
            "rows": self.rows,
            "labels": self.labels,
            "chunks": self.sealed_chunks,
        }


def iso(value: datetime | None) -> str | None:
    return None if value is None else to_utc(value).isoformat().replace("+00:00", "Z")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def watermark_digests(counters: Iterable[HourCounter]) -> tuple[str, str]:
    """Digests of the data and label watermarks (per-hour rows/versions) of the given hours, order-independent."""
    items = sorted(counters, key=lambda c: hour_of(c.hour))
    data = ";".join(f"{hour_of(c.hour):%Y%m%d%H}:{c.rows}:{c.data_version}" for c in items)
    labels = ";".join(f"{hour_of(c.hour):%Y%m%d%H}:{c.labels}:{c.label_version}" for c in items if c.labels)
    return _digest(data), _digest(labels)


def _last_complete_boundary(period: timedelta, now: datetime, lateness: timedelta) -> datetime:
    """The latest chunk boundary e with now >= e + lateness: every period chunk ending by e is complete."""
    return chunk_start(to_utc(now) - lateness, period)


def plan_window(
    config: ModelConfig,
    counters: Sequence[HourCounter],
    now: datetime,
    *,
    input_complete: bool = False,
    lookback: timedelta | None = DEFAULT_LOOKBACK,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> RunWindow:
    """Decide the chunks a run covers from the hour counters.

    Period chunks: from the chunk holding the first counted hour inside the lookback to the last complete chunk
    boundary (a chunk [s, e) is complete when now >= e + lateness; `input_complete` makes every chunk complete).
    Size chunks are sealed in ingestion order, so the run covers every row from the lookback start on and the
    estimator decides which size chunks are full. An explicit window overrides the planned bounds; a `lookback` of
    None covers all counted hours.
    """
    now = to_utc(now)
    counted = sorted((c for c in counters if c.rows > 0 or c.labels > 0), key=lambda c: hour_of(c.hour))
    period = config.chunking.period_delta
    first_hour = hour_of(counted[0].hour) if counted else now
    horizon = first_hour if lookback is None else max(first_hour, now - lookback)
    if period is not None:
        horizon = chunk_start(horizon, period)
        recent = [c for c in counted if hour_of(c.hour) >= horizon]
        with_rows = [c for c in recent if c.rows > 0]
        first = chunk_start(hour_of(with_rows[0].hour), period) if with_rows else None
        last_data_end = chunk_start(hour_of(with_rows[-1].hour), period) + period if with_rows else None
        if input_complete:
            end = last_data_end
        else:
            boundary = _last_complete_boundary(period, now, config.estimation.lateness_delta)
            end = boundary if last_data_end is None else min(boundary, last_data_end)
        start = to_utc(window_start) if window_start else first
        if window_end is not None:
            end = to_utc(window_end)
        if start is None or end is None or end <= start:
            inside: list[HourCounter] = []
            sealed = 0
        else:
            # Hours of the window's chunks; labels for those rows count even when they arrive much later.
            inside = [c for c in recent if start <= hour_of(c.hour) < end]
            sealed = sum(1 for c in {chunk_start(hour_of(c.hour), period) for c in inside if c.rows > 0})
        data, labels = watermark_digests(inside)
        return RunWindow(
            model=config.name,
            window_start=start,
            # `modelwatch run` covers everything to the end of its input: no upper bound.
            window_end=None if input_complete and window_end is None else end,
            last_chunk_end=end,
            input_complete=input_complete,
            data_digest=data,
            label_digest=labels,
            rows=sum(c.rows for c in inside),
            labels=sum(c.labels for c in inside),
            sealed_chunks=sealed,
        )
    size = config.chunking.size or 1
    start_hour = to_utc(window_start) if window_start else chunk_start(horizon, HOUR)
    inside = [c for c in counted if hour_of(c.hour) >= start_hour]
    rows = sum(c.rows for c in inside)
    sealed = rows // size + (1 if input_complete and rows % size else 0)
    data, labels = watermark_digests(inside)
    last_hour = hour_of(inside[-1].hour) + HOUR if inside else None
    return RunWindow(
        model=config.name,
        window_start=None,
        window_end=None,
        last_chunk_end=last_hour,
        input_complete=input_complete,
        data_digest=data,
        label_digest=labels,
        rows=rows,
        labels=sum(c.labels for c in inside),
        sealed_chunks=sealed,
    )


def _compact(value: datetime | None) -> str:
    return "open" if value is None else to_utc(value).strftime("%Y%m%dT%H%M")


def execution_name(
    model: str, window_start: datetime | None, window_end: datetime | None, version: str, attempt: int = 0
) -> str:
    """`<model>-<window>-<version>[-r<attempt>]`: deterministic, at most 80 characters of [A-Za-z0-9-_].

    Step Functions refuses a closed execution's name forever, so the input version is part of the name: the same
    window with new rows or labels gets a new name, the same inputs the same one (ExecutionAlreadyExists = done).
    A retry of a failed run for unchanged inputs (the scheduled run does that a bounded number of times) adds its
    attempt number.
    """
    window = f"{_compact(window_start)}-{_compact(window_end)}"
    version = _NAME_SAFE.sub("", version)[:VERSION_CHARS] or "0"
    if attempt:
        version = f"{version}-r{attempt}"
    safe_model = _NAME_SAFE.sub("_", model)
    room = MAX_EXECUTION_NAME - len(window) - len(version) - 2
    if len(safe_model) > room or safe_model != model:
        # Long names keep a readable prefix plus a hash so two long models never collide; so do names with characters
        # an execution name cannot hold (a variant's unit `m.a` must not meet a model `m_a`).
        tag = _digest(model)[:6]
        safe_model = f"{safe_model[: room - 7]}_{tag}"
    return f"{safe_model}-{window}-{version}"
