"""Personal data encrypted with a key per owner, kept apart from the events (ADR 0022).

An event class lists its personal fields in ``private_fields`` (and, if its owner is not the
aggregate itself, names the field holding the owner's id in ``private_owner``). The mapper
encrypts each such field with the owner's data key before the event is stored; the data keys
live in their own table, wrapped by a master key. Erasing an owner deletes their data key:
the ciphertext stays in the events, unreadable, and reads back as ``ERASED``.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent
from psycopg import Connection, Cursor, sql
from psycopg_pool import ConnectionPool

from commands.metadata import MetadataMapper
from commands.privacy.keyring import KeyRing, UnknownKey, new_key
from contract.metadata import EventMetadata
from domain.personal_data import ERASED

KEYS_TABLE = "personal_data_keys"
_PREFIX = "pd1:"  # a personal field encrypted with its owner's data key, base64


class OwnerErased(Exception):
    """The owner's data key was shredded: nothing personal can be stored for them again."""


class PersonalDataKeys(Protocol):
    def key_for(self, owner: UUID) -> bytes:
        """The owner's data key, created on first use; OwnerErased once shredded."""

    def existing_key(self, owner: UUID) -> bytes | None:
        """The owner's data key, or None if there is none (shredded or never made)."""

    def shred(self, owner: UUID, cursor: Cursor[Any] | None = None) -> None:
        """Delete the owner's key for good (inside ``cursor``'s transaction if given)."""

    def close(self) -> None: ...


