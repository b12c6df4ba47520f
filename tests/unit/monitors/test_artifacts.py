"""Stored artifacts: nothing is unpickled unless its manifest's proof verifies with the analysis key."""

from __future__ import annotations

import hashlib
import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelwatch.errors import SigningError, UntrustedArtifactError
from modelwatch.lake.store import LocalStore
from modelwatch.monitors import artifacts
from modelwatch.signing import HmacSigner, Signer

NOW = datetime(2026, 3, 2, tzinfo=UTC)
KEY = artifacts.CacheKey("ref-sha", "config-sha", {"nannyml": "1"})
OURS = HmacSigner(b"o" * 32, "analysis-key")
ATTACKER = HmacSigner(b"a" * 32, "attacker-key")


class Payload:
    """A pickle that runs code when loaded: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


class Baseline:
    """A stand-in for a fitted baseline."""

    def __init__(self, value: int) -> None:
        self.value = value


def _forge(store: LocalStore, artifact: artifacts.Artifact, body: bytes, signer: Signer | None) -> None:
    """What someone with write access to the lake can do: a body and a manifest with its plain sha256, signed with
    their own key or not at all."""
    manifest = {
        "model": artifact.model,
        "monitor": artifact.monitor,
        "artifact": artifact.body_key,
        **KEY.to_manifest(),
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
        "created_at": NOW.isoformat(),
    }
    if signer is not None:
        mac = signer.sign(artifacts.proof_message(manifest))
        manifest[artifacts.PROOF] = {"key": "analysis-key", "algorithm": "HMAC_SHA_256", "mac": mac}
    store.put(artifact.body_key, body)
    store.put(artifact.manifest_key, json.dumps(manifest).encode())


@pytest.fixture
def payload(tmp_path: Path) -> tuple[bytes, Path]:
    marker = tmp_path / "payload-ran"
    # The payload is real: unpickling it anywhere writes its marker
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Payload(probe)))
    assert probe.read_text() == "ran"
    return pickle.dumps(Payload(marker)), marker


def test_a_signed_baseline_loads(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lake")
    artifact = artifacts.Artifact("m", "performance")
    artifacts.store_baseline(store, artifact, KEY, Baseline(7), NOW, OURS)
    manifest = json.loads(store.get(artifact.manifest_key))
    assert manifest["artifact"] == artifact.body_key and manifest["proof"]["key"] == "analysis-key"
    loaded = artifacts.load_baseline(store, artifact, KEY, Baseline, OURS)
    assert isinstance(loaded, Baseline) and loaded.value == 7


@pytest.mark.parametrize(("signer", "word"), [(None, "unsigned"), (ATTACKER, "forged")])
def test_a_forged_or_unsigned_pickle_is_refused_before_it_is_read(
    tmp_path: Path, payload: tuple[bytes, Path], signer: Signer | None, word: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a malicious pickle with a manifest naming its sha256, written by someone without the analysis key
    body, marker = payload
    store = LocalStore(tmp_path / "lake")
    artifact = artifacts.Artifact("m", "performance")
    _forge(store, artifact, body, signer)
    warnings: list[dict[str, object]] = []
    monkeypatch.setattr(artifacts.logger, "warning", lambda msg, **kw: warnings.append({"msg": msg, **kw}))
    # When it is loaded
    with pytest.raises(UntrustedArtifactError, match=word):
        artifacts.load_body(store, artifact, KEY, OURS)
    loaded = artifacts.load_baseline(store, artifact, KEY, Baseline, OURS)
    # Then it is refused, logged once with the reason, and the payload never ran
    assert loaded is None
    assert not marker.exists()
    assert len(warnings) == 1 and "refused" in str(warnings[0]["msg"]) and word in str(warnings[0]["refused"])


def test_a_signed_manifest_moved_to_another_location_is_refused(tmp_path: Path) -> None:
    # Given model a's genuine baseline copied under model b
    store = LocalStore(tmp_path / "lake")
    source, target = artifacts.Artifact("a", "performance"), artifacts.Artifact("b", "performance")
    artifacts.store_baseline(store, source, KEY, Baseline(1), NOW, OURS)
    store.put(target.body_key, store.get(source.body_key))
    store.put(target.manifest_key, store.get(source.manifest_key))
    # Then b does not load it
    with pytest.raises(UntrustedArtifactError, match="another location"):
        artifacts.load_body(store, target, KEY, OURS)


def test_an_altered_manifest_or_body_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lake")
    artifact = artifacts.Artifact("m", "drift", "analysis", ".parquet")
    artifacts.store_body(store, artifact, KEY, b"rows", NOW, OURS, {"fingerprints": {"c1": "f1"}})
    original = store.get(artifact.manifest_key)
    # a manifest field changed after signing (here: the fingerprints that decide which chunks are reused)
    manifest = json.loads(original)
    manifest["fingerprints"]["c1"] = "f2"
    store.put(artifact.manifest_key, json.dumps(manifest).encode())
    with pytest.raises(UntrustedArtifactError, match="forged"):
        artifacts.load_body(store, artifact, KEY, OURS)
    # the body changed after signing
    store.put(artifact.manifest_key, original)
    store.put(artifact.body_key, b"other rows")
    with pytest.raises(UntrustedArtifactError, match="does not match its manifest"):
        artifacts.load_body(store, artifact, KEY, OURS)


def test_a_stale_manifest_is_not_even_checked(tmp_path: Path) -> None:
    # Given a signed artifact for another reference
    store = LocalStore(tmp_path / "lake")
    artifact = artifacts.Artifact("m", "performance")
    artifacts.store_baseline(store, artifact, KEY, Baseline(1), NOW, OURS)
    other = artifacts.CacheKey("other-ref", KEY.config_sha256, KEY.versions)
    # Then it is simply not a match (no refusal, the caller fits)
    assert artifacts.load_body(store, artifact, other, ATTACKER) is None


class Unavailable(Signer):
    key_id = "down"

    def sign(self, message: bytes) -> str:
        raise SigningError("cannot sign with KMS key down: AccessDeniedException")

    def verify(self, message: bytes, mac: str) -> bool:
        raise SigningError("cannot verify with KMS key down: AccessDeniedException")


def test_without_a_usable_key_nothing_is_loaded_and_nothing_unsigned_is_stored(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lake")
    artifact = artifacts.Artifact("m", "performance")
    artifacts.store_baseline(store, artifact, KEY, Baseline(1), NOW, OURS)
    # a proof that cannot be checked is no proof
    assert artifacts.load_baseline(store, artifact, KEY, Baseline, Unavailable()) is None
    # and a key that cannot sign stores nothing
    fresh = artifacts.Artifact("n", "performance")
    with pytest.raises(SigningError):
        artifacts.store_baseline(store, fresh, KEY, Baseline(1), NOW, Unavailable())
    assert not store.exists(fresh.manifest_key) and not store.exists(fresh.body_key)
