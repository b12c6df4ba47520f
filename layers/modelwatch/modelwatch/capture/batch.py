"""SageMaker batch transform with data capture, as the endpoint capture records the decoder reads.

What AWS documents (DG `model-monitor-data-capture-batch`, `batch-transform-data-processing`, API
`DataProcessing`; the example notebooks' saved outputs in `aws/amazon-sagemaker-examples`, see README):
- a transform job with `DataCaptureConfig` writes no payloads, only manifests, under
  `<DestinationS3Uri>/input/yyyy/mm/dd/hh/<uuid>.json` and `<DestinationS3Uri>/output/yyyy/mm/dd/hh/<uuid>.json`
  (the hour the job started): a JSON array `[{"prefix": "s3://<bucket>/<path>/"}, "<file>", ...]` naming the
  job's input files and its `.out` output files;
- with `GenerateInferenceId` each output record gets the inference id (a UUID) and the job's start time: the last
  two columns of a CSV line, `SageMakerInferenceId` and `SageMakerInferenceTime` fields of a JSON object;
- with `JoinSource=Input` the input is in the output record: a CSV line is the input's columns followed by the
  output's; a JSON object is the input object with the output under `SageMakerOutput` (an input that is not an
  object is under `SageMakerInput`);
- Model Monitor's merge job writes `{"captureData": {"batchTransformOutput": {"data", "encoding"}},
  "groundTruthData": {...}, "eventMetadata": {"eventId"}}`: the output record without the two reserved fields,
  and no inference time.

Each transform output record (a CSV or JSON Lines line, or a whole JSON file) becomes one capture record with
`endpointInput` (the joined input, when there is one) and `endpointOutput`, so both decode paths read it as they
read an endpoint's captures.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, cast

from modelwatch.capture.records import RecordError
from modelwatch.config.model import BatchTransform, ModelConfig

INFERENCE_ID_FIELD = "SageMakerInferenceId"
INFERENCE_TIME_FIELD = "SageMakerInferenceTime"
OUTPUT_FIELD = "SageMakerOutput"
INPUT_FIELD = "SageMakerInput"
RESERVED_FIELDS = (INFERENCE_ID_FIELD, INFERENCE_TIME_FIELD)
BATCH_SIDE = "batchTransformOutput"
CSV_TYPE = "text/csv"
JSON_TYPE = "application/json"
MANIFEST_PREFIX = "prefix"


@dataclass(frozen=True)
class BatchRecord:
    """One transform output record split as an endpoint's capture: request and response payloads (content type,
    text; None when absent), and the inference id and time when the job generated them."""

    request: tuple[str, str] | None
    response: tuple[str, str] | None
    inference_id: str | None = None
    inference_time: str | None = None

    def sides(self) -> dict[str, dict[str, str]]:
        """The record's `captureData` sides."""
        found: dict[str, dict[str, str]] = {}
        payloads = (("endpointInput", "INPUT", self.request), ("endpointOutput", "OUTPUT", self.response))
        for side, mode, payload in payloads:
            if payload is not None:
                kind, text = payload
                encoding = "CSV" if kind == CSV_TYPE else "JSON"
                found[side] = {"observedContentType": kind, "mode": mode, "data": text, "encoding": encoding}
        return found


def settings(config: ModelConfig) -> BatchTransform:
    """The model's batch transform settings (the documented defaults when it has none)."""
    return config.batch_transform or BatchTransform()


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def split_json(record: dict[str, Any], batch: BatchTransform) -> BatchRecord:
    """A JSON output record: the reserved fields out, the output under SageMakerOutput (JoinSource=Input), the
    input the rest (or under SageMakerInput); without SageMakerOutput the whole object is the output."""
    fields = dict(record)
    inference_id = fields.pop(INFERENCE_ID_FIELD, None)
    inference_time = fields.pop(INFERENCE_TIME_FIELD, None)
    request: tuple[str, str] | None = None
    if OUTPUT_FIELD in fields:
        output = fields.pop(OUTPUT_FIELD)
        joined = fields.pop(INPUT_FIELD) if INPUT_FIELD in fields else fields
        request = (JSON_TYPE, json.dumps(joined))
    elif batch.join_source == "input":
        raise RecordError(f"batch transform record has no {OUTPUT_FIELD} (batch_transform.join_source is input)")
    else:
        output = fields
    return BatchRecord(
        request,
        (JSON_TYPE, json.dumps(output)),
        None if inference_id is None else str(inference_id),
        None if inference_time is None else str(inference_time),
    )


