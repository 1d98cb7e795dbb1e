"""One user per e-mail address: a claim table written in the same transaction as the events.

``user_emails (email_hash text PRIMARY KEY, user_id uuid)`` lives in the identity schema, next
to the events table. Registering inserts the claim in the very transaction that appends the
``User.Registered`` event (through the recorder's ``_insert_events`` hook, as eventsourcing's own
process recorder does for tracking rows), so a user never exists without its claim nor a claim
without its user, and the primary key settles concurrent registrations of one address.

The key is a SHA-256 of the normalised address, so the table holds no plaintext e-mail. An
unkeyed hash of an address can be guessed by hashing candidate addresses; the security issue
replaces it with a keyed HMAC (secret from settings), re-keying the table in one migration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, ProgrammingError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

CLAIMS_TABLE = "user_emails"


def email_hash(normalised_email: str) -> str:
    """The claim key of an (already normalised) address. To become a keyed HMAC."""
    return hashlib.sha256(normalised_email.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class EmailClaim:
    email_hash: str
    user_id: UUID


class EmailClaims(Protocol):
    def email_owner(self, email_hash: str) -> UUID | None:
        """The user an address is claimed by, if any."""


class PostgresUserRecorder(PostgresApplicationRecorder):
    """The identity events table, plus the claims table written in the same transaction."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        if datastore.enable_db_functions:
            # That path inserts through a database function and skips _insert_events.
            raise ProgrammingError("the identity recorder needs POSTGRES_ENABLE_DB_FUNCTIONS off")
        self.claims_table = Identifier(datastore.schema, CLAIMS_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " email_hash text PRIMARY KEY,"
                " user_id uuid NOT NULL,"
                " claimed_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.claims_table)
        )

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        claim: EmailClaim | None = kwargs.get("email_claim")
        if claim is not None:
            curs.execute(
                SQL("INSERT INTO {} (email_hash, user_id) VALUES (%s, %s)").format(
                    self.claims_table
                ),
                (claim.email_hash, claim.user_id),
            )
        super()._insert_events(curs, stored_events, **kwargs)

    def email_owner(self, email_hash: str) -> UUID | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT user_id FROM {} WHERE email_hash = %s").format(self.claims_table),
                (email_hash,),
            )
            row = curs.fetchone()
        return None if row is None else UUID(str(row["user_id"]))


class POPOUserRecorder(POPOApplicationRecorder):
    """The same contract in memory, for tests and demos without Postgres."""

    def __init__(self) -> None:
        super().__init__()
        self._claims: dict[str, UUID] = {}

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        claim: EmailClaim | None = kwargs.get("email_claim")
        if claim is not None and claim.email_hash in self._claims:
            raise IntegrityError("e-mail address already claimed")

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        claim: EmailClaim | None = kwargs.get("email_claim")
        if claim is not None:
            self._claims[claim.email_hash] = claim.user_id
        return super()._update_table(stored_events, **kwargs)

    def email_owner(self, email_hash: str) -> UUID | None:
        with self._database_lock:
            return self._claims.get(email_hash)
