"""One monitor over one run's window: plan (reuse), read, prepare and triage the chunks, fit or load, analyse.

`analyse_monitor` works on frames already in memory (tests, `run_monitor`); `analyse_from_lake` is what the
Monitor state machine's per-monitor step runs: it reads the config's reference, plans from the hour counters,
reads only the chunks that changed (each captured record once), a batch of whole chunks at a time with the labels
of its own inference ids (BATCH_ROWS: the biggest endpoints never hold their window), and writes the monitor's part
of the run's results to the lake. A step short of time defers the batches left to the next run.

A bad chunk is not a dead model: an error in one chunk's rows (values its preparation refuses, an analysis that
fails on them) skips that chunk with the reason and the rest are analysed; an error in the labels skips the realized
values of the chunks concerned, never their estimates. Only when every chunk a run analyses fails does the run fail
(then it is not one chunk's data), with the first chunk's error.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwatch.analysis.plan import ReusePlan, merged_ranges, plan_reuse, save_analysis
from modelwatch.analysis.requests import RunRequest, RunSpec
from modelwatch.chunks import ChunkWindow, is_complete, number_start, period_chunk_key, period_ns, size_chunk_key
from modelwatch.clock import to_utc
from modelwatch.config.model import ModelConfig, VersionSpan
from modelwatch.constants import COL_INFERENCE_ID, SKIP_DEFERRED
from modelwatch.errors import (
    ChunkAnalysisError,
    ChunkDataError,
    EmptyWindowError,
    ModelwatchError,
    ReferenceDataError,
    describe,
)
from modelwatch.lake.layout import model_reference_key, monitor_results_key
from modelwatch.lake.reader import CaptureRows, read_ground_truth
from modelwatch.lake.reader import read_captures as read_capture_rows
from modelwatch.lake.store import ObjectStore, parse_s3_uri
from modelwatch.monitors import artifacts, monitor_for
from modelwatch.monitors.base import AnalysisData, ChunkInfo, Monitor
from modelwatch.monitors.frames import (
    CHUNK,
    ID_COLUMNS,
    TARGET,
    TIMESTAMP,
    PreparedCaptures,
    assign_period_chunks,
    assign_size_chunks,
    lake_to_pandas,
    naive_utc,
    prepare_captures,
    prepare_reference,
    reference_columns,
    reference_hash,
    shared_columns,
)
from modelwatch.monitors.labels import LabelJoin, combine_joins, join_labels
from modelwatch.monitors.reference_check import judge_chunking
from modelwatch.monitors.results import conform, empty_table, to_parquet
from modelwatch.monitors.segments import segment_data, slices
from modelwatch.monitors.versions import span_mask, split_chunks
from modelwatch.observability import logger
from modelwatch.signing import Signer
from modelwatch.state import HourCounter

if TYPE_CHECKING:
    import pandas as pd

SKIP_INCOMPLETE = "incomplete"
# Failures of one chunk's analysis that are the chunk's data, not the run's: the chunk is skipped. Errors of the
# stack itself (the lake, the signing key, a bad config) fail the run.
_RUN_ERRORS = (ModelwatchError, MemoryError, KeyboardInterrupt)


@dataclass
class MonitorResult:
    """What one monitor made of a run's window: its rows (reused chunks' included) and how it got them."""

    monitor: str
    table: pd.DataFrame
    chunks_analysed: int = 0
    chunks_reused: int = 0
    chunks_skipped: list[dict[str, Any]] = field(default_factory=list)  # start, end, rows, reason
    rows_without_prediction: int = 0
    labels: dict[str, Any] = field(default_factory=dict)  # the label join's counts (monitors that read labels)
    baseline: str = "unused"  # "hit" (cached), "fit", or "unused" (every chunk reused)
    summary: dict[str, Any] = field(default_factory=dict)  # the monitor's summary of the window (when assembled)
    realized_skipped: list[dict[str, Any]] = field(default_factory=list)  # chunks estimated without their labels
    rows_superseded: int = 0  # of the rows read: an overwritten object's older version
    rows_duplicate: int = 0  # of the rows read: a record already read from another row


@dataclass
class MonitorOutcome:
    """The per-monitor step's output: where its rows are and small summaries (JSON-able for the state machine)."""

    monitor: str
    results_key: str  # the monitor's part of the run's results, in the lake
    chunks_analysed: int
    chunks_reused: int
    chunks_skipped: list[dict[str, Any]]
    rows_without_prediction: int
    labels: dict[str, Any]
    baseline: str
    realized_skipped: list[dict[str, Any]] = field(default_factory=list)
    rows_superseded: int = 0
    rows_duplicate: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def iso(value: datetime) -> str:
    return to_utc(value).isoformat().replace("+00:00", "Z")


def _aware(value: Any) -> datetime:
    import pandas as pd

    return to_utc(pd.Timestamp(value).to_pydatetime())


