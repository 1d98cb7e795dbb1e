"""One user per e-mail address: a claim table written in the same transaction as the events.

``user_emails (email_hash text PRIMARY KEY, user_id uuid)`` lives in the identity schema, next
to the events table. Registering inserts the claim in the very transaction that appends the
``User.Registered`` event (through the recorder's ``_insert_events`` hook, as eventsourcing's own
process recorder does for tracking rows), so a user never exists without its claim nor a claim
without its user, and the primary key settles concurrent registrations of one address.

The key is an HMAC-SHA256 of the normalised address under a secret from settings, so the
table holds no plaintext e-mail and, without the secret, a guessed address cannot be checked
against it. Registration and the login lookup both call ``email_hash``. Erasing a user
deletes their claim, their data key and their registration's idempotency record in the
transaction that records the erasure (ADR 0022).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, ProgrammingError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from commands.idempotency import RecordsIdempotency
from commands.privacy.personal_data import PersonalDataKeys

CLAIMS_TABLE = "user_emails"
IDEMPOTENCY_TABLE = "idempotency_keys"  # see commands.idempotency


def email_hash(key: bytes, normalised_email: str) -> str:
    """The claim key of an (already normalised) address: the one function for claims and
    for the login lookup."""
    return hmac.new(key, normalised_email.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class EmailClaim:
    email_hash: str
    user_id: UUID


@dataclass(frozen=True, slots=True)
class Erasure:
    """What goes with a user's erasure event, in its transaction."""

    user_id: UUID
    personal_keys: PersonalDataKeys


class EmailClaims(Protocol):
    def email_owner(self, email_hash: str) -> UUID | None:
        """The user an address is claimed by, if any."""


class PostgresUserRecorder(RecordsIdempotency):
    """The identity events table, plus the claims table written in the same transaction
    (group commit: in the registration's own savepoint, so a taken address refuses only it)."""

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
        erasure: Erasure | None = kwargs.get("erasure")
        if erasure is not None:
            self._erase(curs, erasure)
        super()._insert_events(curs, stored_events, **kwargs)

    def _erase(self, curs: Cursor[DictRow], erasure: Erasure) -> None:
        curs.execute(
            SQL("DELETE FROM {} WHERE user_id = %s").format(self.claims_table), (erasure.user_id,)
        )
        # The first response of the registration names the user; its fingerprint hashes
        # the request that carried the personal data.
        curs.execute(
            SQL("DELETE FROM {} WHERE response->>'id' = %s").format(
                Identifier(self.datastore.schema, IDEMPOTENCY_TABLE)
            ),
            (str(erasure.user_id),),
        )
        erasure.personal_keys.shred(erasure.user_id, curs)

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
        erasure: Erasure | None = kwargs.get("erasure")
        if erasure is not None:
            self._claims = {h: u for h, u in self._claims.items() if u != erasure.user_id}
            erasure.personal_keys.shred(erasure.user_id)
        return super()._update_table(stored_events, **kwargs)

    def email_owner(self, email_hash: str) -> UUID | None:
        with self._database_lock:
            return self._claims.get(email_hash)
