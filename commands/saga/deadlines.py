"""The saga's timers, in Postgres so they survive restarts (ADR 0010).

One row per (order, kind): ``payment`` is when an order still waiting for its payment
method gives its stock back; ``retry`` is when a step that could not finish (the processor
kept not answering a void or a refund) is tried again. Any saga worker's timer loop picks
up what is due; taking a row is harmless twice, since the saga decides from the order's
state, never from the timer.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

PAYMENT = "payment"
RETRY = "retry"


Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class SagaDeadlines:
    def __init__(self, schema: str, connect: Connect) -> None:
        self._connect = connect  # a connection of this process's pool (the composition root's)
        self.table = sql.Identifier(schema, "deadlines")

    def create_table(self, conn: psycopg.Connection[Any]) -> None:
        """Create the table in its (existing) schema, on the caller's connection."""
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " order_id uuid NOT NULL, kind text NOT NULL, due_at timestamptz NOT NULL,"
                " PRIMARY KEY (order_id, kind))"
            ).format(self.table)
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS deadlines_due ON {} (due_at)").format(self.table)
        )

    def set(self, order_id: UUID, kind: str, due_at: datetime, *, keep_first: bool) -> None:
        """Set the timer; with ``keep_first`` an existing one stays as it was."""
        action = "NOTHING" if keep_first else "UPDATE SET due_at = EXCLUDED.due_at"
        with self._connect() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (order_id, kind, due_at) VALUES (%s, %s, %s)"
                    " ON CONFLICT (order_id, kind) DO {}"
                ).format(self.table, sql.SQL(action)),
                (order_id, kind, due_at),
            )

    def passed(self, order_id: UUID, kind: str, now: datetime) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL("SELECT due_at <= %s FROM {} WHERE order_id = %s AND kind = %s").format(
                    self.table
                ),
                (now, order_id, kind),
            ).fetchone()
        return bool(row and row[0])

    def clear(self, order_id: UUID, *kinds: str) -> None:
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE order_id = %s AND kind = ANY(%s)").format(self.table),
                (order_id, list(kinds)),
            )

    def pending(self) -> dict[str, int]:
        """How many timers are set, by kind."""
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL("SELECT kind, count(*) FROM {} GROUP BY kind").format(self.table)
            ).fetchall()
        return {str(kind): int(count) for kind, count in rows}

    def due(self, now: datetime, limit: int = 500) -> list[UUID]:
        """Orders with a timer due, soonest first."""
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT order_id FROM {} WHERE due_at <= %s"
                    " GROUP BY order_id ORDER BY min(due_at) LIMIT %s"
                ).format(self.table),
                (now, limit),
            ).fetchall()
        return [row[0] for row in rows]