# ---------------------------------------------------------------- chunks
def with_chunks(config: ModelConfig, frame: pd.DataFrame, *, copy: bool = True) -> pd.DataFrame:
    """The frame with each row's chunk number (period index, or size chunk position in ingestion order); the
    frame itself gains the column when `copy` is off (a frame the caller just made: no second copy of the rows)."""
    if copy:
        frame = frame.copy()
    period = config.chunking.period_delta
    if period is not None:
        frame[CHUNK] = assign_period_chunks(frame, period_ns(period))
    else:
        assert config.chunking.size is not None
        frame[CHUNK] = assign_size_chunks(frame, config.chunking.size)
    return frame


def chunks_of(config: ModelConfig, frame: pd.DataFrame) -> list[ChunkInfo]:
    """The chunks present in a chunked frame, in order, with their windows and row counts."""
    period = config.chunking.period_delta
    grouped = frame.groupby(CHUNK, sort=True)[TIMESTAMP].agg(["min", "max", "size"])
    chunks = []
    for number, row in grouped.iterrows():
        number = int(number)
        rows = int(row["size"])
        if period is not None:
            start = number_start(number, period)
            chunks.append(ChunkInfo(period_chunk_key(number, period), number, start, start + period, rows))
        else:
            assert config.chunking.size is not None
            start, last = _aware(row["min"]), _aware(row["max"])
            end = last + timedelta(microseconds=1)  # [first row, last row] as a half-open window
            chunks.append(ChunkInfo(size_chunk_key(number, config.chunking.size, rows), number, start, end, rows))
    return chunks


def _in_window(chunk: ChunkInfo, request: RunRequest) -> bool:
    if request.window_start is not None and chunk.start < to_utc(request.window_start):
        return False
    return not (request.window_end is not None and chunk.start >= to_utc(request.window_end))


def _complete(config: ModelConfig, chunk: ChunkInfo, last_number: int, request: RunRequest, now: datetime) -> bool:
    if config.chunking.period_delta is not None:
        if request.input_complete:
            return True
        return is_complete(ChunkWindow(chunk.start, chunk.end), now, config.estimation.lateness_delta)
    if chunk.rows >= (config.chunking.size or 0):
        return True
    return request.input_complete and chunk.number == last_number


def _skip(chunk: ChunkInfo, reason: str) -> dict[str, Any]:
    return {"start": iso(chunk.start), "end": iso(chunk.end), "rows": chunk.rows, "reason": reason}


def triage(
    config: ModelConfig, chunks: list[ChunkInfo], last_number: int, request: RunRequest, now: datetime
) -> tuple[list[ChunkInfo], list[dict[str, Any]]]:
    """The chunks to analyse, and the skipped ones with their reason (incomplete, too few rows)."""
    analysed: list[ChunkInfo] = []
    skipped: list[dict[str, Any]] = []
    for chunk in chunks:
        if not _complete(config, chunk, last_number, request, now):
            skipped.append(_skip(chunk, SKIP_INCOMPLETE))
        elif chunk.rows < config.estimation.min_rows_per_chunk:
            skipped.append(_skip(chunk, f"fewer than {config.estimation.min_rows_per_chunk} rows"))
        else:
            analysed.append(chunk)
    return analysed, skipped


# ---------------------------------------------------------------- baselines
def prepared_reference(config: ModelConfig, reference: pd.DataFrame) -> pd.DataFrame:
    """The reference validated, typed and chunked, as monitors are fitted on it. ReferenceDataError when its chunks
    would make the thresholds meaningless (too few, too small, missing classes); a warning when unreliable."""
    prepared = prepare_reference(config, reference)
    verdict = judge_chunking(config, prepared)
    if verdict.fatal:
        raise ReferenceDataError(verdict.message(config.name))
    if verdict.problems:
        logger.warning(verdict.message(config.name), model=config.name)
    return with_chunks(config, prepared)


def baseline_for(
    monitor: Monitor,
    reference: pd.DataFrame,
    store: ObjectStore,
    now: datetime,
    data: AnalysisData,
    signer: Signer,
    artifact_name: str = artifacts.BASELINE,
) -> tuple[Any, str]:
    """The cached baseline when valid and proven ours by `signer` ("hit"), else a new fit ("fit"); parts a run needs
    and the cached baseline lacks are fitted then and cached too (signed). The cache is keyed by the reference
    columns as given, so a hit neither validates nor prepares the reference again (the fit that was cached did)."""
    config = monitor.config
    monitor.bind(store, now)
    fitting_key = monitor.fitting_key()
    monitor.documents = {uri: read_config_file(store, config, uri) for uri in monitor.sources()}
    if monitor.documents:  # an imported file that changes means a refit
        fitting_key["sources"] = {uri: hashlib.sha256(body).hexdigest() for uri, body in monitor.documents.items()}
    key = artifacts.cache_key(fitting_key, reference_hash(reference_columns(config, reference)))
    artifact = artifacts.Artifact(config.name, monitor.name, artifact_name)
    baseline = artifacts.load_baseline(store, artifact, key, monitor.baseline_type, signer)
    if baseline is None:
        prepared = prepared_reference(config, reference)
        baseline = monitor.fit(prepared)
        monitor.complete(baseline, prepared, data)
        artifacts.store_baseline(store, artifact, key, baseline, now, signer)
        for name, body in monitor.baseline_documents(baseline).items():
            document = artifacts.Artifact(config.name, monitor.name, name, "")  # its manifest: <name>.json
            artifacts.store_body(store, document, key, body, now, signer, content_type="application/json")
        return baseline, "fit"
    if monitor.incomplete(baseline, data):
        monitor.complete(baseline, prepared_reference(config, reference), data)
        artifacts.store_baseline(store, artifact, key, baseline, now, signer)
    return baseline, "hit"


