"""Object storage behind the lake: S3 on AWS, a local folder for `modelwatch decode`/`run` outputs."""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from modelwatch.errors import LakeError

_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404", "412", "409"}


class ObjectStore(Protocol):
    """The few operations the lake needs; keys are `/`-separated relative paths."""

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]: ...

    def list_tagged(self, prefix: str) -> Iterator[tuple[str, str]]:
        """(key, tag) under the prefix; the tag changes whenever the object's content does (S3: its ETag)."""
        ...

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object's body and tag (S3: its ETag); None when there is no such object."""
        ...

    def put_if(self, key: str, body: bytes, content_type: str, tag: str | None) -> str | None:
        """Write only if the object is still the one read with `tag` (None: only if there is none): the new tag, or
        None when another writer changed it meanwhile (S3's conditional writes, If-Match / If-None-Match)."""
        ...

    def delete(self, keys: builtins.list[str]) -> None: ...

    def uri(self, key: str) -> str: ...


class S3Store:
    """An S3 bucket as an ObjectStore."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except self.client.exceptions.NoSuchKey as exc:
            raise LakeError(f"s3://{self.bucket}/{key} does not exist") from exc

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        return bytes(response["Body"].read()), str(response.get("ETag", ""))

    def put_if(self, key: str, body: bytes, content_type: str, tag: str | None) -> str | None:
        condition = {"IfMatch": tag} if tag is not None else {"IfNoneMatch": "*"}
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **condition
            )
        except ClientError as exc:
            # 412: changed (or created) since it was read; 409: a concurrent conditional write won; 404: deleted
            if exc.response.get("Error", {}).get("Code") in _CONDITION_FAILED:
                return None
            raise
        return str(response.get("ETag", ""))

    def exists(self, key: str) -> bool:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in response.get("Contents", []))

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def list_tagged(self, prefix: str) -> Iterator[tuple[str, str]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], str(item.get("ETag", ""))

    def delete(self, keys: builtins.list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            if batch:
                response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                # DeleteObjects answers 200 even when keys were not deleted (denied, locked): they are its Errors.
                errors = response.get("Errors") or []
                if errors:
                    first = errors[0]
                    raise LakeError(
                        f"s3://{self.bucket}/{first.get('Key')}: not deleted ({first.get('Code')}), "
                        f"{len(errors)} of {len(batch)} keys"
                    )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class LocalStore:
    """A local folder as an ObjectStore (CLI outputs, tests)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise LakeError(f"key {key!r} escapes the store root")
        return path

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(body)
        tmp.replace(path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise LakeError(f"{self.root / key} does not exist") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        # Walk only the folder the prefix names (as S3 lists one prefix), not the whole root.
        folder = prefix.rpartition("/")[0]
        if folder:
            self._path(folder)  # refuses a prefix that escapes the root
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            return
        base = self.root
        for path in sorted(start.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    yield key

    def list_tagged(self, prefix: str) -> Iterator[tuple[str, str]]:
        # A digest of the content, not the mtime: a rewrite within the file system's time resolution still counts.
        for key in self.list(prefix):
            yield key, _digest(self._path(key).read_bytes())

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            body = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        return body, _digest(body)

    def put_if(self, key: str, body: bytes, content_type: str, tag: str | None) -> str | None:
        # Compared, then written: one process's writers (the CLI's) are serialised; two processes are not.
        found = self.get_tagged(key)
        if (found[1] if found is not None else None) != tag:
            return None
        self.put(key, body, content_type)
        return _digest(body)

    def delete(self, keys: builtins.list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return str(self.root / key)


def _digest(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into bucket and key."""
    if not uri.startswith("s3://"):
        raise LakeError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise LakeError(f"no bucket in {uri!r}")
    return bucket, key
