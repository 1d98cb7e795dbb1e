"""Password hashes, kept beside the identity events rather than inside them (ADR 0018).

``user_credentials (user_id PRIMARY KEY, password_hash, updated_at)`` lives in the identity
schema. The row is inserted in the very transaction that appends ``User.Registered`` (the
same recorder hook as the e-mail claim), so a user never exists without a password. Only the
argon2id encoding is stored; an erasure deletes the row in its own transaction, and a
password change replaces it without leaving old hashes in an append-only log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from commands.identity.emails import Erasure, POPOUserRecorder, PostgresUserRecorder

CREDENTIALS_TABLE = "user_credentials"


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: UUID
    password_hash: str


class PostgresIdentityRecorder(PostgresUserRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.credentials_table = Identifier(datastore.schema, CREDENTIALS_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " user_id uuid PRIMARY KEY,"
                " password_hash text NOT NULL,"
                " updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.credentials_table)
        )

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        credentials: Credentials | None = kwargs.get("credentials")
        if credentials is not None:
            curs.execute(
                SQL("INSERT INTO {} (user_id, password_hash) VALUES (%s, %s)").format(
                    self.credentials_table
                ),
                (credentials.user_id, credentials.password_hash),
            )
        erasure: Erasure | None = kwargs.get("erasure")
        if erasure is not None:  # an erased user can no longer log in
            curs.execute(
                SQL("DELETE FROM {} WHERE user_id = %s").format(self.credentials_table),
                (erasure.user_id,),
            )
        super()._insert_events(curs, stored_events, **kwargs)

    def password_hash(self, user_id: UUID) -> str | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT password_hash FROM {} WHERE user_id = %s").format(
                    self.credentials_table
                ),
                (user_id,),
            )
            row = curs.fetchone()
        return None if row is None else str(row["password_hash"])

    def replace_password_hash(self, user_id: UUID, password_hash: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "UPDATE {} SET password_hash = %s, updated_at = now() WHERE user_id = %s"
                ).format(self.credentials_table),
                (password_hash, user_id),
            )


class POPOIdentityRecorder(POPOUserRecorder):
    def __init__(self) -> None:
        super().__init__()
        self._credentials: dict[UUID, str] = {}

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        credentials: Credentials | None = kwargs.get("credentials")
        if credentials is not None:
            self._credentials[credentials.user_id] = credentials.password_hash
        erasure: Erasure | None = kwargs.get("erasure")
        if erasure is not None:
            self._credentials.pop(erasure.user_id, None)
        return super()._update_table(stored_events, **kwargs)

    def password_hash(self, user_id: UUID) -> str | None:
        with self._database_lock:
            return self._credentials.get(user_id)

    def replace_password_hash(self, user_id: UUID, password_hash: str) -> None:
        with self._database_lock:
            if user_id in self._credentials:
                self._credentials[user_id] = password_hash