# ---------------------------------------------------------------- a bad chunk is not a dead model
@dataclass
class _Prepared:
    """Captured rows prepared for the monitor, chunked; the chunks whose rows could not be prepared."""

    frame: pd.DataFrame | None
    rows_without_prediction: int = 0
    failed: list[tuple[ChunkInfo, str]] = field(default_factory=list)


def _prepare(monitor: Monitor, captures: pd.DataFrame) -> _Prepared:
    """`prepare_captures` of every row; when some chunk's values are refused (ChunkDataError) and chunks are periods,
    each chunk's rows prepared on their own so only the chunks holding such values are left out."""
    import pandas as pd

    config = monitor.config
    try:
        prepared = prepare_captures(config, captures, features=_read_columns(monitor), issues=monitor.reads_issues)
        return _Prepared(with_chunks(config, prepared.frame, copy=False), prepared.rows_without_prediction)
    except ChunkDataError:
        if config.chunking.period_delta is None:
            raise  # size chunks are numbered over every row: one cannot be left out alone
    raw = captures.assign(**{TIMESTAMP: naive_utc(captures[TIMESTAMP])})
    numbers = assign_period_chunks(raw, period_ns(config.chunking.period_delta))
    result = _Prepared(None)
    frames = []
    for _, rows in captures.groupby(numbers.to_numpy(), sort=True):
        try:
            part: PreparedCaptures = prepare_captures(
                config, rows, features=_read_columns(monitor), issues=monitor.reads_issues
            )
        except ChunkDataError as exc:
            chunked = with_chunks(config, raw.loc[rows.index])
            for info in split_chunks(config, chunked, chunks_of(config, chunked)):
                result.failed.append((info, describe(exc)))
                logger.warning("chunk skipped", model=config.name, chunk=info.key, error=type(exc).__name__)
            continue
        frames.append(part.frame)
        result.rows_without_prediction += part.rows_without_prediction
    if frames:
        # Chunks are disjoint time ranges, each in ingestion order: in chunk order they are in ingestion order.
        merged = pd.concat(frames, ignore_index=True)
        result.frame = with_chunks(config, merged, copy=False)
    return result


def _unread_features(monitor: Monitor) -> list[str]:
    """The configured features a monitor's step leaves in the lake: CBPE reads the predictions only, and an hour of
    a model at 100M inferences a day held its 30 unread features in memory twice (4.6 GB of the step's peak)."""
    read = set(_read_columns(monitor))
    return [f for f in monitor.config.feature_names if f not in read]


def _read_columns(monitor: Monitor) -> list[str]:
    """The columns a monitor's rows keep: its own, and the segment columns when it is analysed per segment."""
    segments = [s.column for s in monitor.config.segments] if monitor.segmentable else []
    return list(dict.fromkeys([*monitor.columns(), *segments]))


def _analysed_segments(
    monitor: Monitor,
    reference: pd.DataFrame,
    data: AnalysisData,
    store: ObjectStore,
    now: datetime,
    signer: Signer,
    baseline_name: str = artifacts.BASELINE,
) -> list[pd.DataFrame]:
    """The monitor's rows of each segment (modelwatch.monitors.segments): fitted on the segment's reference rows
    (cached apart), analysed on its captured rows. A segment that cannot be fitted or analysed is skipped with a
    warning naming its column and position (never its value: that is data), and never fails the run."""
    config = monitor.config
    if not (monitor.segmentable and config.segments):
        return []
    parts = []
    for index, part in enumerate(slices(config, reference)):
        rows = segment_data(data, part)
        if not rows.chunks:
            continue
        subset = reference.loc[part.mask(reference)]
        name = f"{baseline_name}-segment-{hashlib.sha256(part.label.encode()).hexdigest()[:16]}"
        try:
            baseline, _ = baseline_for(monitor, subset, store, now, rows, signer, artifact_name=name)
            table = monitor.analyse(baseline, rows)
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a segment too small for its reference chunks, or nannyml refusing its rows
            logger.warning(
                "segment skipped",
                model=config.name,
                monitor=monitor.name,
                column=part.column,
                segment_index=index,
                error=type(exc).__name__,
            )
            continue
        if len(table):
            parts.append(table.assign(segment=part.label))
    return parts


