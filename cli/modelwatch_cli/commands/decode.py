"""`modelwatch decode`: decode local capture (or ground-truth) files into a lake folder, the ingest function's way.

Exit codes: 0 every record decoded, 3 some records quarantined, 1 a file could not be read or the config is invalid
(2 stays click's usage error).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from modelwatch.capture.batch import lines_stream, transform_output_lines
from modelwatch.capture.records import open_payload
from modelwatch.clock import SystemClock
from modelwatch.config.model import ModelConfig, load_model_config
from modelwatch.errors import CaptureReadError, ConfigError, LakeError
from modelwatch.ingest.keys import folder_hour
from modelwatch.ingest.pipeline import ModelOutcome, decode_capture_to_lake, decode_ground_truth_to_lake
from modelwatch.lake.layout import source_file_stem
from modelwatch.lake.store import LocalStore

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_QUARANTINED = 3


def _version(path: Path) -> str:
    """A cheap stand-in for an ETag: size and modification time (same file, same output names)."""
    stat = path.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def decode_file(path: Path, config: ModelConfig, store: LocalStore, ground_truth: bool) -> ModelOutcome:
    """Decode one local file into the lake folder; CaptureReadError when it cannot be read at all."""
    source = str(path)
    now = SystemClock().now()
    try:
        stem = source_file_stem(str(path.resolve()), _version(path))
        with path.open("rb") as stream:
            if not ground_truth and config.batch_transform is not None and path.suffix == ".out":
                # a batch transform output file: its records as captures (timed by its hour folder when undated)
                text = open_payload(stream, source).read().decode("utf-8", errors="replace")
                lines = transform_output_lines(text, config, source, folder_hour(path.as_posix()))
                return decode_capture_to_lake(lines_stream(lines), config, source, store, stem, now)
            if not ground_truth:
                return decode_capture_to_lake(stream, config, source, store, stem, now)
            modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            label_time = folder_hour(path.as_posix()) or modified
            return decode_ground_truth_to_lake(stream, config, source, store, stem, now, label_time, modified)
    except OSError as exc:
        raise CaptureReadError(f"{path}: cannot read file: {exc.strerror or exc}") from exc


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    if not enabled:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("decoding", total=total)
        yield lambda: progress.advance(task)


@click.command()
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The model config (YAML).",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Lake folder: captures/ (or ground_truth/) and quarantine/ are written under it.",
)
@click.option("--ground-truth", is_flag=True, help="The files are ground-truth (model-quality merge) JSONL.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def decode(model_path: Path, output: Path, ground_truth: bool, files: tuple[Path, ...]) -> None:
    """Decode SageMaker data-capture FILES into Parquet under OUTPUT in the lake layout.

    Exit 0 when every record decoded, 3 when some were quarantined, 1 when a file could not be read or the
    config is invalid.

    \b
    Examples:
      modelwatch decode --model model.yaml --output lake/ captures/churn/AllTraffic/2026/03/01/10/*.jsonl
      modelwatch decode --model model.yaml --output lake/ --ground-truth labels/*.jsonl
    """
    try:
        config = load_model_config(model_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    store = LocalStore(output)
    totals = {"records": 0, "rows": 0, "quarantined": 0, "rows_without_prediction": 0}
    unreadable: list[str] = []
    show = len(files) > 1 and sys.stderr.isatty()
    with _progress(len(files), show) as advance:
        for path in files:
            try:
                outcome = decode_file(path, config, store, ground_truth)
            except (CaptureReadError, LakeError) as exc:
                unreadable.append(str(path))
                click.echo(f"error: {exc}", err=True)
            else:
                for name in totals:
                    totals[name] += getattr(outcome, name)
            advance()
    status = "failed" if unreadable else ("quarantined" if totals["quarantined"] else "ok")
    click.echo(
        f"{status}: {totals['rows']} rows from {totals['records']} records, {totals['quarantined']} quarantined, "
        f"{totals['rows_without_prediction']} without prediction, {len(files) - len(unreadable)}/{len(files)} files "
        f"-> {output}"
    )
    if unreadable:
        sys.exit(EXIT_UNREADABLE)
    if totals["quarantined"]:
        sys.exit(EXIT_QUARANTINED)
