"""The audit log of privileged actions: who did what to which target, when, under which
correlation id. Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE on the table.

Written after the command succeeded (the event it caused carries the same correlation id),
read by auditors through the read API (``read_api/audit.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

TABLE = "audit_log"


Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class AuditLog:
    def __init__(self, schema: str, connect: Connect) -> None:
        self._connect = connect  # a connection of this process's pool (the composition root's)
        self.schema_name = schema
        self.table = sql.Identifier(schema, TABLE)

    def create_table(self, conn: psycopg.Connection[Any]) -> None:
        """Create the table in its (existing) schema, on the caller's connection."""
        guard = sql.Identifier(self.schema_name, "audit_log_append_only")
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " at timestamptz NOT NULL DEFAULT clock_timestamp(),"
                " actor text NOT NULL,"
                " action text NOT NULL,"
                " target text NOT NULL,"
                " correlation_id text,"
                " detail jsonb NOT NULL DEFAULT '{{}}')"
            ).format(self.table)
        )
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
            ).format(guard)
        )
        for event, level in (("UPDATE OR DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            name = "audit_log_no_" + event.split()[0].lower()
            conn.execute(
                sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(name), self.table)
            )
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER {} BEFORE {} ON {} FOR EACH {} EXECUTE FUNCTION {}()"
                ).format(sql.Identifier(name), sql.SQL(event), self.table, sql.SQL(level), guard)
            )

    def record(
        self,
        actor: str,
        action: str,
        target: str,
        correlation_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (actor, action, target, correlation_id, detail)"
                    " VALUES (%s, %s, %s, %s, %s)"
                ).format(self.table),
                (actor, action, target, correlation_id, Jsonb(detail or {})),
            )