def _without_labels(config: ModelConfig, data: AnalysisData) -> AnalysisData:
    """The same chunks with no labels (for their estimates when their labels cannot be used)."""
    import numpy as np

    frame = data.frame.copy()
    frame[TARGET] = None if config.problem_type.value == "multiclass_classification" else np.nan
    chunks = [replace(c, labelled_rows=0) for c in data.chunks]
    return AnalysisData(frame, chunks)


def _analyse_isolated(
    monitor: Monitor, baseline: Any, data: AnalysisData
) -> tuple[list[pd.DataFrame], list[tuple[ChunkInfo, str]], list[tuple[ChunkInfo, str]]]:
    """The monitor's rows of the chunks; when the analysis fails, each chunk again on its own: a chunk that fails
    with its labels is analysed without them (estimates kept, realized skipped), one that fails without labels is
    skipped. Returns (parts, skipped chunks with reasons, chunks whose realized values were skipped)."""
    try:
        return [monitor.analyse(baseline, data)], [], []
    except _RUN_ERRORS:
        raise
    except Exception as exc:  # nannyml, pandas and sklearn raise many kinds on data they cannot use
        if len(data.chunks) == 1 and not data.labelled:
            raise _ChunkFailed(data.chunks[0], exc) from exc
    parts: list[pd.DataFrame] = []
    skipped: list[tuple[ChunkInfo, str]] = []
    realized: list[tuple[ChunkInfo, str]] = []
    first: BaseException | None = None
    for chunk in data.chunks:
        one = AnalysisData(data.frame.loc[data.frame[CHUNK] == chunk.number], [chunk])
        try:
            parts.append(monitor.analyse(baseline, one))
            continue
        except _RUN_ERRORS:
            raise
        except Exception as exc:
            first = first or exc
            failure = describe(exc)
        if chunk.labelled_rows:
            try:
                parts.append(monitor.analyse(baseline, _without_labels(monitor.config, one)))
                realized.append((chunk, f"labels not usable: {failure}"))
                continue
            except _RUN_ERRORS:
                raise
            except Exception as exc:
                failure = describe(exc)
        skipped.append((chunk, failure))
        logger.warning("chunk skipped", model=monitor.config.name, monitor=monitor.name, chunk=chunk.key)
    if not parts and first is not None:
        raise _ChunkFailed(data.chunks[0], first) from first
    return parts, skipped, realized


class _ChunkFailed(Exception):
    """Every chunk a run analysed failed: the run fails with the first one's error (see `analyse_monitor`)."""

    def __init__(self, chunk: ChunkInfo, error: BaseException) -> None:
        super().__init__(describe(error))
        self.chunk = chunk
        self.error = error


# Rows up to which the analysed frame is copied into one block per dtype: the lake rows arrive one block per column
# (moved column by column, never held twice), which cost the default drift step 0.08 s of its 0.64 s at 100,000 rows
# a day (data-quality bench); above this the copy's memory matters more (an hour of 4.2M rows: 1.3 GB twice).
CONSOLIDATE_ROWS = 500_000


# Counted rows a run reads and analyses at once: fresh chunks holding more are read and analysed in batches of whole
# chunks (ReusePlan.batches), a bigger chunk alone. The label-reading steps of a model at 100M inferences a day held
# two hours of 4.2M rows at once in its steady state (an hour analysed, the next captured as its labels land) and
# went over the function's 3,008 MB; one hour at a time fits. Chunks are analysed on their own (results per chunk),
# so batches change memory, never values.
BATCH_ROWS = 2_000_000


# A step starts another batch only when its remaining time holds DEADLINE_FACTOR times its slowest batch so far plus
# DEADLINE_MARGIN_SECONDS for what follows the last one (the results written, the analysis stored).
DEADLINE_FACTOR = 1.5
DEADLINE_MARGIN_SECONDS = 30.0


# ---------------------------------------------------------------- one monitor, frames in memory
def analyse_monitor(
    monitor: Monitor,
    reference: pd.DataFrame,
    captures: pd.DataFrame,
    labels: pd.DataFrame | None,
    request: RunRequest,
    store: ObjectStore,
    now: datetime,
    plan: ReusePlan | None = None,
    *,
    signer: Signer,
    version_references: Mapping[str, pd.DataFrame | None] | None = None,
) -> MonitorResult:
    """Analyse the complete chunks of the window that `plan` does not reuse; combine with the reused rows.

    With a reuse plan, `captures` hold only the chunks whose inputs changed; the plan's unchanged chunks keep
    their stored rows, and every analysed chunk is stored for the next run. Chunks whose data fails are skipped with
    the reason (see the module docstring); when every chunk fails, the first error is raised.
    """
    window = WindowAnalysis(monitor, reference, request, store, now, plan, signer, version_references)
    handed = [captures]
    del captures  # handed over: dropped once prepared unless the caller holds them
    window.add(handed.pop(), labels)
    return window.finish()


