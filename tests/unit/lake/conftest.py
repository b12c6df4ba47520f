"""A local lake with several small capture files per hourly partition."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.ingest.pipeline import decode_capture_to_lake
from modelwatch.lake.layout import source_file_stem
from modelwatch.lake.store import LocalStore
from tests.unit.ingest.helpers import capture_file, churn_config

START = datetime(2024, 3, 1, 22, 0, tzinfo=UTC)
SOURCES = 4
RECORDS_PER_SOURCE = 12  # every 11 minutes from START + i*3m: spans 22h, 23h and the next day's 00h


class RecordingStore(LocalStore):
    """A LocalStore that remembers which prefixes were listed and which keys were read."""

    def __init__(self, root):
        super().__init__(root)
        self.listed: list[str] = []
        self.read: list[str] = []

    def list(self, prefix):
        self.listed.append(prefix)
        return super().list(prefix)

    def get(self, key):
        self.read.append(key)
        return super().get(key)


def write_source(store, index: int, start: datetime | None = None, records: int = RECORDS_PER_SOURCE) -> int:
    """Source object `index`: records from `start` (default START + 3*index minutes), ids `s<index>-<i>`."""
    first = start if start is not None else START + timedelta(minutes=3 * index)
    data = capture_file(first, records, prefix=f"s{index}", step=timedelta(minutes=11))
    stem = source_file_stem(f"src/{index}.jsonl", "v1")
    return decode_capture_to_lake(io.BytesIO(data), churn_config(), f"src/{index}", store, stem, start).rows


@pytest.fixture
def lake(tmp_path) -> RecordingStore:
    store = RecordingStore(tmp_path / "lake")
    for index in range(SOURCES):
        write_source(store, index)
    store.listed.clear()
    store.read.clear()
    return store
