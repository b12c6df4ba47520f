"""Signers: a MAC verifies only with the key that made it, for the message it was made for."""

from __future__ import annotations

import pytest

from modelwatch.errors import SigningError
from modelwatch.signing import HmacSigner, process_signer


def test_a_mac_verifies_with_its_key_and_message_only() -> None:
    # Given two keys
    ours, theirs = HmacSigner(b"k" * 32, "ours"), HmacSigner(b"x" * 32, "theirs")
    # When ours signs a message
    mac = ours.sign(b"manifest digest")
    # Then it verifies with ours for that message, not for another message nor with another key
    assert ours.verify(b"manifest digest", mac)
    assert not ours.verify(b"manifest digest!", mac)
    assert not theirs.verify(b"manifest digest", mac)
    assert not ours.verify(b"manifest digest", theirs.sign(b"manifest digest"))


@pytest.mark.parametrize("mac", ["", "not base64 !", "AAAA", "=="])
def test_anything_but_a_mac_is_not_verified(mac: str) -> None:
    assert not HmacSigner(b"k" * 32, "k").verify(b"m", mac)


def test_the_process_key_is_one_random_key_per_process() -> None:
    # Given the process signer, asked twice
    first, second = process_signer(), process_signer()
    # Then it is one key, but not a key anyone could guess (another random key disagrees)
    assert first is second
    assert first.verify(b"m", second.sign(b"m"))
    assert not HmacSigner(b"\0" * 32, first.key_id).verify(b"m", first.sign(b"m"))


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(SigningError, match="32 bytes"):
        HmacSigner(b"short", "k")