class WindowAnalysis:
    """One monitor's analysis of a run's window, fed the fresh rows in one or more batches of whole chunks
    (`add`), then combined with the reused chunks' stored rows and stored for the next run (`finish`). Each batch
    comes with its labels: from the lake, those of its own inference ids; in memory, the window's (the join matches
    what it can)."""

    def __init__(
        self,
        monitor: Monitor,
        reference: pd.DataFrame,
        request: RunRequest,
        store: ObjectStore,
        now: datetime,
        plan: ReusePlan | None,
        signer: Signer,
        version_references: Mapping[str, pd.DataFrame | None] | None = None,
    ) -> None:
        self.monitor, self.reference, self.request, self.store = monitor, reference, request, store
        self.now, self.plan, self.signer, self.version_references = to_utc(now), plan, signer, version_references
        self.reused = plan.reused if plan is not None else {}
        self.result = MonitorResult(monitor=monitor.name, table=empty_table(), chunks_reused=len(self.reused))
        reused_rows = plan.reused_rows() if plan is not None else None
        self.parts: list[pd.DataFrame] = [] if reused_rows is None else [reused_rows]
        self.rows = 0  # captured rows read
        self.in_window = False  # some read chunk with predictions is in the window and not reused
        self.unprepared: list[tuple[ChunkInfo, str]] = []  # chunks whose rows could not be prepared
        self.triaged = 0  # complete chunks with enough rows, to analyse
        self.broken: list[tuple[ChunkInfo, str]] = []  # chunks whose analysis failed
        self.analysed: list[ChunkInfo] = []  # chunks analysed
        self.first_failure: _ChunkFailed | None = None
        self.joins: list[LabelJoin] = []  # each batch's label join, without its rows
        self.baselines: list[str] = []

    def add(self, captures: pd.DataFrame, labels: pd.DataFrame | None) -> None:
        """Prepare, triage and analyse one batch of captured rows (whole chunks; the caller's reference to them is
        dropped once prepared unless it holds them)."""
        if not len(captures):
            return
        config, request = self.monitor.config, self.request
        self.rows += len(captures)
        prepared = _prepare(self.monitor, captures)  # the more specific complaint first
        del captures  # prepared shares the columns it keeps: the others go now unless the caller holds the rows
        self.result.rows_without_prediction += prepared.rows_without_prediction
        frame = prepared.frame
        self.unprepared += [
            (c, why) for c, why in prepared.failed if _in_window(c, request) and c.key not in self.reused
        ]
        del prepared
        all_chunks = split_chunks(config, frame, chunks_of(config, frame)) if frame is not None else []
        in_window = [c for c in all_chunks if _in_window(c, request) and c.key not in self.reused]
        self.in_window = self.in_window or bool(in_window)
        if not all_chunks or frame is None:
            return
        fresh, skipped = triage(config, in_window, all_chunks[-1].number, request, self.now)
        self.result.chunks_skipped += skipped
        self.triaged += len(fresh)
        if fresh:
            handed = [labels]
            del labels  # handed over: dropped once joined
            self._analyse(frame, fresh, handed.pop())

    def _analyse(self, frame: pd.DataFrame, fresh: list[ChunkInfo], labels: pd.DataFrame | None) -> None:
        monitor, result = self.monitor, self.result
        fresh_rows = frame[CHUNK].isin({c.number for c in fresh}).to_numpy()
        if not fresh_rows.all():  # a copy only when some rows are not analysed (an hour of 4.2M rows: 1.3 GB)
            frame = frame.loc[fresh_rows]
        if monitor.reads_labels:  # joined once for every version's rows: a label is matched by any of them
            frame = self._with_labels(frame, labels, fresh)
        labels = None
        # The ids ordered the rows and joined the labels; no monitor reads them (two hours of 4.2M rows: 0.3 GB).
        frame = shared_columns(frame, [c for c in frame.columns if c not in ID_COLUMNS])
        if len(frame) <= CONSOLIDATE_ROWS:
            frame = frame.copy()  # one block per dtype, see CONSOLIDATE_ROWS
        broken: list[tuple[ChunkInfo, str]] = []
        for span, chunks, version_reference in _version_groups(
            monitor.config, fresh, self.reference, self.version_references
        ):
            if version_reference is None:  # reported, never estimated against another version's reference
                broken.extend((c, _no_reference(monitor.config, span.name)) for c in chunks)
                continue
            try:
                analysed, failed, unlabelled = _analyse_fresh(
                    monitor, version_reference, frame, chunks, result, self.store, self.now, span, signer=self.signer
                )
            except _ChunkFailed as exc:
                self.first_failure = self.first_failure or exc
                # Every chunk of this version failed (the first one's error names them): each is skipped.
                broken.extend((c, str(exc)) for c in chunks)
                continue
            self.baselines.append(result.baseline)
            self.parts.extend(analysed)
            broken.extend(failed)
            skipped_spans = {(iso(c.start), iso(c.end)) for c, _ in failed}
            # A skipped chunk has no values at all: it is not also listed as estimated without its labels.
            realized = result.realized_skipped + [_skip(c, reason) for c, reason in unlabelled]
            result.realized_skipped = [e for e in realized if (e["start"], e["end"]) not in skipped_spans]
        self.broken += broken
        broken_keys = {c.key for c, _ in broken}
        self.analysed += [c for c in fresh if c.key not in broken_keys]

    def _with_labels(self, rows: pd.DataFrame, labels: pd.DataFrame | None, fresh: list[ChunkInfo]) -> pd.DataFrame:
        """The chunks' rows with their labels joined (`frames.TARGET`); labels that cannot be joined at all leave
        the chunks unlabelled (realized skipped with the reason), never fail their estimates."""
        import pandas as pd

        config = self.monitor.config
        try:
            joined = join_labels(config, rows, labels)
        except Exception as exc:  # labels of another shape than the join needs; pandas raises many kinds
            if isinstance(exc, (MemoryError, KeyboardInterrupt)):
                raise
            reason = f"labels not usable: {describe(exc)}"
            logger.warning("labels not joined; estimating without them", model=config.name, error=type(exc).__name__)
            self.result.realized_skipped += [_skip(c, reason) for c in fresh]
            return _without_labels(config, AnalysisData(rows, fresh)).frame
        self.joins.append(replace(joined, frame=pd.DataFrame()))  # its counts; the rows go on
        return joined.frame

    def defer(self, chunks: list[tuple[datetime, datetime, int]], done: int, batches: int) -> None:
        """Chunks left for the next run: the step's time ran out after `done` of its `batches`."""
        reason = f"{SKIP_DEFERRED}: the {self.monitor.name} step's time ran out after {done} of {batches} batches"
        self.result.chunks_skipped += [
            {"start": iso(s), "end": iso(e), "rows": rows, "reason": reason} for s, e, rows in chunks
        ]
        logger.warning(
            "chunks deferred to the next run",
            model=self.monitor.config.name,
            monitor=self.monitor.name,
            chunks=len(chunks),
            batches_done=done,
            batches=batches,
        )

    def finish(self) -> MonitorResult:
        """The window's results: the analysed chunks' rows and the reused ones, stored for the next run. Raises when
        nothing could be analysed (EmptyWindowError, ChunkDataError, ChunkAnalysisError: see the module docstring)."""
        import pandas as pd

        config, request, result, reused = self.monitor.config, self.request, self.result, self.reused
        window = f"[{request.window_start}, {request.window_end})"
        if not self.rows and not reused:
            raise EmptyWindowError(f"model {config.name}: no captured rows in window {window}")
        if self.rows and not self.in_window and not reused and not self.unprepared:
            raise EmptyWindowError(f"model {config.name}: no captured rows with predictions in window {window}")
        if self.unprepared and not self.triaged and not reused:
            raise ChunkDataError(self.unprepared[0][1])
        if self.first_failure is not None and not self.analysed and not reused:
            # No chunk of the run analysed: not one chunk's data (named, no values in the message).
            raise ChunkAnalysisError(
                f"model {config.name}: every chunk failed in the analysis: {self.first_failure}"
            ) from self.first_failure
        if self.joins:
            result.labels = combine_joins(self.joins).summary()
        if self.baselines:
            result.baseline = "fit" if "fit" in self.baselines else self.baselines[-1]
        result.chunks_skipped = sorted(
            result.chunks_skipped + [_skip(c, reason) for c, reason in self.unprepared + self.broken],
            key=lambda e: (e["start"], e["end"]),
        )
        result.chunks_analysed = len(self.analysed) + len(reused)
        parts = [p for p in self.parts if p is not None and len(p)]
        if parts:
            table = pd.concat(parts, ignore_index=True)
            result.table = conform(table.sort_values(["chunk_start"], kind="stable"))
        if self.plan is not None and result.chunks_analysed:
            save_analysis(
                self.store,
                config.name,
                self.monitor.name,
                self.plan.key,
                result.table,
                self.plan.fingerprints,
                self.now,
                self.signer,
            )
        return result


