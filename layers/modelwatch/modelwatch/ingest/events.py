"""The S3 "Object Created" event as EventBridge delivers it (the body of each ingest queue message)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from modelwatch.errors import IngestEventError


@dataclass(frozen=True)
class ObjectRef:
    """One version of one S3 object to ingest."""

    bucket: str
    key: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    event_time: datetime | None = None

    @property
    def version(self) -> str:
        """The object version the lake files and the processed record are named by: VersionId, else ETag."""
        return self.version_id or (self.etag or "").strip('"')

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class S3BucketDetail(_Event):
    name: str = Field(min_length=1)


class S3ObjectDetail(_Event):
    key: str = Field(min_length=1)
    size: int | None = None
    # AWS sends `etag`; moto's emulation sends `eTag`.
    etag: str | None = Field(default=None, validation_alias=AliasChoices("etag", "eTag"))
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class ObjectCreatedDetail(_Event):
    bucket: S3BucketDetail
    object: S3ObjectDetail
    reason: str | None = None


class ObjectCreatedEvent(_Event):
    """EventBridge `aws.s3` / `Object Created`; the key is NOT URL-encoded here (unlike classic notifications)."""

    source: str = "aws.s3"
    detail_type: str = Field(default="Object Created", alias="detail-type")
    time: datetime | None = None
    detail: ObjectCreatedDetail

    def ref(self) -> ObjectRef:
        obj = self.detail.object
        return ObjectRef(
            bucket=self.detail.bucket.name,
            key=obj.key,
            etag=obj.etag,
            version_id=obj.version_id or None,
            size=obj.size,
            event_time=self.time,
        )


def parse_object_created(body: str) -> ObjectRef:
    """Parse one queue message body into the object it announces; IngestEventError when it is not such an event."""
    try:
        event = ObjectCreatedEvent.model_validate_json(body)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(body)" for e in exc.errors()[:3])
        raise IngestEventError(f"queue message is not an S3 Object Created event ({fields})") from exc
    if event.source != "aws.s3" or event.detail_type != "Object Created":
        raise IngestEventError(f"unexpected event {event.source}/{event.detail_type}, expected aws.s3/Object Created")
    return event.ref()
