"""Lake writer: one deterministic Parquet file per (source object, hour), quarantine as JSON lines."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import polars as pl

from modelwatch.capture import QuarantinedRecord, decode_capture_bytes
from modelwatch.ingest.pipeline import decode_capture_to_lake
from modelwatch.lake.layout import source_file_stem
from modelwatch.lake.reader import SOURCE_COLUMNS
from modelwatch.lake.store import LocalStore
from modelwatch.lake.writer import PartitionedWriter, source_id, write_quarantine
from tests.unit.ingest.helpers import capture_file, capture_line, churn_config

START = datetime(2024, 3, 1, 9, 50, tzinfo=UTC)


def test_rows_are_split_by_inference_hour_into_one_file_per_partition(tmp_path):
    # Given a capture file whose records span three hours
    config = churn_config()
    data = capture_file(START, 20)  # every 7 minutes: 09:50 .. 12:03
    stem = source_file_stem("datacapture/x.jsonl", "etag1")
    # When it is decoded into the lake
    outcome = decode_capture_to_lake(io.BytesIO(data), config, "s3://b/x", LocalStore(tmp_path), stem, START)
    # Then there is one file per hour, named by the source stem, holding exactly that hour's rows
    keys = [f.key for f in outcome.files]
    assert keys == [f"captures/model=churn/dt=2024-03-01/hour={h}/{stem}.parquet" for h in ("09", "10", "11", "12")]
    total = 0
    for written in outcome.files:
        frame = pl.read_parquet(tmp_path / written.key)
        hours = frame["inference_time"].dt.hour().unique().to_list()
        assert hours == [int(written.partition.hour)]
        total += frame.height
    assert total == outcome.rows == 20
    assert sum(outcome.rows_per_hour.values()) == 20
    assert outcome.quarantine_file is None


def test_writing_the_same_source_twice_gives_identical_files(tmp_path):
    config = churn_config()
    data = capture_file(START, 30)
    stem = source_file_stem("k", "v")
    first = decode_capture_to_lake(io.BytesIO(data), config, "s", LocalStore(tmp_path / "a"), stem, START)
    second = decode_capture_to_lake(io.BytesIO(data), config, "s", LocalStore(tmp_path / "b"), stem, START)
    assert [f.key for f in first.files] == [f.key for f in second.files]
    for written in first.files:
        assert (tmp_path / "a" / written.key).read_bytes() == (tmp_path / "b" / written.key).read_bytes()


def test_streaming_batches_write_the_same_rows_as_one_batch(tmp_path):
    config = churn_config()
    data = capture_file(START, 25)
    stem = "s"
    small = decode_capture_to_lake(io.BytesIO(data), config, "s", LocalStore(tmp_path / "a"), stem, START, 4)
    whole = decode_capture_bytes(data, config, "s").rows
    frames = [pl.read_parquet(tmp_path / "a" / f.key) for f in small.files]
    # the decoded rows, with the source the writer records for the reader's counting once (one value per file)
    stored = pl.concat(frames)
    assert stored.select(SOURCE_COLUMNS).unique().rows() == [(source_id("s"), None, START)]
    assert stored.drop(SOURCE_COLUMNS).sort("event_id").equals(whole.sort("event_id"))


def test_quarantined_records_are_kept_whole_by_processing_hour(tmp_path):
    # Given a file with a good record and an undecodable one
    config = churn_config()
    good = capture_line("ok-1", START, [(1.0, 2.0)], [0.3])
    data = (good + "\n{not json\n").encode()
    processed = datetime(2024, 3, 5, 17, 3, tzinfo=UTC)
    # When it is decoded
    outcome = decode_capture_to_lake(io.BytesIO(data), config, "s3://b/k", LocalStore(tmp_path), "stem", processed)
    # Then the good record is in the lake and the bad one is in quarantine with its line and reason
    assert outcome.rows == 1 and outcome.quarantined == 1 and outcome.records == 2
    assert outcome.quarantine_file is not None
    assert outcome.quarantine_file.key == "quarantine/model=churn/dt=2024-03-05/hour=17/stem.jsonl"
    lines = (tmp_path / outcome.quarantine_file.key).read_text().splitlines()
    entry = json.loads(lines[0])
    assert entry["source"] == "s3://b/k" and entry["line"] == 2 and entry["raw"] == "{not json" and entry["reason"]


def test_no_rows_writes_nothing(tmp_path):
    writer = PartitionedWriter(LocalStore(tmp_path), "captures", "m", "inference_time", "s")
    writer.add(pl.DataFrame(schema={"inference_time": pl.Datetime("us", "UTC")}))
    assert writer.write() == []
    assert write_quarantine(LocalStore(tmp_path), "m", [], "s", START) is None
    assert not any(tmp_path.rglob("*.parquet"))


def test_quarantine_lines_are_json_lines():
    from modelwatch.lake.writer import quarantine_lines

    body = quarantine_lines([QuarantinedRecord("src", 3, "bad base64", "raw\u20ac")]).decode()
    assert json.loads(body.splitlines()[0]) == {"source": "src", "line": 3, "reason": "bad base64", "raw": "raw\u20ac"}
