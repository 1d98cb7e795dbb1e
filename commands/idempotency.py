"""Idempotency-Key: a repeated request returns the first response and changes nothing.

Two layers, so correctness never depends on timing:

1. The domain: a keyed command derives the id of what it creates (an aggregate, a refund)
   from the key, so a concurrent duplicate collides at the event store or is a no-op
   in the aggregate (see ``ShopApplication.idempotent_id``).
2. This store: the first response per key, with a fingerprint of the request, so a repeat
   is answered verbatim and a key reused for a different request is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from domain.errors import RuleViolated


class IdempotencyKeyReused(RuleViolated):
    code = "idempotency_key_reused"


def fingerprint(operation: str, request: Any) -> str:
    body = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{operation}\n{body}".encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, dsn: str, schema: str) -> None:
        self._dsn = dsn
        self._table = sql.Identifier(schema, "idempotency_keys")

    def create_table(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " key text PRIMARY KEY,"
                    " fingerprint text NOT NULL,"
                    " response jsonb NOT NULL,"
                    " created_at timestamptz NOT NULL DEFAULT now())"
                ).format(self._table)
            )

    def run_once(
        self,
        key: str | None,
        operation: str,
        request: Any,
        action: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run ``action`` unless ``key`` was seen; return the first response for the key."""
        if key is None:
            return action()
        print_ = fingerprint(operation, request)
        stored = self._get(key, print_)
        if stored is not None:
            return stored
        response = _jsonable(action())
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key, fingerprint, response) VALUES (%s, %s, %s)"
                    " ON CONFLICT (key) DO NOTHING"
                ).format(self._table),
                (key, print_, Jsonb(response)),
            )
        # A concurrent duplicate may have stored first: everyone answers with that one.
        first = self._get(key, print_)
        assert first is not None
        return first

    def _get(self, key: str, print_: str) -> dict[str, Any] | None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            row = conn.execute(
                sql.SQL("SELECT fingerprint, response FROM {} WHERE key = %s").format(self._table),
                (key,),
            ).fetchone()
        if row is None:
            return None
        if row[0] != print_:
            raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request")
        response: dict[str, Any] = row[1]
        return response


def _jsonable(response: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        json.dumps(response, default=lambda o: str(o) if isinstance(o, UUID) else repr(o))
    )
    return result