def _version_groups(
    config: ModelConfig,
    chunks: list[ChunkInfo],
    reference: pd.DataFrame,
    version_references: Mapping[str, pd.DataFrame | None] | None,
) -> list[tuple[VersionSpan, list[ChunkInfo], pd.DataFrame | None]]:
    """The chunks to analyse by version, each version with its reference (None: it has none): one group of every
    chunk with the model's reference for a config with one live version."""
    if not config.versioned:
        return [(config.version_spans()[0], chunks, reference)]
    found = version_references or {}
    groups = []
    for span in config.version_spans():
        mine = [c for c in chunks if c.version == span.name]
        if mine:
            groups.append((span, mine, found.get(span.name)))
    return groups


def _no_reference(config: ModelConfig, version: str) -> str:
    return (
        f"version {version} of model {config.model_name} has no reference data: its chunks are reported, not "
        f"estimated against another version's reference (modelwatch register --version {version} --reference FILE)"
    )


def _analyse_fresh(
    monitor: Monitor,
    reference: pd.DataFrame,
    frame: pd.DataFrame,
    fresh: list[ChunkInfo],
    result: MonitorResult,
    store: ObjectStore,
    now: datetime,
    span: VersionSpan,
    *,
    signer: Signer,
) -> tuple[list[pd.DataFrame], list[tuple[ChunkInfo, str]], list[tuple[ChunkInfo, str]]]:
    """One version's fresh chunks analysed against its reference (the whole model's for a config with one live
    version): its rows (those of the chunks, captured while the version was live) with their labels, its baseline
    (cached apart per version), its segments. Returns (result parts, skipped chunks, chunks estimated without
    their labels); _ChunkFailed when every chunk fails."""
    config = monitor.config
    chunk_rows = frame  # the fresh chunks' rows; a version's: those of its chunks captured while it was live
    if span.name:
        chunk_rows = frame.loc[frame[CHUNK].isin({c.number for c in fresh}).to_numpy() & span_mask(span, frame)]
    if monitor.reads_labels:  # labels joined by the caller: each chunk's labelled rows
        counts = chunk_rows[TARGET].notna().groupby(chunk_rows[CHUNK]).sum()
        fresh = [replace(c, labelled_rows=int(counts.get(c.number, 0))) for c in fresh]
    data = AnalysisData(chunk_rows, fresh)
    artifact = version_artifact(config, span.name)
    baseline, result.baseline = baseline_for(monitor, reference, store, now, data, signer, artifact_name=artifact)
    analysed, broken, unlabelled = _analyse_isolated(monitor, baseline, data)
    for part in analysed:
        for key, body in monitor.lake_files(part).items():
            store.put(key, body)
    analysed = analysed + _analysed_segments(monitor, reference, data, store, now, signer, artifact)
    if span.name and config.versioned:
        analysed = [part.assign(version=span.name) for part in analysed]
    return analysed, broken, unlabelled


