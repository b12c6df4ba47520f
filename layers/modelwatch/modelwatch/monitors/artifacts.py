"""Fit once, analyse many: each monitor's fitted baseline is pickled in the lake next to a signed manifest.

`models/<model>/<monitor>/baseline.pkl` and `baseline.json`. The manifest records the artifact's own key, the
reference-data hash, the monitor's fitting key (the config parts that change what is fitted), the library versions
and the body's sha256, and a proof: a MAC over all of it made with the analysis' signing key (`modelwatch.signing`:
a KMS HMAC key on AWS that only the analysis function's role may use). Whoever can write the lake can write a pickle
and a manifest, but not the proof; so nothing is unpickled (or reused) unless its manifest matches, its proof
verifies with the key, it names this very location and the body matches its sha256. Anything else is refused
without being loaded, logged once, and refitted.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelwatch.errors import LakeError, SigningError, UntrustedArtifactError
from modelwatch.lake.layout import monitor_prefix
from modelwatch.lake.store import ObjectStore
from modelwatch.observability import logger
from modelwatch.signing import MAC_ALGORITHM, Signer

BASELINE = "baseline"
PROOF = "proof"  # the manifest's field holding {key, algorithm, mac}; the MAC covers every other field
PROOF_CONTEXT = b"modelwatch-artifact-manifest-v1\n"  # a MAC of a manifest can be mistaken for nothing else
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


def proof_message(manifest: dict[str, Any]) -> bytes:
    """What a manifest's proof is a MAC of: a digest of every field but the proof (KMS MACs at most 4 KB)."""
    return PROOF_CONTEXT + digest({k: v for k, v in manifest.items() if k != PROOF}).encode()


def check_proof(artifact: Artifact, manifest: dict[str, Any], signer: Signer) -> None:
    """UntrustedArtifactError unless the manifest names this artifact and its proof verifies with `signer`."""
    proof = manifest.get(PROOF)
    if not isinstance(proof, dict) or not isinstance(proof.get("mac"), str):
        raise UntrustedArtifactError(f"{artifact.manifest_key}: unsigned (no proof by the analysis key)")
    if manifest.get("artifact") != artifact.body_key:
        raise UntrustedArtifactError(f"{artifact.manifest_key}: signed for another location")
    try:
        verified = signer.verify(proof_message(manifest), proof["mac"])
    except SigningError as exc:
        raise UntrustedArtifactError(f"{artifact.manifest_key}: proof not checked: {exc}") from exc
    if not verified:
        raise UntrustedArtifactError(
            f"{artifact.manifest_key}: forged (its proof does not verify with the analysis key)"
        )


def load_body(
    store: ObjectStore, artifact: Artifact, key: CacheKey, signer: Signer
) -> tuple[bytes, dict[str, Any]] | None:
    """The artifact's bytes and manifest when the manifest matches `key`; None when stale or absent.
    UntrustedArtifactError (before the body is even read) when the manifest is unsigned, forged or moved, and when
    the bytes do not match their manifest."""
    manifest = read_manifest(store, artifact)
    if manifest is None or not key.matches(manifest):
        return None
    check_proof(artifact, manifest, signer)
    try:
        body = store.get(artifact.body_key)
    except LakeError:
        return None
    found = hashlib.sha256(body).hexdigest()
    if found != manifest.get("sha256"):
        raise UntrustedArtifactError(f"{artifact.body_key}: sha256 {found} does not match its manifest")
    return body, manifest


def store_body(
    store: ObjectStore,
    artifact: Artifact,
    key: CacheKey,
    body: bytes,
    now: datetime,
    signer: Signer,
    extra: dict[str, Any] | None = None,
    content_type: str = "application/octet-stream",
) -> None:
    """Write the bytes first, then the signed manifest naming their sha256 (a reader never sees a manifest without
    them). SigningError when the key cannot sign: nothing unsigned is stored."""
    manifest: dict[str, Any] = {
        "model": artifact.model,
        "monitor": artifact.monitor,
        "artifact": artifact.body_key,
        **key.to_manifest(),
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
        "created_at": now.isoformat(),
        **(extra or {}),
    }
    manifest[PROOF] = {"key": signer.key_id, "algorithm": MAC_ALGORITHM, "mac": signer.sign(proof_message(manifest))}
    store.put(artifact.body_key, body, content_type)
    store.put(artifact.manifest_key, json.dumps(manifest, indent=2, sort_keys=True).encode(), "application/json")


def load_baseline(store: ObjectStore, artifact: Artifact, key: CacheKey, kind: type, signer: Signer) -> Any | None:
    """The cached baseline when its manifest matches `key`; None when stale or absent. A baseline not proven to be
    the analysis' own (`load_body`), or that is not a `kind`, is refused (logged) and None returned: the caller
    refits."""
    try:
        found = load_body(store, artifact, key, signer)
        if found is None:
            return None
        loaded = pickle.loads(found[0])  # noqa: S301 - signed by the analysis key, hash-checked  # nosec B301
        if not isinstance(loaded, kind):
            raise UntrustedArtifactError(f"{artifact.body_key}: not a {kind.__name__}")
    except UntrustedArtifactError as exc:
        logger.warning("cached baseline refused; refitting", model=artifact.model, refused=str(exc))
        return None
    return loaded


def store_baseline(
    store: ObjectStore, artifact: Artifact, key: CacheKey, baseline: Any, now: datetime, signer: Signer
) -> None:
    store_body(store, artifact, key, pickle.dumps(baseline, protocol=pickle.HIGHEST_PROTOCOL), now, signer)
