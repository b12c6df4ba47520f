"""Fit once, analyse many: each monitor's fitted baseline is pickled in the lake next to a manifest that guards reuse.

`models/<model>/<monitor>/baseline.pkl` and `baseline.json`. The manifest records the reference-data hash, the
monitor's fitting key (the config parts that change what is fitted), the library versions and the pickle's sha256.
A pickle is only unpickled from the model's own prefix and only when every one of those matches; anything else
means a refit. Integrity relies on the lake bucket's write permissions: whoever may write the manifest may also
write the pickle.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelwatch.errors import LakeError, UntrustedArtifactError
from modelwatch.lake.layout import monitor_prefix
from modelwatch.lake.store import ObjectStore
from modelwatch.observability import logger

BASELINE = "baseline"
TRACKED_LIBRARIES = ("nannyml", "scikit-learn", "lightgbm", "pandas", "numpy")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose objects are pickled (a fresh dict each call)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # Looked up once per process: every run keys its baselines on them (~6 ms each).
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for name in TRACKED_LIBRARIES:
        try:
            versions.append((name, version(name)))
        except PackageNotFoundError:
            versions.append((name, "absent"))
    return tuple(versions)


def digest(value: Any) -> str:
    """sha256 of a JSON-able value, canonically encoded."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """What a stored artifact must match to be reused."""

    reference_sha256: str
    config_sha256: str
    versions: dict[str, str]

    def matches(self, manifest: dict[str, Any]) -> bool:
        return (
            manifest.get("reference_sha256") == self.reference_sha256
            and manifest.get("config_sha256") == self.config_sha256
            and manifest.get("versions") == self.versions
        )

    def to_manifest(self) -> dict[str, Any]:
        return {
            "reference_sha256": self.reference_sha256,
            "config_sha256": self.config_sha256,
            "versions": self.versions,
        }


def cache_key(fitting_key: dict[str, Any], reference_sha256: str) -> CacheKey:
    return CacheKey(reference_sha256, digest(fitting_key), library_versions())


@dataclass(frozen=True)
class Artifact:
    """One monitor's named artifact: `<name>.pkl` (or another suffix) and `<name>.json` under its prefix."""

    model: str
    monitor: str
    name: str = BASELINE
    suffix: str = ".pkl"

    @property
    def body_key(self) -> str:
        return monitor_prefix(self.model, self.monitor) + self.name + self.suffix

    @property
    def manifest_key(self) -> str:
        return monitor_prefix(self.model, self.monitor) + self.name + ".json"


def read_manifest(store: ObjectStore, artifact: Artifact) -> dict[str, Any] | None:
    """The stored manifest, or None when there is none (or it is unreadable)."""
    if not store.exists(artifact.manifest_key):
        return None
    try:
        manifest = json.loads(store.get(artifact.manifest_key))
    except (LakeError, ValueError) as exc:
        logger.warning("manifest unreadable", model=artifact.model, manifest=artifact.manifest_key, error=str(exc))
        return None
    return manifest if isinstance(manifest, dict) else None


def load_body(store: ObjectStore, artifact: Artifact, key: CacheKey) -> tuple[bytes, dict[str, Any]] | None:
    """The artifact's bytes and manifest when the manifest matches `key` and the bytes their recorded sha256;
    None when stale or absent. UntrustedArtifactError when the bytes do not match their manifest."""
    manifest = read_manifest(store, artifact)
    if manifest is None or not key.matches(manifest):
        return None
    try:
        body = store.get(artifact.body_key)
    except LakeError:
        return None
    found = hashlib.sha256(body).hexdigest()
    if found != manifest.get("sha256"):
        raise UntrustedArtifactError(f"{artifact.body_key}: sha256 {found} does not match its manifest; not loaded")
    return body, manifest


def store_body(
    store: ObjectStore,
    artifact: Artifact,
    key: CacheKey,
    body: bytes,
    now: datetime,
    extra: dict[str, Any] | None = None,
    content_type: str = "application/octet-stream",
) -> None:
    """Write the bytes first, then the manifest naming their sha256 (a reader never sees a manifest without them)."""
    manifest = {
        "model": artifact.model,
        "monitor": artifact.monitor,
        **key.to_manifest(),
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
        "created_at": now.isoformat(),
        **(extra or {}),
    }
    store.put(artifact.body_key, body, content_type)
    store.put(artifact.manifest_key, json.dumps(manifest, indent=2, sort_keys=True).encode(), "application/json")


def load_baseline(store: ObjectStore, artifact: Artifact, key: CacheKey, kind: type) -> Any | None:
    """The cached baseline when its manifest matches `key`; None when stale or absent. A baseline whose bytes do
    not match their manifest, or that is not a `kind`, is refused (logged) and None returned: the caller refits."""
    try:
        found = load_body(store, artifact, key)
        if found is None:
            return None
        loaded = pickle.loads(found[0])  # noqa: S301 - hash-checked, the model's own prefix  # nosec B301
        if not isinstance(loaded, kind):
            raise UntrustedArtifactError(f"{artifact.body_key}: not a {kind.__name__}")
    except UntrustedArtifactError as exc:
        logger.warning("cached baseline refused; refitting", model=artifact.model, error=str(exc))
        return None
    return loaded


def store_baseline(store: ObjectStore, artifact: Artifact, key: CacheKey, baseline: Any, now: datetime) -> None:
    store_body(store, artifact, key, pickle.dumps(baseline, protocol=pickle.HIGHEST_PROTOCOL), now)
