"""Key material: from settings (environment) or a JSON keys file; never from the code.

``SHOP_KEYS_FILE`` names a JSON file with the fields below; a setting given directly wins
over the file. The embedded stack writes development keys to ``<data dir>/keys.json``
(mode 0600) on first start. Rotation is described in ADR 0021.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commands.privacy.keyring import KeyRing, decode_key, encode_key, new_key
from infra.settings import Settings

DEV_KEYS_FILE = "keys.json"
_FIELDS = (
    "event_key",
    "event_previous_keys",
    "master_key",
    "master_previous_keys",
    "email_hash_key",
)


class KeysMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Keys:
    event_key: str  # AES-256-GCM for every stored event and snapshot
    event_previous_keys: str  # comma-separated, decrypt only
    master_key: str  # wraps the per-user personal data keys
    master_previous_keys: str
    email_hash_key: str  # HMAC-SHA256 of normalised e-mail addresses

    def master_ring(self) -> KeyRing:
        return KeyRing.from_text(self.master_key, self.master_previous_keys)

    def email_hash_secret(self) -> bytes:
        return decode_key(self.email_hash_key)


def load_keys(settings: Settings) -> Keys:
    from_file: dict[str, Any] = {}
    if settings.keys_file is not None:
        from_file = json.loads(Path(settings.keys_file).read_text())
    values = {}
    for field in _FIELDS:
        direct = getattr(settings, field).get_secret_value()
        values[field] = direct or str(from_file.get(field, ""))
    missing = [f for f in ("event_key", "master_key", "email_hash_key") if not values[f]]
    if missing:
        names = ", ".join(f"SHOP_{f.upper()}" for f in missing)
        raise KeysMissing(f"no key configured for {names} (nor in SHOP_KEYS_FILE)")
    for field in ("event_key", "master_key", "email_hash_key"):
        decode_key(values[field])  # fail at start, not at the first event
    return Keys(**values)


def has_keys(settings: Settings) -> bool:
    return settings.keys_file is not None or bool(settings.event_key.get_secret_value())


def ensure_dev_keys(data_dir: Path) -> Path:
    """Development keys for the embedded stack, made once and kept with its data."""
    path = data_dir / DEV_KEYS_FILE
    if not path.exists():
        keys = {
            "event_key": encode_key(new_key()),
            "event_previous_keys": "",
            "master_key": encode_key(new_key()),
            "master_previous_keys": "",
            "email_hash_key": encode_key(new_key()),
        }
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(keys, file, indent=2)
    return path
