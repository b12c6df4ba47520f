"""Backfill: ingest the objects already under a capture (or ground-truth) prefix through the ingest functions' own
domain calls. Objects recorded in the state table are skipped there, so a re-run is safe and cheap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import ClientError

from modelwatch.clock import to_utc
from modelwatch.ingest.events import ObjectRef
from modelwatch.ingest.keys import folder_hour
from modelwatch.ingest.service import STATUS_DUPLICATE, STATUS_INGESTED, STATUS_SKIPPED, IngestResult
from modelwatch.observability import logger

IngestOne = Callable[[ObjectRef], IngestResult]


@dataclass
class BackfillFailure:
    key: str
    error: str


@dataclass
class BackfillSummary:
    """Totals of one backfill: objects seen, rows written, records quarantined, objects skipped and failed."""

    objects: int = 0
    ingested: int = 0
    rows: int = 0
    quarantined: int = 0
    skipped: int = 0
    failures: list[BackfillFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def add(self, result: IngestResult) -> None:
        self.objects += 1
        if result.status == STATUS_INGESTED:
            self.ingested += 1
            self.rows += result.rows
            self.quarantined += result.quarantined
        elif result.status in (STATUS_SKIPPED, STATUS_DUPLICATE):
            self.skipped += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "ingested": self.ingested,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "skipped": self.skipped,
            "failed": self.failed,
            "failures": [{"key": f.key, "error": f.error} for f in self.failures],
        }


def object_time(key: str, last_modified: datetime | None) -> datetime | None:
    """When an object's data was collected: its `yyyy/mm/dd/hh/` folder, else its LastModified."""
    return folder_hour(key) or (to_utc(last_modified) if last_modified is not None else None)


def bucket_is_versioned(s3_client: Any, bucket: str) -> bool:
    """Whether the bucket keeps versions (its events then name objects by VersionId, and so must a backfill)."""
    try:
        status = s3_client.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError:  # no s3:GetBucketVersioning: name objects by ETag, as unversioned events do
        return False
    return status in ("Enabled", "Suspended")


def list_objects(s3_client: Any, bucket: str, prefix: str, since: date | None = None) -> Iterator[ObjectRef]:
    """The current objects under `prefix` (paginated); `since` keeps objects whose hour folder (else LastModified)
    is on or after that day. Folder-like keys (ending in `/`) are left out.

    In a versioned bucket each object carries its VersionId, so the processed record found is the one the ingest
    function wrote for the same version's event (records are keyed by VersionId, else ETag)."""
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) if since is not None else None
    versioned = bucket_is_versioned(s3_client, bucket)
    if versioned:
        pages = s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        items = (v for page in pages for v in page.get("Versions", []) if v.get("IsLatest"))
    else:
        pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        items = (item for page in pages for item in page.get("Contents", []))
    for item in items:
        key = item["Key"]
        if key.endswith("/"):
            continue
        if start is not None:
            when = object_time(key, item.get("LastModified"))
            if when is not None and when < start:
                continue
        version_id = item.get("VersionId") if versioned else None
        yield ObjectRef(
            bucket=bucket,
            key=key,
            etag=str(item.get("ETag", "")).strip('"') or None,
            version_id=version_id if version_id and version_id != "null" else None,
            size=item.get("Size"),
        )


def backfill_objects(
    refs: list[ObjectRef], ingest: IngestOne, progress: Callable[[ObjectRef], None] | None = None
) -> BackfillSummary:
    """Ingest each object with `ingest` (ingest_capture_object or ingest_ground_truth_object, bound to clients);
    an object that fails is counted with its error and the backfill goes on."""
    summary = BackfillSummary()
    for ref in refs:
        try:
            result = ingest(ref)
        except Exception as exc:  # one bad object must not stop the backfill: counted and reported
            summary.objects += 1
            summary.failures.append(BackfillFailure(ref.key, f"{type(exc).__name__}: {exc}"))
            logger.warning("backfill object failed", key=ref.key, error=type(exc).__name__, reason=str(exc)[:300])
        else:
            summary.add(result)
        if progress is not None:
            progress(ref)
    logger.info("backfill done", **{k: v for k, v in summary.to_dict().items() if k != "failures"})
    return summary
