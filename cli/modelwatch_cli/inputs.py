"""Which local files `modelwatch run` and `decode` read, and why the others are not read: the SageMaker layout
`<endpoint>/<variant>/yyyy/mm/dd/hh/<file>`, or a flat folder (`--flat`) filed by each file's first inference time."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from modelwatch.capture.batch import parse_manifest
from modelwatch.capture.envelope import parse_inference_time
from modelwatch.capture.records import RecordError, open_payload
from modelwatch.errors import CaptureReadError

LAYOUT = "<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl"
BATCH_LAYOUT = "output/yyyy/mm/dd/hh/<manifest>.json (the job's capture), with the .out files they name"
BATCH_OUTPUT_SUFFIX = ".out"
SUFFIXES = (".jsonl", ".json", ".gz")
_SNIFF_BYTES = 1 << 16
_YEAR = re.compile(r"^\d{4}$")
_TWO_DIGITS = re.compile(r"^\d{2}$")

CAPTURE = "capture"
GROUND_TRUTH = "ground truth"


@dataclass(frozen=True)
class Skipped:
    """A file that is not read, and why (a sentence a newcomer can act on)."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"file": str(self.path), "reason": self.reason}


@dataclass(frozen=True)
class Found:
    """A file to read, with the hour it is filed under (its folders', or with --flat its first record's)."""

    path: Path
    hour: datetime | None


def hour_folders(relative: Path) -> datetime | None:
    """The hour of a path ending `yyyy/mm/dd/hh/<file>` (None when it does not)."""
    parts = relative.parts
    if len(parts) < 5 or not _YEAR.match(parts[-5]) or not all(_TWO_DIGITS.match(p) for p in parts[-4:-1]):
        return None
    try:
        year, month, day, hour = (int(p) for p in parts[-5:-1])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


def first_record(path: Path) -> dict[str, object] | None:
    """The file's first JSON record (gzip and a byte-order mark handled); None when it has none."""
    try:
        with path.open("rb") as handle:
            payload = open_payload(handle, str(path))
            head = b""
            while len(head) < _SNIFF_BYTES and b"\n" not in head:  # a read may return less than asked
                part = payload.read(_SNIFF_BYTES - len(head))
                if not part:
                    break
                head += part
    except (OSError, EOFError, CaptureReadError):
        return None
    for line in head.splitlines():
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                return None
            return record if isinstance(record, dict) else None
    return None


def kind_of(record: dict[str, object] | None) -> str | None:
    """CAPTURE or GROUND_TRUTH by the record's shape (None when neither)."""
    if record is None:
        return None
    if "groundTruthData" in record:
        return GROUND_TRUTH
    if "captureData" in record:
        return CAPTURE
    return None


def wrong_kind_hint(path: Path, ground_truth: bool) -> str | None:
    """A hint when a file holds the other kind of record than it is read as."""
    kind = kind_of(first_record(path))
    if kind == GROUND_TRUTH and not ground_truth:
        return f"{path} holds ground truth (groundTruthData records): read it with --ground-truth"
    if kind == CAPTURE and ground_truth:
        return f"{path} holds captures (captureData records), not ground truth: read it without --ground-truth"
    return None


def _first_time(record: dict[str, object] | None) -> datetime | None:
    metadata = record.get("eventMetadata") if record else None
    try:
        return parse_inference_time(metadata.get("inferenceTime")) if isinstance(metadata, dict) else None
    except RecordError:
        return None


def find_inputs(root: Path, *, flat: bool = False, ground_truth: bool = False) -> tuple[list[Found], list[Skipped]]:
    """The files under `root` to read (path order), and the others with why each is not read. Captures must be in
    the SageMaker layout, or with `flat` anywhere under root (filed by their first record's inference time)."""
    found: list[Found] = []
    skipped: list[Skipped] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        relative = path.relative_to(root)
        if path.suffix not in SUFFIXES:
            skipped.append(Skipped(path, f"not a capture file (reads {', '.join('*' + s for s in SUFFIXES)})"))
            continue
        if not path.stat().st_size:
            skipped.append(Skipped(path, "empty file"))
            continue
        record = first_record(path)
        kind = kind_of(record)
        if kind == GROUND_TRUTH and not ground_truth:
            skipped.append(
                Skipped(path, "holds ground truth (groundTruthData records): read it as ground truth (--ground-truth)")
            )
            continue
        if kind == CAPTURE and ground_truth:
            skipped.append(Skipped(path, "holds captures (captureData records), not ground truth"))
            continue
        if ground_truth:
            found.append(Found(path, hour_folders(relative)))
            continue
        hour = hour_folders(relative)
        if hour is None and flat:
            first = _first_time(record)
            if first is None:
                skipped.append(Skipped(path, "--flat: its first record has no usable eventMetadata.inferenceTime"))
                continue
            hour = first.replace(minute=0, second=0, microsecond=0)
        if hour is None:
            skipped.append(
                Skipped(path, f"outside the layout {LAYOUT} (found {relative.as_posix()}); move it or pass --flat")
            )
            continue
        found.append(Found(path, hour))
    return found, skipped


@dataclass(frozen=True)
class BatchManifest:
    """A batch transform job's `output/` capture manifest to read: its hour and the local `.out` files it names
    (found under the same folder by file name, wherever they are)."""

    path: Path
    hour: datetime
    outputs: list[Path]


def find_batch_inputs(root: Path) -> tuple[list[BatchManifest], list[Skipped]]:
    """A batch transform job's capture under `root` as its DestinationS3Uri holds it (`output/yyyy/mm/dd/hh/`
    manifests; `input/` ones are not read, the inputs come joined in the outputs), the `.out` files anywhere under
    root; and every other file with why it is not read."""
    outputs: dict[str, list[Path]] = {}
    for path in root.rglob(f"*{BATCH_OUTPUT_SUFFIX}"):
        if path.is_file():
            outputs.setdefault(path.name, []).append(path)
    found: list[BatchManifest] = []
    skipped: list[Skipped] = []
    named: set[Path] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix == BATCH_OUTPUT_SUFFIX:
            continue
        relative = path.relative_to(root)
        hour = hour_folders(relative)
        side = relative.parts[-6] if len(relative.parts) >= 6 else None
        if path.suffix != ".json" or hour is None or side not in ("input", "output"):
            skipped.append(Skipped(path, f"outside a batch transform capture's layout {BATCH_LAYOUT}"))
            continue
        if side == "input":
            skipped.append(Skipped(path, "an input/ manifest: the inputs come joined in the outputs"))
            continue
        try:
            names = [uri.rsplit("/", 1)[-1] for uri in parse_manifest(path.read_bytes(), str(relative))]
        except RecordError as exc:
            skipped.append(Skipped(path, str(exc)))
            continue
        missing = [name for name in names if name not in outputs]
        ambiguous = [name for name in names if len(outputs.get(name, [])) > 1]
        if missing or ambiguous:
            what = f"names {missing[0]}, not found" if missing else f"names {ambiguous[0]}, found more than once"
            skipped.append(Skipped(path, f"{what} under the folder (the .out files it lists are read by name)"))
            continue
        found.append(BatchManifest(path, hour, [outputs[name][0] for name in names]))
        named.update(outputs[name][0] for name in names)
    for paths in outputs.values():
        for path in paths:
            if path not in named:
                skipped.append(Skipped(path, "a .out file no read output/ manifest names"))
    return found, skipped


def echo_skipped(skipped: list[Skipped]) -> None:
    """One line per file not read, on stderr (the console, not only the log)."""
    for item in skipped:
        click.echo(f"not read: {item.path}: {item.reason}", err=True)
