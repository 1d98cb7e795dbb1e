"""The notification history: one row per mailable event, keyed by the event id.

It is both the read model (what was sent to whom, when, with which status) and what makes a
send happen once. A worker *claims* a row before sending (a lease: ``claimed_until``), counts
each SMTP attempt, and *settles* the row as ``sent``, ``skipped`` or ``failed``. A settled row
is never sent again; a ``pending`` row whose lease ran out (its worker died) is claimed again.
Rows hold ids, kinds, subjects and statuses, never an address (ADR 0013).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg import AsyncConnection, sql

from contract.envelope import Envelope
from projections.connections import AsyncConnections

TABLE = "notifications"
PENDING, SENT, SKIPPED, FAILED = "pending", "sent", "skipped", "failed"
SETTLED = frozenset({SENT, SKIPPED, FAILED})


@dataclass(frozen=True, slots=True)
class Claim:
    event_id: UUID
    attempts: int  # SMTP attempts made before this claim (> 0: a send may have happened)


class Busy(RuntimeError):
    """Another worker holds this notification; try again after its lease."""


class NotificationHistory:
    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.connections = AsyncConnections(dsn, max_size=2)
        self.schema = sql.Identifier(schema)
        self.table = sql.Identifier(schema, TABLE)

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection (pooled once the loop opened ``connections``). Autocommit: each step
        must be durable before the next one (above all, before SMTP)."""
        return self.connections.connection()

    async def close(self) -> None:
        await self.connections.close()

    async def create(self) -> None:
        async with (
            await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn,
            conn.transaction(),
        ):
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.schema))
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " event_id uuid PRIMARY KEY,"
                    " event_type text NOT NULL,"
                    " kind text NOT NULL,"
                    " aggregate_id text NOT NULL,"
                    " customer_id uuid NULL,"
                    " status text NOT NULL,"
                    " detail text NULL,"
                    " subject text NULL,"
                    " message_id text NULL,"
                    " attempts int NOT NULL DEFAULT 0,"
                    " occurred_at timestamptz NOT NULL,"
                    " created_at timestamptz NOT NULL DEFAULT now(),"
                    " updated_at timestamptz NOT NULL DEFAULT now(),"
                    " sent_at timestamptz NULL,"
                    " claimed_until timestamptz NOT NULL DEFAULT now())"
                ).format(self.table)
            )
            await conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS notifications_by_customer"
                    " ON {} (customer_id, occurred_at DESC, event_id DESC)"
                ).format(self.table)
            )

    async def settled(self, conn: AsyncConnection, event_id: UUID) -> bool:
        cursor = await conn.execute(
            sql.SQL("SELECT status FROM {} WHERE event_id = %s").format(self.table), (event_id,)
        )
        row = await cursor.fetchone()
        return row is not None and row[0] in SETTLED

    async def claim(
        self,
        conn: AsyncConnection,
        envelope: Envelope,
        kind: str,
        customer_id: UUID | None,
        lease_seconds: float,
    ) -> Claim | None:
        """Take this event's notification for ``lease_seconds``; None if it is settled.

        Raises Busy while another worker's lease on it runs.
        """
        event_id = UUID(envelope.event_id)
        cursor = await conn.execute(
            sql.SQL(
                "INSERT INTO {t} AS n (event_id, event_type, kind, aggregate_id, customer_id,"
                " status, occurred_at, claimed_until)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))"
                " ON CONFLICT (event_id) DO UPDATE"
                " SET claimed_until = EXCLUDED.claimed_until, updated_at = now(),"
                " customer_id = COALESCE(n.customer_id, EXCLUDED.customer_id)"
                " WHERE n.status = %s AND n.claimed_until <= now()"
                " RETURNING attempts"
            ).format(t=self.table),
            (
                event_id,
                envelope.type,
                kind,
                envelope.aggregate_id,
                customer_id,
                PENDING,
                datetime.fromisoformat(envelope.occurred_at),
                lease_seconds,
                PENDING,
            ),
        )
        row = await cursor.fetchone()
        if row is not None:
            return Claim(event_id, int(row[0]))
        if await self.settled(conn, event_id):
            return None
        raise Busy(f"notification for event {event_id} is being sent by another worker")

    async def attempting(
        self, conn: AsyncConnection, event_id: UUID, subject: str, message_id: str
    ) -> None:
        """Count an SMTP attempt before making it: a crash after it shows in ``attempts``."""
        await conn.execute(
            sql.SQL(
                "UPDATE {} SET attempts = attempts + 1, subject = %s, message_id = %s,"
                " updated_at = now() WHERE event_id = %s"
            ).format(self.table),
            (subject, message_id, event_id),
        )

    async def settle(
        self, conn: AsyncConnection, event_id: UUID, status: str, detail: str | None = None
    ) -> None:
        assert status in SETTLED
        await conn.execute(
            sql.SQL(
                "UPDATE {} SET status = %s, detail = %s, updated_at = now(), claimed_until = now(),"
                " sent_at = CASE WHEN %s THEN now() ELSE sent_at END"
                " WHERE event_id = %s AND status = %s"
            ).format(self.table),
            (status, detail, status == SENT, event_id, PENDING),
        )

    async def release(self, conn: AsyncConnection, event_id: UUID, detail: str) -> None:
        """Give the claim back after failed attempts; the row stays pending, to be retried."""
        await conn.execute(
            sql.SQL(
                "UPDATE {} SET claimed_until = now(), detail = %s, updated_at = now()"
                " WHERE event_id = %s AND status = %s"
            ).format(self.table),
            (detail, event_id, PENDING),
        )
