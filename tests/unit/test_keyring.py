"""AES-256-GCM key ring: rotation keeps old ciphertexts readable; tampering is detected."""

from __future__ import annotations

import pytest

from commands.privacy.keyring import (
    DamagedCiphertext,
    KeyRing,
    UnknownKey,
    decode_key,
    encode_key,
    new_key,
)


def test_a_rotated_ring_reads_what_the_old_key_wrote_and_writes_with_the_new_one() -> None:
    old, new = new_key(), new_key()
    written_before = KeyRing(old).encrypt(b"event")

    rotated = KeyRing(new, [old])
    written_after = rotated.encrypt(b"event")

    assert rotated.decrypt(written_before) == b"event"
    assert rotated.decrypt(written_after) == b"event"
    assert not rotated.is_current(written_before)
    assert rotated.is_current(written_after)
    with pytest.raises(UnknownKey):
        KeyRing(old).decrypt(written_after)


def test_a_key_dropped_from_the_ring_no_longer_decrypts() -> None:
    old = new_key()
    written = KeyRing(old).encrypt(b"event")

    with pytest.raises(UnknownKey):
        KeyRing(new_key()).decrypt(written)


def test_tampering_or_moving_a_ciphertext_to_another_context_is_detected() -> None:
    ring = KeyRing(new_key())
    sealed = bytearray(ring.encrypt(b"ada@example.org", b"user-1/email"))
    sealed[-1] ^= 1

    with pytest.raises(DamagedCiphertext):
        ring.decrypt(bytes(sealed), b"user-1/email")
    with pytest.raises(DamagedCiphertext):
        ring.decrypt(ring.encrypt(b"x", b"user-1/email"), b"user-2/email")
    with pytest.raises(DamagedCiphertext):
        ring.decrypt(b"{plaintext json}")


def test_equal_plaintexts_never_give_equal_ciphertexts() -> None:
    ring = KeyRing(new_key())

    assert ring.encrypt(b"same") != ring.encrypt(b"same")


def test_keys_are_256_bit_and_base64_in_settings() -> None:
    key = new_key()

    assert len(key) == 32
    assert decode_key(encode_key(key)) == key
    with pytest.raises(ValueError, match="32 bytes"):
        decode_key(encode_key(key[:16]))
