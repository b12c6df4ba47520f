"""Fit once, estimate many: the fitted monitor is pickled in the lake next to a manifest that guards reuse.

The same signed-pickle scheme keeps the analysis state of incremental runs (`modelwatch.estimation.reuse`). The
manifest records the reference-data hash, the fitting fingerprint of the config, the library versions and
the pickle's sha256. A pickle is only unpickled from the model's own estimator prefix, and only when every one of
those matches; anything else means a refit. Integrity relies on the lake bucket's write permissions: whoever may
write the manifest may also write the pickle.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelwatch.config.model import ModelConfig
from modelwatch.errors import LakeError, UntrustedArtifactError
from modelwatch.estimation.estimator import FittedMonitor, fitting_fingerprint
from modelwatch.lake.layout import estimator_prefix
from modelwatch.lake.store import ObjectStore
from modelwatch.observability import logger

PICKLE_NAME = "estimator.pkl"
MANIFEST_NAME = "manifest.json"
TRACKED_LIBRARIES = ("nannyml", "scikit-learn", "lightgbm", "pandas", "numpy")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose objects are pickled (a fresh dict each call)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # Looked up once per process: every run keys both the estimator and the stored analysis on them (~6 ms each).
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for name in TRACKED_LIBRARIES:
        try:
            versions.append((name, version(name)))
        except PackageNotFoundError:
            versions.append((name, "absent"))
    return tuple(versions)


def config_hash(config: ModelConfig) -> str:
    """Hash of the config fields that affect fitting."""
    canonical = json.dumps(fitting_fingerprint(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """What a cached fit must match to be reused."""

    reference_sha256: str
    config_sha256: str
    versions: dict[str, str]

    def matches(self, manifest: dict[str, Any]) -> bool:
        return (
            manifest.get("reference_sha256") == self.reference_sha256
            and manifest.get("config_sha256") == self.config_sha256
            and manifest.get("versions") == self.versions
        )


def cache_key(config: ModelConfig, reference_sha256: str) -> CacheKey:
    return CacheKey(reference_sha256, config_hash(config), library_versions())


@dataclass(frozen=True)
class Artifact:
    """A pickled object under the model's estimator prefix and the manifest that guards it."""

    pickle_name: str
    manifest_name: str

    def pickle_key(self, model: str) -> str:
        return estimator_prefix(model) + self.pickle_name

    def manifest_key(self, model: str) -> str:
        return estimator_prefix(model) + self.manifest_name


MONITOR = Artifact(PICKLE_NAME, MANIFEST_NAME)


def pickle_key(model: str) -> str:
    return MONITOR.pickle_key(model)


def manifest_key(model: str) -> str:
    return MONITOR.manifest_key(model)


def read_manifest(store: ObjectStore, model: str, artifact: Artifact = MONITOR) -> dict[str, Any] | None:
    """The stored manifest, or None when there is none (or it is unreadable)."""
    key = artifact.manifest_key(model)
    if not store.exists(key):
        return None
    try:
        manifest = json.loads(store.get(key))
    except (LakeError, ValueError) as exc:
        logger.warning("manifest unreadable", model=model, manifest=key, error=str(exc))
        return None
    return manifest if isinstance(manifest, dict) else None


def load_artifact(store: ObjectStore, model: str, key: CacheKey, artifact: Artifact, kind: type) -> Any | None:
    """The artifact when its manifest matches `key`; None when stale or absent.

    Raises UntrustedArtifactError when the manifest matches but the pickle's sha256 does not, or the pickle is not
    a `kind`.
    """
    manifest = read_manifest(store, model, artifact)
    if manifest is None or not key.matches(manifest):
        return None
    try:
        body = store.get(artifact.pickle_key(model))
    except LakeError:
        return None
    digest = hashlib.sha256(body).hexdigest()
    if digest != manifest.get("pickle_sha256"):
        raise UntrustedArtifactError(
            f"{artifact.pickle_key(model)}: sha256 {digest} does not match its manifest; refusing to load it"
        )
    loaded = pickle.loads(body)  # noqa: S301 - hash-checked, own prefix  # nosec B301
    if not isinstance(loaded, kind):
        raise UntrustedArtifactError(f"{artifact.pickle_key(model)}: not a {kind.__name__}")
    return loaded


def store_artifact(
    store: ObjectStore, model: str, key: CacheKey, artifact: Artifact, value: Any, now: datetime
) -> None:
    """Write the pickle first, then the manifest naming its sha256 (a reader never sees a manifest without it)."""
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    manifest = {
        "model": model,
        "reference_sha256": key.reference_sha256,
        "config_sha256": key.config_sha256,
        "versions": key.versions,
        "pickle_sha256": hashlib.sha256(body).hexdigest(),
        "pickle_bytes": len(body),
        "created_at": now.isoformat(),
    }
    store.put(artifact.pickle_key(model), body)
    store.put(artifact.manifest_key(model), json.dumps(manifest, indent=2, sort_keys=True).encode(), "application/json")


def load_cached_monitor(store: ObjectStore, model: str, key: CacheKey) -> FittedMonitor | None:
    """The cached fit when its manifest matches `key`; None when stale or absent (see load_artifact)."""
    monitor: FittedMonitor | None = load_artifact(store, model, key, MONITOR, FittedMonitor)
    return monitor


def store_monitor(store: ObjectStore, model: str, key: CacheKey, monitor: FittedMonitor, now: datetime) -> None:
    store_artifact(store, model, key, MONITOR, monitor, now)
