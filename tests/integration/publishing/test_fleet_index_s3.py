"""fleet.json on S3: conditional writes (If-Match / If-None-Match) decide which of two runs' updates lands first,
and the one that lost reads again, so both models stay on the fleet's index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from modelwatch.lake.layout import fleet_index_key, fleet_latest_key
from modelwatch.lake.store import S3Store
from modelwatch.publishing.pages import verdict_from_incidents, write_pages

NOW = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)


@pytest.fixture
def s3_store() -> Iterator[S3Store]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        yield S3Store(client, "lake")


def test_s3_conditional_writes_refuse_a_stale_tag(s3_store: S3Store) -> None:
    # Given no object: a write that expects none lands, a second one that expects none is refused
    first = s3_store.put_if("k", b"one", "text/plain", None)
    assert first is not None
    assert s3_store.put_if("k", b"again", "text/plain", None) is None
    # When another writer changes it, Then a write with the old tag is refused, one with the new tag lands
    body, tag = s3_store.get_tagged("k") or (b"", "")
    assert body == b"one" and tag == first
    s3_store.put("k", b"two")
    assert s3_store.put_if("k", b"three", "text/plain", first) is None
    _, newer = s3_store.get_tagged("k") or (b"", "")
    assert s3_store.put_if("k", b"three", "text/plain", newer) is not None
    assert s3_store.get("k") == b"three" and s3_store.get_tagged("absent") is None


def test_two_models_runs_both_reach_the_fleet_index_on_s3(s3_store: S3Store) -> None:
    # Given model a's run on the index, and model b's run whose read of fleet.json predates a second run of a
    write_pages(s3_store, verdict_from_incidents("a", "r1", {}, 3, NOW), lambda: [])
    stale = s3_store.get_tagged(fleet_latest_key())
    assert stale is not None
    write_pages(s3_store, verdict_from_incidents("a", "r2", {}, 3, NOW), lambda: [])
    # When b's write carries the stale tag, Then S3 refuses it; b's pages, written afresh, keep a's latest run
    assert s3_store.put_if(fleet_latest_key(), b"{}", "application/json", stale[1]) is None
    write_pages(s3_store, verdict_from_incidents("b", "r1", {}, 3, NOW), lambda: [])
    fleet = json.loads(s3_store.get(fleet_latest_key()))
    assert {m: e["run_id"] for m, e in fleet.items()} == {"a": "r2", "b": "r1"}
    page = s3_store.get(fleet_index_key()).decode()
    assert "model=a/index.html" in page and "model=b/index.html" in page
