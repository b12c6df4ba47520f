"""Proof that a stored artifact was written by modelwatch's analysis: a MAC made with a key the lake's writers lack.

On AWS the key is a KMS HMAC key (`GenerateMac`/`VerifyMac`, template.yaml `ArtifactSigningKey`) that only the
analysis function's role may use; the embedded stack runs the same code on moto's KMS. In-process callers without
KMS (unit tests, benchmarks, `analysis.run_monitor`) use `process_signer()`, a key drawn at random for the process:
what they store verifies in that process only, and nothing written by anyone else ever does. There is no signer that
accepts everything: without a proof, nothing is trusted.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from abc import ABC, abstractmethod
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from modelwatch.errors import SigningError

MAC_ALGORITHM = "HMAC_SHA_256"
KMS_INVALID_MAC = "KMSInvalidMacException"


class Signer(ABC):
    """Makes and checks MACs of short messages (a digest) with one secret key, named by `key_id`."""

    key_id: str  # names the key in manifests; not secret

    @abstractmethod
    def sign(self, message: bytes) -> str:
        """The MAC of `message`, base64; SigningError when the key cannot be used."""

    @abstractmethod
    def verify(self, message: bytes, mac: str) -> bool:
        """True only when `mac` is this key's MAC of `message`; SigningError when the key cannot be used."""


class KmsSigner(Signer):
    """A KMS HMAC key (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC): the secret never leaves KMS."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self.key_id = key_id

    def sign(self, message: bytes) -> str:
        try:
            response = self._kms.generate_mac(KeyId=self.key_id, Message=message, MacAlgorithm=MAC_ALGORITHM)
        except (ClientError, BotoCoreError) as exc:
            raise SigningError(f"cannot sign with KMS key {self.key_id}: {_code(exc)}") from exc
        return base64.b64encode(bytes(response["Mac"])).decode("ascii")

    def verify(self, message: bytes, mac: str) -> bool:
        raw = _decoded(mac)
        if raw is None:
            return False
        try:
            response = self._kms.verify_mac(KeyId=self.key_id, Message=message, Mac=raw, MacAlgorithm=MAC_ALGORITHM)
        except ClientError as exc:
            if _code(exc) == KMS_INVALID_MAC:
                return False
            raise SigningError(f"cannot verify with KMS key {self.key_id}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise SigningError(f"cannot verify with KMS key {self.key_id}: {_code(exc)}") from exc
        return bool(response.get("MacValid"))


class HmacSigner(Signer):
    """An HMAC-SHA256 key held in memory (in-process callers; see `process_signer`)."""

    def __init__(self, secret: bytes, key_id: str) -> None:
        if len(secret) < 32:
            raise SigningError("an HMAC signing key needs at least 32 bytes")
        self._secret = secret
        self.key_id = key_id

    def sign(self, message: bytes) -> str:
        return base64.b64encode(hmac.new(self._secret, message, hashlib.sha256).digest()).decode("ascii")

    def verify(self, message: bytes, mac: str) -> bool:
        raw = _decoded(mac)
        expected = hmac.new(self._secret, message, hashlib.sha256).digest()
        return raw is not None and hmac.compare_digest(raw, expected)


@functools.cache
def process_signer() -> HmacSigner:
    """This process's own random key: artifacts it stores are reused within the process, none from elsewhere."""
    return HmacSigner(secrets.token_bytes(32), f"process-{secrets.token_hex(6)}")


def _decoded(mac: str) -> bytes | None:
    try:
        return base64.b64decode(mac, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return type(exc).__name__
