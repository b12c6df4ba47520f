"""Compaction: a partition's files merged, a manifest readers honour, no row read twice, no row lost."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from modelwatch.lake.compaction import CompactRequest, compact_day, compact_partition
from modelwatch.lake.layout import Partition, manifest_key
from modelwatch.lake.reader import load_manifest, read_partition, read_rows
from tests.unit.lake.conftest import RECORDS_PER_SOURCE, SOURCES, START, RecordingStore, write_source

PARTITION = Partition("captures", "churn", "2024-03-01", "23")


def parquet_names(store, partition):
    return sorted(k.rsplit("/", 1)[1] for k in store.list(partition.prefix) if k.endswith(".parquet"))


def test_compaction_merges_files_and_keeps_every_row_once(lake):
    before = read_rows(lake, "captures", "churn").sort("event_id")
    assert len(parquet_names(lake, PARTITION)) == SOURCES
    # When the partition is compacted
    result = compact_partition(lake, PARTITION)
    # Then one compacted file replaces the sources, listed in the manifest
    assert result.compacted and result.inputs == SOURCES and len(result.live) == 1
    assert parquet_names(lake, PARTITION) == result.live
    manifest = load_manifest(lake, PARTITION)
    assert manifest is not None and manifest.live == result.live and len(manifest.replaced) == SOURCES
    # And readers see exactly the same rows
    after = read_rows(lake, "captures", "churn").sort("event_id")
    assert after.equals(before)


def test_files_written_after_compaction_are_read_too(lake):
    compact_partition(lake, PARTITION)
    write_source(lake, 99, start=START + timedelta(hours=1))  # a new source object with rows in the partition
    frame = read_partition(lake, PARTITION)
    assert frame.filter(pl.col("event_id").str.starts_with("s99-")).height > 0
    assert frame["event_id"].n_unique() == frame.height
    # A second compaction folds the new file in, still without duplicates
    second = compact_partition(lake, PARTITION)
    assert second.compacted and second.inputs == 2
    assert read_partition(lake, PARTITION).sort("event_id").equals(frame.sort("event_id"))
    assert load_manifest(lake, PARTITION).generation == 2


def test_a_replaced_file_written_again_is_not_read_twice(lake):
    compact_partition(lake, PARTITION)
    rows = read_partition(lake, PARTITION).height
    write_source(lake, 0)  # a retried ingest rewrites a source file the compaction already merged
    assert read_partition(lake, PARTITION).height == rows
    compact_partition(lake, PARTITION)  # and the next compaction removes it
    assert read_partition(lake, PARTITION).height == rows
    assert len(parquet_names(lake, PARTITION)) == 1


def test_an_interrupted_compaction_leaves_nothing_visible(lake, monkeypatch):
    # Given a compaction that dies after writing its merged file but before the manifest
    rows = read_partition(lake, PARTITION).height
    real_put = lake.put

    def failing_put(key, body, content_type="application/octet-stream"):
        if key == manifest_key(PARTITION):
            raise RuntimeError("crash")
        real_put(key, body, content_type)

    monkeypatch.setattr(lake, "put", failing_put)
    with pytest.raises(RuntimeError):
        compact_partition(lake, PARTITION)
    monkeypatch.setattr(lake, "put", real_put)
    # Then readers ignore the orphan merged file
    assert any(n.startswith("compacted-") for n in parquet_names(lake, PARTITION))
    assert read_partition(lake, PARTITION).height == rows
    # And a rerun completes the job
    assert compact_partition(lake, PARTITION).compacted
    assert read_partition(lake, PARTITION).height == rows


def test_a_reader_racing_a_compaction_rereads_from_the_new_manifest(tmp_path):
    # Given a reader that listed the partition before a compaction deleted the files it was about to read
    store = RecordingStore(tmp_path)
    for index in range(SOURCES):
        write_source(store, index)
    expected = read_partition(store, PARTITION).sort("event_id")
    state = {"done": False}
    real_get = store.get

    def get(key):
        if key.endswith(".parquet") and not state["done"]:
            state["done"] = True
            store.get = real_get  # the compaction itself reads normally
            compact_partition(store, PARTITION)
        return real_get(key)

    store.get = get
    # When it reads, Then it returns every row exactly once
    frame = read_partition(store, PARTITION).sort("event_id")
    assert state["done"]
    assert frame.equals(expected)


def test_single_file_partitions_are_left_alone(tmp_path):
    store = RecordingStore(tmp_path)
    write_source(store, 0)
    result = compact_partition(store, PARTITION)
    assert not result.compacted
    assert load_manifest(store, PARTITION) is None


def test_compact_day_covers_every_hour_of_the_day(lake):
    results = compact_day(lake, ["churn"], START.date())
    assert sorted(r.partition.hour for r in results) == ["22", "23"]
    assert all(r.compacted for r in results)
    assert read_rows(lake, "captures", "churn").height == SOURCES * RECORDS_PER_SOURCE


def test_large_partitions_are_split_into_a_few_files(lake):
    before = read_partition(lake, PARTITION).height
    result = compact_partition(lake, PARTITION, max_rows_per_file=5)
    assert len(result.live) == -(-before // 5)
    assert read_partition(lake, PARTITION).height == before


def test_compact_request_forms():
    now = START + timedelta(days=3)
    assert CompactRequest.model_validate({"days_ago": 1}).day(now) == (now - timedelta(days=1)).date()
    assert str(CompactRequest.model_validate({"model": "m", "dt": "2024-03-01"}).day(now)) == "2024-03-01"
    with pytest.raises(ValueError):
        CompactRequest.model_validate({})
