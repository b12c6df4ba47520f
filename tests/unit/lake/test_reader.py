"""Lake reader: partition pruning, time filtering, empty results, ground-truth dedup order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from modelwatch.lake.reader import latest_labels, read_captures, read_ground_truth, read_rows
from modelwatch.lake.store import LocalStore
from modelwatch.lake.writer import PartitionedWriter, source_id
from tests.unit.lake.conftest import RECORDS_PER_SOURCE, SOURCES, START


def test_reads_every_row_once(lake):
    frame = read_rows(lake, "captures", "churn")
    assert frame.height == SOURCES * RECORDS_PER_SOURCE
    assert frame["event_id"].n_unique() == frame.height


def test_time_range_reads_only_overlapping_partitions(lake):
    # When one hour is asked for
    start = START + timedelta(hours=1)
    frame = read_rows(lake, "captures", "churn", start=start, end=start + timedelta(hours=1))
    # Then only that day's prefix is listed, only that hour's files are read, and only its rows are returned
    assert lake.listed == ["captures/model=churn/dt=2024-03-01/"]
    assert lake.read and all("/hour=23/" in key for key in lake.read if key.endswith(".parquet"))
    assert frame.height > 0
    assert frame["inference_time"].dt.hour().unique().to_list() == [23]


def test_time_range_filters_rows_within_a_partition(lake):
    start = START + timedelta(minutes=20)
    frame = read_rows(lake, "captures", "churn", start=start, end=start + timedelta(minutes=15))
    everything = read_rows(lake, "captures", "churn")
    expected = everything.filter(
        (pl.col("inference_time") >= start) & (pl.col("inference_time") < start + timedelta(minutes=15))
    )
    assert frame.height == expected.height > 0


def test_columns_are_projected(lake):
    frame = read_rows(lake, "captures", "churn", START, START + timedelta(hours=3), columns=["inference_id"])
    assert frame.columns == ["inference_id"]
    assert frame.height == SOURCES * RECORDS_PER_SOURCE


def test_nothing_there_is_an_empty_frame(tmp_path):
    store = LocalStore(tmp_path)
    assert read_rows(store, "captures", "nobody").height == 0
    empty = read_rows(store, "captures", "nobody", columns=["a"], schema={"a": pl.Int64()})
    assert empty.schema == pl.Schema({"a": pl.Int64()})
    assert read_ground_truth(store, "nobody").height == 0


def _labels(source: str, modified: datetime, label_time: datetime, values: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "inference_id": list(values),
            "row_in_request": [0] * len(values),
            "y_true": list(values.values()),
            "label_time": [label_time] * len(values),
            "source_key": [source] * len(values),
            "source_line": list(range(1, len(values) + 1)),
            "source_modified": [modified] * len(values),
        },
        schema_overrides={
            "row_in_request": pl.Int32,
            "label_time": pl.Datetime("us", "UTC"),
            "source_modified": pl.Datetime("us", "UTC"),
        },
    )


def test_ground_truth_latest_source_wins_by_folder_time_then_last_modified_then_line(tmp_path):
    store = LocalStore(tmp_path)
    t0 = datetime(2024, 3, 2, 8, tzinfo=UTC)
    later_folder = _labels("s3://b/gt/2024/03/02/09/a", t0, t0 + timedelta(hours=1), {"a": 1})
    # Uploaded later (LastModified) but dated by an earlier folder: loses to the later folder
    earlier_folder = _labels("s3://b/gt/2024/03/02/08/b", t0 + timedelta(days=1), t0, {"a": 0, "b": 0})
    # Same folder as `earlier_folder`, modified later: wins for b
    same_folder_newer = _labels("s3://b/gt/2024/03/02/08/c", t0 + timedelta(days=2), t0, {"b": 1})
    for index, frame in enumerate([later_folder, earlier_folder, same_folder_newer]):
        writer = PartitionedWriter(store, "ground_truth", "m", "label_time", f"f{index}")
        writer.add(frame)
        writer.write()
    labels = read_ground_truth(store, "m").sort("inference_id")
    assert labels["inference_id"].to_list() == ["a", "b"]
    assert labels["y_true"].to_list() == [1, 1]


def test_ground_truth_of_given_inference_ids_is_read_alone_with_the_same_latest_labels(tmp_path):
    # Given labels for ids a-e over three label hours, a and c relabelled in a later hour
    store = LocalStore(tmp_path)
    t0 = datetime(2024, 3, 2, 8, tzinfo=UTC)
    files = [
        _labels("s3://b/gt/08/x", t0, t0, {"a": 0, "b": 0, "c": 0}),
        _labels("s3://b/gt/09/y", t0, t0 + timedelta(hours=1), {"d": 1, "e": 1}),
        _labels("s3://b/gt/10/z", t0, t0 + timedelta(hours=2), {"a": 1, "c": 1}),
    ]
    for index, frame in enumerate(files):
        writer = PartitionedWriter(store, "ground_truth", "m", "label_time", f"f{index}")
        writer.add(frame)
        writer.write()
    # When only the labels of ids a, d and one never labelled are read
    wanted = read_ground_truth(store, "m", ids=pl.Series(["a", "d", "zz"])).sort("inference_id")
    # Then those are the whole read's rows of a and d, the latest label of each
    whole = read_ground_truth(store, "m").filter(pl.col("inference_id").is_in(["a", "d"])).sort("inference_id")
    assert wanted.equals(whole)
    assert wanted["inference_id"].to_list() == ["a", "d"] and wanted["y_true"].to_list() == [1, 1]
    assert read_ground_truth(store, "m", ids=pl.Series([], dtype=pl.String)).height == 0
    # and a file in the area without inference ids (not written by modelwatch) leaves nothing, never fails the read
    writer = PartitionedWriter(store, "ground_truth", "m", "label_time", "f9")
    writer.add(files[0].drop("inference_id"))
    writer.write()
    again = read_ground_truth(store, "m", ids=pl.Series(["a", "d", "zz"])).sort("inference_id")
    assert again.equals(wanted)


def test_within_one_object_the_later_line_wins():
    t = datetime(2024, 1, 1, tzinfo=UTC)
    frame = pl.concat(
        [_labels("k", t, t, {"x": 0}), _labels("k", t, t, {"x": 1}).with_columns(source_line=pl.lit(9, dtype=pl.Int64))]
    )
    assert latest_labels(frame)["y_true"].to_list() == [1]


def test_only_what_changed_since_a_listing_is_read_again(tmp_path):
    from modelwatch.lake.reader import changed_partitions, list_partitions, read_listed

    store = LocalStore(tmp_path)
    rows = pl.DataFrame(
        {"inference_id": ["a", "b"], "row_in_request": [0, 0], "inference_time": [START, START + timedelta(hours=2)]}
    )
    first = PartitionedWriter(store, "captures", "m", "inference_time", "first")
    first.add(rows.head(1))
    first.write()
    before = list_partitions(store, "captures", "m")
    # a second source lands in a new hour, and a third in the first one's hour
    for source, frame in (
        ("second", rows.tail(1)),
        ("third", rows.head(1).with_columns(pl.lit("c").alias("inference_id"))),
    ):
        writer = PartitionedWriter(store, "captures", "m", "inference_time", source)
        writer.add(frame)
        writer.write()
    changed = changed_partitions(before, list_partitions(store, "captures", "m"))
    assert len(changed) == 2
    assert sorted(read_listed(store, "captures", changed)["inference_id"].to_list()) == ["a", "b", "c"]
    assert changed_partitions(before, before) == {}


# ---------------------------------------------------------------- captures, each record once
def _ingest(store: LocalStore, data: bytes, source: str, version: str, modified: datetime, ingested: datetime) -> None:
    """What capture ingestion writes for one object version (files named by source and version)."""
    import io

    from modelwatch.ingest.pipeline import decode_capture_to_lake
    from modelwatch.lake.layout import source_file_stem
    from tests.unit.ingest.helpers import churn_config

    stem = source_file_stem(source, version)
    decode_capture_to_lake(io.BytesIO(data), churn_config(), source, store, stem, ingested, arrived=modified)


WINDOW = [(START - timedelta(hours=1), START + timedelta(hours=4))]


def test_a_clean_lake_reads_as_stored(lake):
    # Given sources with distinct records: nothing is left out, rows in the reader's order
    read = read_captures(lake, "churn", WINDOW)
    assert (read.superseded, read.duplicates) == (0, 0)
    assert read.frame.equals(read_rows(lake, "captures", "churn", *WINDOW[0]))


def test_columns_left_out_are_never_read_and_records_stay_whole(lake, monkeypatch):
    # Given the lake's files, and a spy on the columns asked of each file
    import polars as pl

    asked: list[list[str]] = []
    real = pl.read_parquet

    def spy(source, columns=None, **kwargs):
        asked.append(list(columns) if columns is not None else ["<every column>"])
        return real(source, columns=columns, **kwargs)

    monkeypatch.setattr(pl, "read_parquet", spy)
    whole = read_captures(lake, "churn", WINDOW)
    asked.clear()
    # When the captures are read without a feature (and without the record key, which is kept whatever is asked)
    read = read_captures(lake, "churn", WINDOW, without=["tenure", "event_id"])
    # Then no file was asked for that feature, and the rows are the whole read's without it
    assert asked and all("tenure" not in columns and "event_id" in columns for columns in asked)
    assert read.frame.equals(whole.frame.drop("tenure"))
    assert (read.superseded, read.duplicates) == (whole.superseded, whole.duplicates)


def test_a_copied_file_counts_once_and_the_copies_are_counted(tmp_path):
    # Given a capture file, and the same file uploaded again under another name later
    from tests.unit.ingest.helpers import capture_file

    store = LocalStore(tmp_path)
    data = capture_file(START, 12, step=timedelta(minutes=11))  # spans three hours
    _ingest(store, data, "s3://c/a.jsonl", "v1", START, START + timedelta(hours=3))
    _ingest(store, data, "s3://c/copy.jsonl", "v1", START + timedelta(hours=1), START + timedelta(hours=4))
    # When the captures are read
    read = read_captures(store, "churn", WINDOW)
    # Then each record is there once (the later copy's row), and the 12 copies are counted
    assert read.frame.height == 12 and read.frame["event_id"].n_unique() == 12
    assert read.duplicates == 12 and read.superseded == 0
    assert read.frame["source_id"].unique().to_list() == [source_id("s3://c/copy.jsonl")]
    assert read_rows(store, "captures", "churn").height == 24  # as stored


def test_an_overwritten_object_is_superseded_by_its_new_version(tmp_path):
    from tests.unit.ingest.helpers import capture_file

    # Given an object whose second version (written a minute later) holds fewer records, with other probabilities
    store = LocalStore(tmp_path)
    second = capture_file(START, 6).replace(b"0.1", b"0.9")
    _ingest(store, second, "s3://c/a.jsonl", "v2", START + timedelta(minutes=1), START + timedelta(hours=1))
    # And the first version's event handled after it (ingested later): its LastModified is still the older
    _ingest(store, capture_file(START, 10), "s3://c/a.jsonl", "v1", START, START + timedelta(hours=2))
    read = read_captures(store, "churn", WINDOW)
    # Then only the new version's rows count, the old version's are superseded (even the records it alone had)
    assert read.frame.height == 6 and read.superseded == 10 and read.duplicates == 0
    assert sorted(read.frame["event_id"].to_list()) == sorted(f"ev-{i}" for i in range(6))
    assert read.frame.filter(pl.col("event_id") == "ev-1")["y_pred_proba"].to_list() == [0.9]


def test_versions_with_the_same_last_modified_are_ordered_by_ingest_time(tmp_path):
    from tests.unit.ingest.helpers import capture_file

    store = LocalStore(tmp_path)
    _ingest(store, capture_file(START, 4), "s3://c/a.jsonl", "v1", START, START + timedelta(hours=2))
    _ingest(store, capture_file(START, 3), "s3://c/a.jsonl", "v2", START, START + timedelta(hours=1))
    read = read_captures(store, "churn", WINDOW)
    assert (read.frame.height, read.superseded) == (4, 3)


def test_rows_stored_without_their_source_are_still_counted_once(tmp_path):
    # Given rows written before ingestion recorded the source: two files with the same records
    store = LocalStore(tmp_path)
    rows = pl.DataFrame(
        {
            "event_id": ["a", "b"],
            "row_in_request": [0, 0],
            "inference_time": [START, START + timedelta(minutes=1)],
        },
        schema_overrides={"inference_time": pl.Datetime("us", "UTC"), "row_in_request": pl.Int32},
    )
    for stem in ("old-1", "old-2"):
        writer = PartitionedWriter(store, "captures", "churn", "inference_time", stem)
        writer.add(rows)
        writer.write()
    read = read_captures(store, "churn", WINDOW)
    assert sorted(read.frame["event_id"].to_list()) == ["a", "b"] and read.duplicates == 2


def test_ranges_are_read_together(lake):
    # Two disjoint ranges read at once give the rows of each, as the analysis' fresh ranges are read
    first = (START, START + timedelta(minutes=30))
    second = (START + timedelta(hours=1), START + timedelta(hours=1, minutes=30))
    read = read_captures(lake, "churn", [first, second])
    expected = (
        read_rows(lake, "captures", "churn", *first).height + read_rows(lake, "captures", "churn", *second).height
    )
    assert read.frame.height == expected > 0
