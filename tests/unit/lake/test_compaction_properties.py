"""Property: whatever the interleaving of ingests, re-deliveries and (interrupted) compactions, a reader sees every
ingested row exactly once."""

from __future__ import annotations

import tempfile

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwatch.lake.compaction import compact_partition
from modelwatch.lake.layout import Partition, manifest_key
from modelwatch.lake.reader import read_partition
from tests.unit.lake.conftest import START, RecordingStore, write_source

PARTITION = Partition("captures", "churn", "2024-03-01", "22")
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("ingest"), st.integers(0, 5)),
        st.tuples(st.just("compact"), st.just(0)),
        st.tuples(st.just("crash"), st.just(0)),
        st.tuples(st.just("split"), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=12,
)


class _Crash(Exception):
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_no_row_is_read_twice_or_lost(operations):
    with tempfile.TemporaryDirectory() as root:
        store = RecordingStore(root)
        ingested: set[int] = set()
        for operation, argument in operations:
            if operation == "ingest":  # a new object, or a re-delivery of one already ingested
                write_source(store, argument, start=START, records=3)
                ingested.add(argument)
            elif operation == "compact":
                compact_partition(store, PARTITION)
            elif operation == "split":
                compact_partition(store, PARTITION, max_rows_per_file=argument)
            else:  # a compaction that dies right before its manifest
                real_put = store.put

                def put(key, body, content_type="application/octet-stream", real_put=real_put):
                    if key == manifest_key(PARTITION):
                        raise _Crash
                    real_put(key, body, content_type)

                store.put = put
                try:
                    compact_partition(store, PARTITION)
                except _Crash:
                    pass
                finally:
                    store.put = real_put
            frame = read_partition(store, PARTITION)
            expected = sorted(f"s{i}-{j}" for i in ingested for j in range(3))
            got = sorted(frame["event_id"].to_list()) if frame.height else []
            assert got == expected, (operations, operation)
            assert frame.height == 0 or frame.schema["event_id"] == pl.String
