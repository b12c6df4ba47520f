"""The monitor interface: fitted on the reference (a cached baseline), analysing chunks, returning one results table.

A monitor is one module with one `Monitor` subclass, listed in `modelwatch.monitors.MONITORS`. The analysis step
(`modelwatch.analysis`) reads the lake, prepares the chunks, fits or loads each monitor's baseline and keeps the
results of unchanged chunks; publishing asks each monitor which of its rows become CloudWatch datapoints and which
are alerts. Adding a monitor touches neither ingestion nor publishing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from modelwatch.config.model import ModelConfig
from modelwatch.lake.store import ObjectStore
from modelwatch.monitors.frames import CHUNK
from modelwatch.monitors.plots import Section
from modelwatch.monitors.results import ResultRow

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ChunkInfo:
    """One chunk a run analyses: its key and number in the chunk scheme, window, and row counts."""

    key: str
    number: int
    start: datetime
    end: datetime
    rows: int
    labelled_rows: int = 0
    version: str | None = None  # the model version whose rows these are, while more than one is live

    @property
    def scheme_key(self) -> str:
        """The key in the chunk scheme (`modelwatch.chunks`; nannyml's chunker names chunks by it): a version's
        part of a chunk (`<key>@<version>`, modelwatch.monitors.versions) without its version."""
        suffix = f"@{self.version}"
        return self.key[: -len(suffix)] if self.version and self.key.endswith(suffix) else self.key

    @property
    def label_coverage(self) -> float:
        return self.labelled_rows / self.rows if self.rows else 0.0


@dataclass
class AnalysisData:
    """The prepared rows of the chunks to analyse (ingestion order; the chunk number in `frames.CHUNK`, labels in
    `frames.TARGET` where joined) and the chunks themselves, in time order."""

    frame: pd.DataFrame
    chunks: list[ChunkInfo]
    _missing: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def labelled(self) -> bool:
        return any(c.labelled_rows for c in self.chunks)

    @cached_property
    def chunk_groups(self) -> tuple[Any, Any]:
        """The frame's distinct chunk numbers (ascending) and each row's position among them (`np.unique` with
        `return_inverse`), sorted once for every part of a step that counts rows per chunk."""
        import numpy as np

        return np.unique(self.frame[CHUNK].to_numpy(), return_inverse=True)

    def chunk_frames(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """Each chunk number (ascending) with its rows, in ingestion order; a chunk's rows apart (a copy) only when
        the frame holds other chunks too (an hour of 4.2M rows is one chunk, the frame itself)."""
        numbers, positions = self.chunk_groups
        for index, number in enumerate(numbers):
            yield int(number), self.frame if len(numbers) == 1 else self.frame.loc[positions == index]

    def missing(self, column: str) -> Any:
        """The column's missing values (`isna`, a boolean numpy array), found once for every part of a step that
        asks (on object columns, pandas' test is one Python check per row)."""
        found = self._missing.get(column)
        if found is None:
            found = self._missing[column] = self.frame[column].isna().to_numpy()
        return found


@dataclass(frozen=True)
class MetricPoint:
    """One datapoint a monitor wants in CloudWatch, with the ledger series that says whether it was sent already."""

    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    value: float | None
    series: str  # ledger series, unique among the model's monitors (e.g. "estimated"); with `ledger_metric` and the
    # timestamp it names the datapoint in the ledger
    ledger_metric: str
    version_parts: tuple[object, ...] = ()  # besides the value: what makes a new version (row counts, coverage)
    unit: str = "None"
    namespace: str | None = None  # None: the stack's namespace; e.g. Model Monitor's for compatible metrics
    # Detail (confidence bounds, estimation error, per-feature values, metrics no alarm or dashboard graph reads):
    # sent to CloudWatch only under the model's `metrics.profile: full`; results and reports keep it either way.
    detail: bool = False


@dataclass(frozen=True)
class Gated:
    """A point held back on purpose (not an error), and why."""

    point: MetricPoint
    reason: str


@dataclass
class Publication:
    """What publishing does with a monitor's rows: datapoints, held-back points, the rows that are alerts (crossings
    in the direction that is worse) and the rows that crossed in the direction that is better (unexpected
    improvements: a notice, paging only when the model's `alerts.direction` is `both`)."""

    points: list[MetricPoint] = field(default_factory=list)
    gated: list[Gated] = field(default_factory=list)
    alerts: list[ResultRow] = field(default_factory=list)
    improvements: list[ResultRow] = field(default_factory=list)


class Monitor(ABC):
    """One monitor of one model. Subclasses set `name` and implement fit, analyse and publish."""

    name: ClassVar[str]
    baseline_type: ClassVar[type]  # what `fit` returns; a cached baseline of another type is refused
    reads_labels: ClassVar[bool] = False  # the analysis step joins ground truth to the rows it hands over
    reads_issues: ClassVar[bool] = False  # the rows keep the decoder's `feature_issues` and `extra_keys` columns
    segmentable: ClassVar[bool] = False  # also analysed per segment of the config's `segments` (monitors.segments)

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.documents: dict[str, bytes] = {}  # the `sources` the analysis step read for `fit`, by URI

    @classmethod
    def enabled(cls, config: ModelConfig) -> bool:
        """Whether the model's config asks for this monitor."""
        return True

    def columns(self) -> list[str]:
        """The feature columns the monitor reads besides the predictions and ids (none by default)."""
        return []

    def bind(self, store: ObjectStore, now: datetime) -> None:  # noqa: B027
        """Called with the lake before the monitor is fitted or analyses, for monitors whose baseline has parts in
        the lake besides the cached pickle (a configured baseline file); nothing by default."""

    def lake_files(self, table: pd.DataFrame) -> dict[str, bytes]:
        """Lake files (key -> bytes) for the chunks just analysed (their rows in `table`), written by the analysis
        step beside the monitor's results; none by default."""
        return {}

    def fitting_key(self) -> dict[str, Any]:
        """The parts of the config that change the baseline (a cached baseline is reused only while they hold)."""
        return {}

    def sources(self) -> list[str]:
        """Files besides the reference that `fit` reads (a path, or an s3:// URI in the lake bucket), e.g. an imported
        Clarify baseline: the analysis step reads them into `self.documents` and keys the cached baseline on their
        bytes too (none by default)."""
        return []

    def baseline_documents(self, baseline: Any) -> dict[str, bytes]:
        """JSON documents stored next to a newly fitted baseline, by name (e.g. Clarify's analysis.json of the
        reference); none by default."""
        return {}

    @abstractmethod
    def fit(self, reference: pd.DataFrame) -> Any:
        """The baseline fitted on the prepared, chunked reference (pickled in the lake, signed)."""

    def incomplete(self, baseline: Any, data: AnalysisData) -> bool:
        """Whether analysing `data` needs parts the baseline lacks (fitted lazily, e.g. on the first labels)."""
        return False

    def complete(self, baseline: Any, reference: pd.DataFrame, data: AnalysisData) -> None:  # noqa: B027
        """Fit the parts `incomplete` asks for, on the prepared, chunked reference (the baseline is then cached);
        nothing by default: most baselines are whole once fitted."""

    @abstractmethod
    def analyse(self, baseline: Any, data: AnalysisData) -> pd.DataFrame:
        """The results rows of `data`'s chunks (`results.RESULT_COLUMNS`; model and run id are filled in later)."""

    def summarise(self, table: pd.DataFrame) -> dict[str, Any]:
        """A small JSON-able summary of the window's results (every analysed chunk, reused ones too)."""
        return {}

    def report(self, table: pd.DataFrame, summary: dict[str, Any]) -> list[Section]:
        """The monitor's sections of the run's report (the window's rows of every monitor; none by default)."""
        return []

    @abstractmethod
    def publish(self, rows: list[ResultRow], summary: dict[str, Any]) -> Publication:
        """Which of the run's rows (this monitor's only) become datapoints, which are alerts and which are
        improvements (see `Publication`)."""
