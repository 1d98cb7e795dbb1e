"""Idempotency-Key: a repeated request returns the first response and changes nothing.

Two layers, so correctness never depends on timing:

1. The domain: a keyed command derives the id of what it creates (an aggregate, a refund)
   from the key, so a concurrent duplicate collides at the event store or is a no-op
   in the aggregate (see ``ShopApplication.idempotent_id``).
2. This store: the first response per key, with a fingerprint of the request, so a repeat
   is answered verbatim and a key reused for a different request is refused.

The response of a command that saves through ``ShopApplication.save_and_report`` is written
in the command's own transaction (``RecordsIdempotency``): one round trip fewer, and no
window in which the events are committed but the key is not. Other commands store it just
after, as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor, sql
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.errors import RuleViolated

TABLE = "idempotency_keys"
Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class IdempotencyKeyReused(RuleViolated):
    code = "idempotency_key_reused"


def fingerprint(operation: str, request: Any) -> str:
    body = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{operation}\n{body}".encode()).hexdigest()


@dataclass
class PendingResponse:
    """A keyed command in progress: what its transaction should record under its key.

    ``respond`` turns the notification ids of the save into the response (set by the
    application just before it saves); ``stored`` is what the transaction recorded."""

    key: str
    fingerprint: str
    respond: Callable[[Sequence[int]], dict[str, Any]] | None = None
    stored: dict[str, Any] | None = None


_pending: ContextVar[PendingResponse | None] = ContextVar("shop_idempotency", default=None)


def pending_response() -> PendingResponse | None:
    """The keyed command this thread (or task) is running, if its response is not stored."""
    pending = _pending.get()
    return pending if pending is not None and pending.stored is None else None


@contextmanager
def _running(pending: PendingResponse) -> Iterator[None]:
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)


class IdempotencyStore:
    """First responses by key, in the context's own schema.

    ``connect`` lends a pooled connection (the context's event-store pool): nothing here
    opens a connection per command."""

    def __init__(self, dsn: str, schema: str) -> None:
        self._dsn = dsn
        self._table = sql.Identifier(schema, TABLE)
        self._connect: Connect = lambda: psycopg.connect(self._dsn, autocommit=True)

    def use_connections(self, connect: Connect) -> None:
        """Borrow connections from ``connect`` (an autocommit pool) from now on."""
        self._connect = connect

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
        pending = PendingResponse(key, fingerprint(operation, request))
        stored = self._get(key, pending.fingerprint)
        if stored is not None:
            return stored
        try:
            with _running(pending):
                response = _jsonable(action())
        except BaseException:
            if pending.stored is not None:  # it saved, then refused: keep no answer, as before
                self._forget(key, pending.stored)
            raise
        if pending.stored == response:
            return response
        with self._connect() as conn:
            if pending.stored is not None:  # the transaction stored a partial answer
                conn.execute(
                    sql.SQL("UPDATE {} SET response = %s WHERE key = %s").format(self._table),
                    (Jsonb(response), key),
                )
                return response
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key, fingerprint, response) VALUES (%s, %s, %s)"
                    " ON CONFLICT (key) DO NOTHING"
                ).format(self._table),
                (key, pending.fingerprint, Jsonb(response)),
            )
        # A concurrent duplicate may have stored first: everyone answers with that one.
        first = self._get(key, pending.fingerprint)
        assert first is not None
        return first

    def _get(self, key: str, print_: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL("SELECT fingerprint, response FROM {} WHERE key = %s").format(self._table),
                (key,),
            ).fetchone()
        if row is None:
            return None
        stored_print, response = _columns(row)
        if stored_print != print_:
            raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request")
        return response

    def _forget(self, key: str, response: dict[str, Any]) -> None:
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE key = %s AND response = %s").format(self._table),
                (key, Jsonb(response)),
            )


def _columns(row: Any) -> tuple[str, dict[str, Any]]:
    """Rows come as tuples from plain connections and as dicts from the event-store pool."""
    if isinstance(row, dict):
        return str(row["fingerprint"]), row["response"]
    return str(row[0]), row[1]


class RecordsIdempotency(PostgresApplicationRecorder):
    """An events recorder that writes a keyed command's response in the same transaction as
    its events, once their notification ids are known (``idempotency=PendingResponse``)."""

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        pending: PendingResponse | None = kwargs.get("idempotency")
        if pending is not None and pending.respond is not None and ids:
            response = _jsonable(pending.respond(ids))
            curs.execute(
                sql.SQL(
                    "INSERT INTO {} (key, fingerprint, response) VALUES (%s, %s, %s)"
                    " ON CONFLICT (key) DO NOTHING RETURNING key"
                ).format(sql.Identifier(self.datastore.schema, TABLE)),
                (pending.key, pending.fingerprint, Jsonb(response)),
            )
            if curs.fetchone() is not None:  # else a concurrent duplicate stored first
                pending.stored = response
        return ids


def _jsonable(response: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        json.dumps(response, default=lambda o: str(o) if isinstance(o, UUID) else repr(o))
    )
    return result