def version_artifact(config: ModelConfig, version: str) -> str:
    """The cached baseline's artifact name of a version: the model's for its first version (or a config with one
    live version), its own for every later one (each is fitted on its own reference)."""
    if not config.versioned or version == config.version_spans()[0].name:
        return artifacts.BASELINE
    return f"{artifacts.BASELINE}-version-{version}"


# ---------------------------------------------------------------- one monitor, from the lake
def read_config_file(store: ObjectStore, config: ModelConfig, uri: str, what: str = "file") -> bytes:
    """A file the model config names: an s3:// URI in the store's bucket, or a path (ReferenceDataError otherwise)."""
    if uri.startswith("s3://"):
        bucket, key = parse_s3_uri(uri)
        if bucket != getattr(store, "bucket", bucket):
            raise ReferenceDataError(f"model {config.name}: {what} {uri} is outside the lake bucket")
        return store.get(key)
    try:
        return Path(uri).read_bytes()
    except OSError as exc:
        raise ReferenceDataError(f"model {config.name}: cannot read {what} {uri}: {exc.strerror}") from exc


def load_reference(store: ObjectStore, config: ModelConfig) -> tuple[pd.DataFrame, str]:
    """Read the config's reference data (Parquet or CSV) from the lake (s3:// in the store's bucket) or a path;
    also the sha256 of its bytes."""
    import pandas as pd

    uri = config.reference or store.uri(model_reference_key(config.name))
    body = read_config_file(store, config, uri, "reference")
    try:
        if uri.lower().endswith(".csv"):
            return pd.read_csv(io.BytesIO(body)), hashlib.sha256(body).hexdigest()
        return pd.read_parquet(io.BytesIO(body)), hashlib.sha256(body).hexdigest()
    except Exception as exc:  # pyarrow and the CSV parser raise many kinds
        problem = describe(exc)  # a parser's message may quote the data
        what = f"model {config.name}: reference {uri}"
        raise ReferenceDataError(f"{what} is not readable Parquet/CSV: {problem}") from exc


def load_version_references(
    store: ObjectStore, config: ModelConfig, reference: pd.DataFrame, reference_sha256: str
) -> tuple[dict[str, pd.DataFrame | None], str]:
    """Each live version's reference (None for a version without one; the model's for a first version naming none)
    and one hash of them all (what stored analyses are keyed by); ({}, the model's hash) with one live version."""
    if not config.versioned:
        return {}, reference_sha256
    found: dict[str, pd.DataFrame | None] = {}
    hashes = [reference_sha256]
    for index, span in enumerate(config.version_spans()):
        if index == 0 and span.reference in (None, config.reference):
            found[span.name] = reference
        elif span.reference is None:
            found[span.name] = None
        else:
            frame, sha256 = load_reference(store, config.model_copy(update={"reference": span.reference}))
            found[span.name] = frame
            hashes.append(sha256)
    return found, hashlib.sha256("|".join(hashes).encode()).hexdigest()


def read_captures(
    store: ObjectStore,
    model: str,
    ranges: Sequence[tuple[datetime | None, datetime | None]],
    without: Sequence[str] = (),
) -> CaptureRows:
    """The model's capture rows of every range (polars), each record once, with what was left out; never the
    `without` columns."""
    return read_capture_rows(store, model, ranges, without=without)


