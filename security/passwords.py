"""Password hashing with argon2id (RFC 9106 low-memory profile: 64 MiB, t=3, p=4), above
the OWASP minimum (19 MiB, t=2, p=1). Only the encoded hash is ever stored."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id; parameters travel inside each encoded hash


@cache
def _decoy() -> str:
    """Verified when the e-mail is unknown, so an unknown address costs what a wrong password
    does. Hashed on first use, not on import: a hash costs ~0.1 s of CPU (and 64 MiB), which
    every process importing this module would pay, most of them never signing anyone in."""
    return _HASHER.hash("decoy password that matches nothing")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(encoded: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(encoded or _decoy(), password) and encoded is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    return _HASHER.check_needs_rehash(encoded)
