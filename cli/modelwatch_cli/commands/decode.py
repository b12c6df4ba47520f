"""`modelwatch decode`: decode local capture (or ground-truth) files into a lake folder, the ingest function's way.

Exit codes: 0 every record decoded, 3 some records quarantined, 1 a file could not be read or the config is invalid
(2 stays click's usage error).
"""

from __future__ import annotations

import json
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
from modelwatch_cli.inputs import Skipped, echo_skipped, find_inputs, wrong_kind_hint

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


def _expand(files: tuple[Path, ...], flat: bool, ground_truth: bool) -> tuple[list[Path], list[Skipped]]:
    """The files to decode: each file given, and the files found in each folder given (with those not read)."""
    paths: list[Path] = []
    skipped: list[Skipped] = []
    for given in files:
        if given.is_dir():
            found, left = find_inputs(given, flat=flat, ground_truth=ground_truth)
            paths.extend(f.path for f in found)
            skipped.extend(left)
        else:
            paths.append(given)
    return paths, skipped


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
@click.option(
    "--flat",
    is_flag=True,
    help="A FILES folder need not hold <endpoint>/<variant>/yyyy/mm/dd/hh/ folders: read every capture file in it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the totals, files and files not read as one JSON object.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def decode(
    model_path: Path, output: Path, ground_truth: bool, flat: bool, as_json: bool, files: tuple[Path, ...]
) -> None:
    """Decode SageMaker data-capture FILES (or the files in FILES folders) into Parquet under OUTPUT in the lake
    layout. A folder's captures are read from their hour folders (<endpoint>/<variant>/yyyy/mm/dd/hh/), or with
    --flat from anywhere in it; each file not read is named with why.

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
    paths, skipped = _expand(files, flat, ground_truth)
    echo_skipped(skipped)
    totals = {"records": 0, "rows": 0, "quarantined": 0, "rows_without_prediction": 0}
    unreadable: list[str] = []
    hints: list[str] = []
    show = len(paths) > 1 and sys.stderr.isatty()
    with _progress(len(paths), show) as advance:
        for path in paths:
            try:
                outcome = decode_file(path, config, store, ground_truth)
            except (CaptureReadError, LakeError) as exc:
                unreadable.append(str(path))
                click.echo(f"error: {exc}", err=True)
            else:
                for name in totals:
                    totals[name] += getattr(outcome, name)
                if outcome.quarantined and not outcome.rows:
                    hint = wrong_kind_hint(path, ground_truth)
                    if hint:
                        hints.append(hint)
                        click.echo(f"hint: {hint}", err=True)
            advance()
    status = "failed" if unreadable or not paths else ("quarantined" if totals["quarantined"] else "ok")
    if as_json:
        document = {
            "status": status,
            **totals,
            "files": len(paths),
            "files_unreadable": unreadable,
            "files_skipped": [item.to_dict() for item in skipped],
            "hints": hints,
            "output": str(output),
        }
        click.echo(json.dumps(document))
    else:
        click.echo(
            f"{status}: {totals['rows']} rows from {totals['records']} records, {totals['quarantined']} quarantined, "
            f"{totals['rows_without_prediction']} without prediction, {len(paths) - len(unreadable)}/{len(paths)} "
            f"files -> {output}" + (f" ({len(skipped)} not read)" if skipped else "")
        )
    if not paths:
        sys.exit(EXIT_UNREADABLE)
    if unreadable:
        sys.exit(EXIT_UNREADABLE)
    if totals["quarantined"]:
        sys.exit(EXIT_QUARANTINED)