def _out_of_time(time_left: Callable[[], float] | None, longest: float) -> bool:
    """Whether another batch as slow as the slowest so far might not finish in the step's remaining time."""
    return time_left is not None and time_left() < longest * DEADLINE_FACTOR + DEADLINE_MARGIN_SECONDS


def analyse_from_lake(
    spec: RunSpec,
    monitor_name: str,
    store: ObjectStore,
    counters: list[HourCounter] | None,
    now: datetime,
    *,
    signer: Signer,
    time_left: Callable[[], float] | None = None,
) -> MonitorOutcome:
    """The per-monitor step: plan from the hour counters (read before the lake, so a chunk is never stored with a
    newer fingerprint than its rows), read what changed, batch by batch, analyse, write the monitor's part of the
    results. Stored baselines and analyses are trusted only with a proof by `signer`.

    `time_left` (seconds, the Lambda context's remaining time): when the next batch might not finish in it, the
    batches left are deferred to the next run (skipped with the reason; their chunks have no stored results, so the
    next run analyses them), never lost to a timeout that would throw away every batch analysed and fail the run
    again next time: a full re-analysis of a 14-day window of 4.2M rows an hour takes several runs, each keeping
    what it analysed."""
    config = spec.model_config_or_error()
    monitor = monitor_for(monitor_name, config)
    request = spec.request()
    reference, reference_sha256 = load_reference(store, config)
    version_references, reference_sha256 = load_version_references(store, config, reference, reference_sha256)
    # Size chunks are numbered over the whole stream, so they need every row; period chunks only the window's.
    by_period = config.chunking.period_delta is not None
    start = request.window_start if by_period else None
    end = request.window_end if by_period else None
    plan = None
    if counters is not None:
        plan = plan_reuse(
            config, monitor.name, store, reference_sha256, counters, start, end, signer, monitor.reads_labels
        )
    batches: list[list[tuple[datetime, datetime, int]]] | None = None  # None: the window, in one read
    if plan is not None:
        batches = plan.batches(BATCH_ROWS)
    reads: list[Sequence[tuple[datetime | None, datetime | None]]] = (
        [[(start, end)]] if batches is None else [merged_ranges(batch) for batch in batches]
    )
    window = WindowAnalysis(monitor, reference, request, store, now, plan, signer, version_references)
    superseded = duplicates = 0
    longest = 0.0  # seconds of the slowest batch so far
    for number, ranges in enumerate(reads, 1):
        if batches is not None and number > 1 and _out_of_time(time_left, longest):
            window.defer([c for batch in batches[number - 1 :] for c in batch], number - 1, len(reads))
            break
        began = time.monotonic()
        read = read_captures(store, config.name, ranges, without=_unread_features(monitor))
        superseded, duplicates = superseded + read.superseded, duplicates + read.duplicates
        handed: list[Any] = [None, None]  # captures, labels: handed over, never held here
        if monitor.reads_labels:
            # Labels arrive after their inference (ground truth is partitioned by label time): none before the
            # batch's first chunk (with labels a day late, the new hour's batch need not scan the day of labels
            # the day-old hour's batch reads); only this batch's (those of its inference ids), read file by file.
            ids = read.frame.get_column(COL_INFERENCE_ID) if COL_INFERENCE_ID in read.frame.columns else None
            labels = read_ground_truth(store, config.name, start=ranges[0][0], ids=ids)
            del ids
            handed[1] = lake_to_pandas(labels, consume=True)
            del labels
        handed[0] = lake_to_pandas(read.frame, consume=True)  # the polars rows go column by column as they convert
        del read
        logger.info(
            "lake rows loaded",
            model=config.name,
            monitor=monitor.name,
            batch=f"{number}/{len(reads)}",
            captures=len(handed[0]),
            labels=0 if handed[1] is None else len(handed[1]),
            reference=len(reference),
            chunks_reused=len(plan.reused) if plan is not None else 0,
        )
        window.add(handed.pop(0), handed.pop(0))  # handed over: dropped once prepared and joined
        longest = max(longest, time.monotonic() - began)
    result = window.finish()
    result.rows_superseded, result.rows_duplicate = superseded, duplicates
    key = monitor_results_key(config.name, request.run_id, monitor.name)
    store.put(key, to_parquet(result.table))
    logger.info(
        "monitor analysed",
        model=config.name,
        monitor=monitor.name,
        chunks_analysed=result.chunks_analysed,
        chunks_reused=result.chunks_reused,
        chunks_skipped=len(result.chunks_skipped),
        baseline=result.baseline,
        rows_superseded=superseded,
        rows_duplicate=duplicates,
    )
    return MonitorOutcome(
        monitor=monitor.name,
        results_key=key,
        chunks_analysed=result.chunks_analysed,
        chunks_reused=result.chunks_reused,
        chunks_skipped=result.chunks_skipped,
        rows_without_prediction=result.rows_without_prediction,
        labels=result.labels,
        baseline=result.baseline,
        realized_skipped=result.realized_skipped,
        rows_superseded=result.rows_superseded,
        rows_duplicate=result.rows_duplicate,
    )
