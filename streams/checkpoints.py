"""Relay checkpoints in Postgres: how far each context's log has been published."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import sql

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class RelayCheckpoints:
    def __init__(self, schema: str, connect: Connect) -> None:
        self._connect = connect  # a connection of this process's pool (the composition root's)
        self._table = sql.Identifier(schema, "relay_checkpoints")

    def create_table(self, conn: psycopg.Connection[Any]) -> None:
        """Create the table in its (existing) schema, on the caller's connection."""
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " context text PRIMARY KEY,"
                " position bigint NOT NULL,"
                " updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(self._table)
        )
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS messages bigint NOT NULL DEFAULT 0"
            ).format(self._table)
        )

    def get(self, context: str) -> int:
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL("SELECT position FROM {} WHERE context = %s").format(self._table),
                (context,),
            ).fetchone()
        return int(row[0]) if row else 0

    def messages(self, context: str) -> int:
        """How many messages the topic held after the last publish."""
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL("SELECT messages FROM {} WHERE context = %s").format(self._table),
                (context,),
            ).fetchone()
        return int(row[0]) if row else 0

    def advance(self, context: str, position: int, messages: int = 0) -> None:
        # GREATEST: a checkpoint never moves backwards, even if two relays overlap.
        with self._connect() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {t} (context, position, messages) VALUES (%s, %s, %s)"
                    " ON CONFLICT (context) DO UPDATE"
                    " SET position = GREATEST({t}.position, EXCLUDED.position),"
                    " messages = GREATEST({t}.messages, EXCLUDED.messages), updated_at = now()"
                ).format(t=self._table),
                (context, position, messages),
            )

    def reset(self, context: str) -> None:
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE context = %s").format(self._table), (context,)
            )

    def all(self) -> dict[str, int]:
        """Published position per context."""
        with self._connect() as conn:
            rows = conn.execute(sql.SQL("SELECT context, position FROM {}").format(self._table))
            return {str(context): int(position) for context, position in rows.fetchall()}
