"""The token signing keys: Ed25519, one file per key id, rotatable without a restart of peers.

``<kid>.pem`` is a private key (PKCS#8): it signs when its kid is the signing one, and its
public half verifies. ``<kid>.pub.pem`` is a public key only, for services that verify and
must not sign (the read API needs no private key). Rotation: add a new key, make it the
signing key, and remove the old one once the last token it signed has expired.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_PRIVATE = ".pem"
_PUBLIC = ".pub.pem"


class KeysMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class KeySet:
    public: dict[str, Ed25519PublicKey]
    signing_kid: str | None
    signing_key: Ed25519PrivateKey | None


def load_key_set(directory: Path, signing_kid: str = "") -> KeySet:
    """Every key in ``directory``; the signing key is ``signing_kid`` or the greatest kid."""
    if not directory.is_dir():
        raise KeysMissing(f"no key directory {directory}: set SHOP_AUTH_KEYS_DIR")
    public: dict[str, Ed25519PublicKey] = {}
    private: dict[str, Ed25519PrivateKey] = {}
    for path in sorted(directory.iterdir()):
        if path.name.endswith(_PUBLIC):
            key = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(key, Ed25519PublicKey):
                public[path.name.removesuffix(_PUBLIC)] = key
        elif path.name.endswith(_PRIVATE):
            secret = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(secret, Ed25519PrivateKey):
                kid = path.name.removesuffix(_PRIVATE)
                private[kid] = secret
                public[kid] = secret.public_key()
    if not public:
        raise KeysMissing(f"no Ed25519 key in {directory}")
    kid = signing_kid or (max(private) if private else "")
    if signing_kid and signing_kid not in private:
        raise KeysMissing(f"signing key {signing_kid!r} is not in {directory}")
    return KeySet(public, kid or None, private.get(kid))


def ensure_development_key(directory: Path) -> None:
    """A fresh Ed25519 key unless ``directory`` already holds one (embedded stack only)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if any(p.name.endswith(_PRIVATE) for p in directory.iterdir()):
        return
    kid = "dev-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / f"{kid}{_PRIVATE}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
