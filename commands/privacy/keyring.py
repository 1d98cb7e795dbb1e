"""AES-256-GCM with a key ring: one current key encrypts, older keys still decrypt.

Every ciphertext starts with the id of the key that made it (the first four bytes of the
key's SHA-256), so rotating a key is adding a new current one and keeping the old ones
until nothing is encrypted with them any more (ADR 0021).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
_NONCE_BYTES = 12
_KEY_ID_BYTES = 4
_FORMAT = b"\x01"


class UnknownKey(ValueError):
    """Encrypted with a key this ring does not hold (rotated out or never known)."""


class DamagedCiphertext(ValueError):
    pass


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_key(text: str) -> bytes:
    key = base64.b64decode(text.strip(), validate=True)
    if len(key) != KEY_BYTES:
        raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes, base64 encoded")
    return key


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:_KEY_ID_BYTES]


class KeyRing:
    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        self._current = current
        self._current_id = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*previous, current)}

    @classmethod
    def from_text(cls, current: str, previous: str = "") -> KeyRing:
        """Base64 keys; ``previous`` is comma-separated."""
        older = [decode_key(k) for k in previous.split(",") if k.strip()]
        return cls(decode_key(current), older)

    def encrypt(self, plaintext: bytes, associated_data: bytes | None = None) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, associated_data)
        return _FORMAT + self._current_id + nonce + sealed

    def decrypt(self, ciphertext: bytes, associated_data: bytes | None = None) -> bytes:
        header = 1 + _KEY_ID_BYTES + _NONCE_BYTES
        if len(ciphertext) < header + 16 or ciphertext[:1] != _FORMAT:
            raise DamagedCiphertext("not a ciphertext of this key ring")
        aead = self._keys.get(ciphertext[1 : 1 + _KEY_ID_BYTES])
        if aead is None:
            raise UnknownKey("encrypted with a key that is not in the key ring")
        nonce = ciphertext[1 + _KEY_ID_BYTES : header]
        try:
            return aead.decrypt(nonce, ciphertext[header:], associated_data)
        except InvalidTag:
            raise DamagedCiphertext("the ciphertext was altered or the key is wrong") from None

    def is_current(self, ciphertext: bytes) -> bool:
        return ciphertext[1 : 1 + _KEY_ID_BYTES] == self._current_id
