"""Whether a reference, chunked as the model's config says, can give meaningful thresholds: enough chunks, enough
rows per chunk, every class in each chunk; a warning, or an error when the thresholds would be meaningless, and a
chunking that would do."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelwatch.chunks import period_ns
from modelwatch.config.model import ModelConfig, ProblemType
from modelwatch.monitors.frames import TARGET, TIMESTAMP, assign_period_chunks, assign_size_chunks

if TYPE_CHECKING:
    import pandas as pd

# nannyml derives thresholds from the spread of the reference chunks' metrics: below 6 chunks it warns itself ("the
# resulting number of chunks is too low"); with one chunk there is no spread at all (a warning too, not an error:
# constant thresholds need none, and a size chunking larger than the reference is a deliberate choice).
FEW_CHUNKS = 6
TARGET_CHUNKS = 10  # what a suggested chunking aims at
MIN_ROWS_PER_CHUNK = 10  # below this (median), a chunk's metric is noise and so are its thresholds
SINGLE_CLASS_SHARE = 0.5  # above this share of chunks missing a class, classification thresholds are meaningless


@dataclass(frozen=True)
class ChunkingVerdict:
    """The reference's chunks as configured: how many, their rows, how many miss a class; what is wrong with them
    (`problems`), whether that makes thresholds meaningless (`fatal`), and a chunking that would do."""

    chunks: int
    median_rows: float
    min_rows: int
    single_class_chunks: int
    problems: list[str] = field(default_factory=list)
    fatal: bool = False
    suggestion: str | None = None

    def message(self, model: str) -> str:
        """One line: the model, what is wrong, what to do."""
        verdict = "thresholds would be meaningless" if self.fatal else "thresholds may be unreliable"
        advice = f"; try chunking {self.suggestion}" if self.suggestion else ""
        return f"model {model}: reference chunking: {'; '.join(self.problems)}: {verdict}{advice}"


def _duration(seconds: float) -> str:
    """A chunking period covering at least `seconds`, in whole hours or days."""
    hours = max(1, math.ceil(seconds / 3600))
    return f"{math.ceil(hours / 24)}d" if hours >= 48 else f"{hours}h"


def suggest_chunking(config: ModelConfig, reference: pd.DataFrame) -> str | None:
    """A chunking giving about TARGET_CHUNKS chunks (at least FEW_CHUNKS) of at least the config's minimum rows per
    chunk; None when the reference has too few rows for that."""
    rows = len(reference)
    size = max(config.estimation.min_rows_per_chunk, rows // TARGET_CHUNKS)
    if rows // size < FEW_CHUNKS:
        size = rows // FEW_CHUNKS
    if size < max(MIN_ROWS_PER_CHUNK, 1) or size < config.estimation.min_rows_per_chunk:
        return None
    times = reference[TIMESTAMP]
    span = (times.max() - times.min()).total_seconds() if rows > 1 else 0.0
    period = f" or period: {_duration(span * size / rows)}" if span > 0 else ""
    return f"size: {size}{period} (about {rows // size} chunks)"


def judge_chunking(config: ModelConfig, reference: pd.DataFrame) -> ChunkingVerdict:
    """Judge a prepared reference (`prepare_reference`) chunked as the config says."""
    period = config.chunking.period_delta
    if period is not None:
        numbers = assign_period_chunks(reference, period_ns(period))
    else:
        assert config.chunking.size is not None
        numbers = assign_size_chunks(reference, config.chunking.size)
    sizes = numbers.value_counts()
    chunks = len(sizes)
    median_rows = float(sizes.median()) if chunks else 0.0
    min_rows = int(sizes.min()) if chunks else 0
    single = 0
    if config.problem_type is not ProblemType.REGRESSION and TARGET in reference.columns:
        labelled = reference[TARGET].notna()
        classes = reference.loc[labelled, TARGET].nunique()
        per_chunk = reference.loc[labelled, TARGET].groupby(numbers[labelled]).nunique()
        single = int((per_chunk < classes).sum()) + (chunks - len(per_chunk))
    problems: list[str] = []
    fatal = False
    if chunks < FEW_CHUNKS:
        problems.append(f"{chunks} chunk(s) (fewer than {FEW_CHUNKS})")
    minimum = config.estimation.min_rows_per_chunk
    if median_rows < minimum:
        problems.append(f"{median_rows:g} rows in the median chunk (fewer than min_rows_per_chunk {minimum})")
        fatal = fatal or median_rows < MIN_ROWS_PER_CHUNK
    if single:
        problems.append(f"{single} of {chunks} chunks lack a class of the target")
        fatal = fatal or single > SINGLE_CLASS_SHARE * chunks
    suggestion = suggest_chunking(config, reference) if problems else None
    return ChunkingVerdict(chunks, median_rows, min_rows, single, problems, fatal, suggestion)