class PostgresPersonalDataKeys:
    """``personal_data_keys (owner_id, wrapped_key, created_at, shredded_at)`` in its own
    schema. A shredded owner keeps a row without a key, so no new key is ever made for them."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        master: KeyRing,
        connect: Callable[[], AbstractContextManager[Connection[Any]]] | None = None,
    ) -> None:
        """``connect`` lends connections from the process's pool (the composition root's);
        without it, the keys open a small pool of their own on first use."""
        self._master = master
        self.table = sql.Identifier(schema, KEYS_TABLE)
        self._pool = ConnectionPool(dsn, min_size=0, max_size=4, open=False)
        self._opened = False
        self._lock = threading.Lock()
        self._borrowed = connect

    def create_table(self) -> None:
        with self._connection() as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " owner_id uuid PRIMARY KEY,"
                    " wrapped_key bytea,"
                    " created_at timestamptz NOT NULL DEFAULT now(),"
                    " shredded_at timestamptz,"
                    " CHECK ((wrapped_key IS NULL) = (shredded_at IS NOT NULL)))"
                ).format(self.table)
            )

    def key_for(self, owner: UUID) -> bytes:
        key = self._select(owner)
        if key is not None:
            return key
        wrapped = self._master.encrypt(new_key(), owner.bytes)
        with self._connection() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (owner_id, wrapped_key) VALUES (%s, %s) "
                    "ON CONFLICT (owner_id) DO NOTHING"
                ).format(self.table),
                (owner, wrapped),
            )
        key = self._select(owner)  # a concurrent first use may have won: use its key
        if key is None:
            raise OwnerErased(f"{owner} was erased")
        return key

    def existing_key(self, owner: UUID) -> bytes | None:
        try:
            return self._select(owner)
        except OwnerErased:
            return None

    def shred(self, owner: UUID, cursor: Cursor[Any] | None = None) -> None:
        statement = sql.SQL(
            "INSERT INTO {} AS k (owner_id, wrapped_key, shredded_at) VALUES (%s, NULL, now()) "
            "ON CONFLICT (owner_id) DO UPDATE "
            "SET wrapped_key = NULL, shredded_at = coalesce(k.shredded_at, now())"
        ).format(self.table)
        if cursor is not None:
            cursor.execute(statement, (owner,))
            return
        with self._connection() as conn:
            conn.execute(statement, (owner,))

    def close(self) -> None:
        with self._lock:
            if self._opened:
                self._pool.close()
                self._opened = False

    def _select(self, owner: UUID) -> bytes | None:
        with self._connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT wrapped_key, shredded_at FROM {} WHERE owner_id = %s").format(
                    self.table
                ),
                (owner,),
            ).fetchone()
        if row is None:
            return None
        if row[0] is None:
            raise OwnerErased(f"{owner} was erased")
        return self._master.decrypt(bytes(row[0]), owner.bytes)

    def _connection(self) -> Any:
        if self._borrowed is not None:
            return self._borrowed()
        with self._lock:
            if not self._opened:
                self._pool.open()
                self._opened = True
        return self._pool.connection()


class InMemoryPersonalDataKeys:
    """The same contract in memory, for applications on the in-memory event store."""

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes | None] = {}
        self._lock = threading.Lock()

    def key_for(self, owner: UUID) -> bytes:
        with self._lock:
            key = self._keys.setdefault(owner, new_key())
        if key is None:
            raise OwnerErased(f"{owner} was erased")
        return key

    def existing_key(self, owner: UUID) -> bytes | None:
        return self._keys.get(owner)

    def shred(self, owner: UUID, cursor: Cursor[Any] | None = None) -> None:
        with self._lock:
            self._keys[owner] = None

    def close(self) -> None:
        pass


class NoPersonalDataKeys:
    """For a deployment that configured no master key: refuses to store personal data."""

    def key_for(self, owner: UUID) -> bytes:
        raise OSError("no master key for personal data is configured")

    def existing_key(self, owner: UUID) -> bytes | None:
        raise OSError("no master key for personal data is configured")

    def shred(self, owner: UUID, cursor: Cursor[Any] | None = None) -> None:
        raise OSError("no master key for personal data is configured")

    def close(self) -> None:
        pass


def private_fields(event: object) -> tuple[str, ...]:
    return tuple(getattr(type(event), "private_fields", ()))


def owner_of(event: Any) -> UUID:
    owner = vars(event)[getattr(type(event), "private_owner", "originator_id")]
    return owner if isinstance(owner, UUID) else UUID(str(owner))


def _associated(owner: UUID, field: str) -> bytes:
    # Binds a ciphertext to its owner and field: it cannot be moved to another one.
    return f"{owner}/{field}".encode()


def seal(key: bytes, owner: UUID, field: str, value: Any) -> str:
    ring = KeyRing(key)
    sealed = ring.encrypt(json.dumps(value).encode(), _associated(owner, field))
    return _PREFIX + base64.b64encode(sealed).decode()


def unseal(key: bytes | None, owner: UUID, field: str, value: Any) -> Any:
    if not (isinstance(value, str) and value.startswith(_PREFIX)):
        return value
    if key is None:
        return ERASED
    try:
        plaintext = KeyRing(key).decrypt(
            base64.b64decode(value[len(_PREFIX) :]), _associated(owner, field)
        )
    except UnknownKey:
        return ERASED
    return json.loads(plaintext)


class PersonalDataMapper(MetadataMapper):
    """Encrypts the ``private_fields`` of an event with its owner's key; shows them as
    ``ERASED`` when that key is gone."""

    def __init__(self, *args: Any, personal_keys: PersonalDataKeys, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.personal_keys = personal_keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        fields = private_fields(domain_event)
        if not fields:
            return super().to_stored_event(domain_event)
        owner = owner_of(domain_event)
        key = self.personal_keys.key_for(owner)
        carrier = copy.copy(domain_event)  # the aggregate's own event keeps its plaintext
        state = carrier.__dict__
        for field in fields:
            state[field] = seal(key, owner, field, state[field])
        return super().to_stored_event(carrier)

    def decode(
        self, stored_event: StoredEvent
    ) -> tuple[DomainEventProtocol[UUID], EventMetadata | None]:
        domain_event, metadata = super().decode(stored_event)
        fields = private_fields(domain_event)
        if fields:
            owner = owner_of(domain_event)
            key = self.personal_keys.existing_key(owner)
            state = domain_event.__dict__
            for field in fields:
                if field in state:
                    state[field] = unseal(key, owner, field, state[field])
        return domain_event, metadata