def split_csv(values: list[str], config: ModelConfig, batch: BatchTransform, with_ids: bool) -> BatchRecord:
    """A CSV output line: the inference id and time last (GenerateInferenceId), the input's columns first
    (JoinSource=Input: as many as the model has features), the output's the rest."""
    values = list(values)
    inference_id = inference_time = None
    if with_ids:
        if len(values) < 3:
            raise RecordError(
                f"batch transform CSV record has {len(values)} values: too few for the output, the inference id "
                "and the inference time (batch_transform.generate_inference_id)"
            )
        inference_id, inference_time = values[-2].strip(), values[-1].strip()
        values = values[:-2]
    request = None
    if batch.join_source == "input":
        n = len(config.features)
        if len(values) <= n:
            raise RecordError(
                f"batch transform CSV record has {len(values)} values before the inference id: the input's "
                f"{n} (features) and at least one output value expected (batch_transform.join_source input)"
            )
        request, values = (CSV_TYPE, _csv_line(values[:n])), values[n:]
    return BatchRecord(request, (CSV_TYPE, _csv_line(values)), inference_id, inference_time)


def _looks_like_ids(values: list[str]) -> bool:
    """The last two CSV values are an id and an ISO time (the merge job's data keeps them or not: undocumented)."""
    if len(values) < 3:
        return False
    text = values[-1].strip()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return len(text) >= 19 and text[10] in "Tt "


def merged_record(side: Any, config: ModelConfig) -> BatchRecord:
    """`captureData.batchTransformOutput` of Model Monitor's merged records: the output record without the
    reserved fields, JSON or CSV by its encoding."""
    if not isinstance(side, dict):
        raise RecordError(f"{BATCH_SIDE} is not a JSON object")
    data, encoding = side.get("data"), side.get("encoding")
    if not isinstance(data, str):
        raise RecordError(f"missing {BATCH_SIDE}.data" if data is None else f"{BATCH_SIDE}.data is not a string")
    batch = settings(config)
    if str(encoding).upper() == "JSON" or data.lstrip().startswith("{"):
        try:
            record = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise RecordError(f"invalid JSON in {BATCH_SIDE}.data: {exc}") from exc
        if not isinstance(record, dict):
            raise RecordError(f"{BATCH_SIDE}.data is a JSON {type(record).__name__}, expected an object")
        return split_json(record, batch)
    rows = list(csv.reader(io.StringIO(data.rstrip("\n"))))
    if len(rows) != 1:
        raise RecordError(f"{BATCH_SIDE}.data holds {len(rows)} CSV lines, expected one record")
    with_ids = batch.generate_inference_id and _looks_like_ids(rows[0])
    return split_csv(rows[0], config, batch, with_ids=with_ids)


# ---------------------------------------------------------------- transform outputs (.out files)
def capture_line(record: BatchRecord, event_id: str, inference_time: str | None) -> bytes:
    """One endpoint capture record (a JSON line) holding a batch record."""
    metadata: dict[str, str] = {"eventId": event_id, "inferenceId": event_id}
    if inference_time is not None:
        metadata["inferenceTime"] = inference_time
    document = {"captureData": record.sides(), "eventMetadata": metadata, "eventVersion": "0"}
    return json.dumps(document, separators=(",", ":")).encode()


