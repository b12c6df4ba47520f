"""Parsing queue messages into object references, and what capture/ground-truth keys say."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from modelwatch.errors import IngestEventError
from modelwatch.ingest.events import ObjectRef, parse_object_created
from modelwatch.ingest.keys import folder_hour, parse_capture_key
from tests.helpers import load_event


def test_the_sqs_fixture_body_is_an_object_created_event():
    body = load_event("sqs_capture_object_created")["Records"][0]["body"]
    ref = parse_object_created(body)
    assert ref.bucket == "modelwatch-capture-123456789012"
    assert ref.key.startswith("datacapture/churn-endpoint/AllTraffic/2024/03/01/10/")
    assert ref.version == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"  # VersionId wins over the ETag
    assert ref.size == 2312 and ref.event_time == datetime(2024, 3, 1, 10, 17, 3, tzinfo=UTC)


def test_unversioned_objects_are_named_by_etag_and_moto_spelling_is_accepted():
    event = load_event("s3_object_created_ground_truth")
    del event["detail"]["object"]["version-id"]
    event["detail"]["object"]["eTag"] = event["detail"]["object"].pop("etag")
    ref = parse_object_created(json.dumps(event))
    assert ref.version == "9e107d9d372bb6826bd81d3542a419d6"


def test_an_object_ref_built_by_hand_has_no_etag_by_default():
    # Given an object reference built in code (backfill, replay, tests), not parsed from an event
    ref = ObjectRef("bucket", "key")
    # Then its optional fields are plain None, and it is named by nothing until its ETag is known
    assert (ref.etag, ref.version_id, ref.size, ref.event_time) == (None, None, None, None)
    assert ref.version == ""
    assert ObjectRef("bucket", "key", etag='"abc"').version == "abc"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"detail": {"bucket": {"name": "b"}}}),
        json.dumps({**load_event("s3_object_created_capture"), "detail-type": "Object Deleted"}),
    ],
)
def test_other_messages_are_rejected_clearly(body):
    with pytest.raises(IngestEventError):
        parse_object_created(body)


def test_capture_keys():
    key = parse_capture_key("a/b/datacapture/ep-1/AllTraffic/2024/03/01/10/15-02-417-uuid.jsonl", "a/b/datacapture/")
    assert key is not None
    assert (key.endpoint, key.variant, key.hour) == ("ep-1", "AllTraffic", datetime(2024, 3, 1, 10, tzinfo=UTC))
    assert key.prefix == "a/b/datacapture"
    assert parse_capture_key("other/ep/v/2024/03/01/10/f.jsonl", "datacapture/") is None
    assert parse_capture_key("datacapture/ep/v/2024/13/01/10/f.jsonl") is None
    assert parse_capture_key("datacapture/ep/f.jsonl") is None


def test_ground_truth_folder_hour():
    assert folder_hour("gt/2024/03/02/08/labels.jsonl") == datetime(2024, 3, 2, 8, tzinfo=UTC)
    assert folder_hour("gt/2023/01/01/00/x/2024/03/02/08/labels.jsonl") == datetime(2024, 3, 2, 8, tzinfo=UTC)
    assert folder_hour("gt/labels.jsonl") is None
    assert folder_hour("gt/2024/02/30/08/labels.jsonl") is None
