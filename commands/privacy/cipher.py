"""The event store's cipher: the eventsourcing mapper encrypts every stored event and
snapshot with it (``CIPHER_TOPIC``), after compression."""

from __future__ import annotations

from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

from commands.privacy.keyring import KeyRing

CIPHER_KEY = "CIPHER_KEY"  # base64, the current key
CIPHER_PREVIOUS_KEYS = "CIPHER_PREVIOUS_KEYS"  # base64, comma-separated: still decrypt


class RotatingAESGCMCipher(Cipher):
    def __init__(self, environment: Environment) -> None:
        current = environment.get(CIPHER_KEY)
        if not current:
            raise OSError(f"{CIPHER_KEY} is not set: events are never stored unencrypted")
        self.ring = KeyRing.from_text(current, environment.get(CIPHER_PREVIOUS_KEYS) or "")

    def encrypt(self, plaintext: bytes) -> bytes:
        return self.ring.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        return self.ring.decrypt(ciphertext)