def _records_of(text: str) -> tuple[str, list[Any]]:
    """The records of a transform output file and their format: one JSON object (SplitType None), JSON Lines
    objects (one per line), else CSV lines."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            whole = json.loads(stripped)
        except (ValueError, RecursionError):
            whole = None
        if isinstance(whole, dict):
            return "json", [whole]
        lines = [line for line in stripped.split("\n") if line.strip()]
        try:
            records = [json.loads(line) for line in lines]
        except (ValueError, RecursionError):
            records = []
        if records and all(isinstance(r, dict) for r in records):
            return "jsonlines", records
    return "csv", list(csv.reader(io.StringIO(text.rstrip("\n"))))


def transform_output_lines(text: str, config: ModelConfig, source: str, job_hour: datetime | None) -> Iterator[bytes]:
    """Capture lines for the records of one transform output file. Records without a generated inference id get
    an id from the file and the record's position, and the hour of the job's capture folder as their time."""
    batch = settings(config)
    kind, records = _records_of(text)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    fallback_time = job_hour.strftime("%Y-%m-%dT%H:%M:%SZ") if job_hour is not None else None
    for position, record in enumerate(records):
        try:
            if kind == "csv":
                split = split_csv(record, config, batch, with_ids=batch.generate_inference_id)
            else:
                split = split_json(record, batch)
        except RecordError:
            # As Model Monitor's merged records hold it: the decoder's per-record path quarantines it saying why.
            yield unsplit_line(record, kind, f"{digest}-{position + 1}", fallback_time)
            continue
        event_id = split.inference_id or f"{digest}-{position + 1}"
        yield capture_line(split, event_id, split.inference_time or fallback_time)


def unsplit_line(record: Any, kind: str, event_id: str, inference_time: str | None) -> bytes:
    """A capture line holding a transform output record as `captureData.batchTransformOutput`."""
    data = _csv_line(record) if kind == "csv" else json.dumps(record)
    metadata: dict[str, str] = {"eventId": event_id}
    if inference_time is not None:
        metadata["inferenceTime"] = inference_time
    side = {"data": data, "encoding": "CSV" if kind == "csv" else "JSON"}
    return json.dumps({"captureData": {BATCH_SIDE: side}, "eventMetadata": metadata}, separators=(",", ":")).encode()


def parse_manifest(body: bytes, source: str) -> list[str]:
    """The s3:// URIs a batch capture manifest names: `[{"prefix": "s3://..."}, "<file>", ...]` (one JSON array,
    or one per line). RecordError naming the manifest when it is not one."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{source}: batch capture manifest is not UTF-8") from exc
    try:
        documents = [json.loads(text)]
    except (ValueError, RecursionError):
        try:
            documents = [json.loads(line) for line in text.splitlines() if line.strip()]
        except (ValueError, RecursionError) as exc:
            raise RecordError(f"{source}: batch capture manifest is not JSON: {exc}") from exc
    uris: list[str] = []
    for document in documents:
        if not isinstance(document, list) or not document or not isinstance(document[0], dict):
            raise RecordError(f'{source}: batch capture manifest is not [{{"prefix": ...}}, file, ...]')
        prefix = document[0].get(MANIFEST_PREFIX)
        if not isinstance(prefix, str) or not prefix.startswith("s3://"):
            raise RecordError(f"{source}: batch capture manifest has no s3:// prefix")
        for name in document[1:]:
            if not isinstance(name, str) or not name:
                raise RecordError(f"{source}: batch capture manifest lists a non-string entry")
            uris.append(prefix + name if prefix.endswith("/") else f"{prefix}/{name}")
    return uris


class _LineStream:
    """A read-only byte stream of lines produced one by one (newline-terminated), for the decoder's reader."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines = lines
        self.pending = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.pending) < size:
            line = next(self.lines, None)
            if line is None:
                break
            self.pending += line + b"\n"
        if size < 0:
            data, self.pending = self.pending, b""
        else:
            data, self.pending = self.pending[:size], self.pending[size:]
        return data


def lines_stream(lines: Iterator[bytes]) -> BinaryIO:
    """The lines as a stream the capture decoder reads (lazily: one transform output file at a time)."""
    return cast(BinaryIO, _LineStream(lines))
