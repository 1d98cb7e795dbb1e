"""Idempotency-Key: a repeated request returns the first response and changes nothing.

Two layers, so correctness never depends on timing:

1. The domain: a keyed command derives the id of what it creates (an aggregate, a refund)
   from the key, so a concurrent duplicate collides at the event store or is a no-op
   in the aggregate (see ``ShopApplication.idempotent_id``).
2. This store: the first response per key, with a fingerprint of the request, so a repeat
   is answered verbatim and a key reused for a different request is refused.

The response of a command that saves through ``ShopApplication.save_and_answer`` is written
in the command's own transaction (``RecordsIdempotency``): no round trip of its own, and no
window in which the events are committed but the key is not. Other commands store it just
after, as before (ADR 0027).
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
from psycopg import Cursor, sql
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from commands.group_commit import GroupCommitRecorder
from commands.observers import NO_COMMAND_OBSERVER, CommandObserver
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
    """A keyed command in progress. ``stored`` is the answer its own transaction recorded
    under its key (set by the application once that transaction committed)."""

    key: str
    fingerprint: str
    stored: dict[str, Any] | None = None


@dataclass(frozen=True)
class AnswerRecord:
    """What a save records under a key (``RecordsIdempotency``): ``answer`` with its
    ``position`` filled in by the database, as the save's last notification id."""

    key: str
    fingerprint: str
    answer: dict[str, Any]


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

    def __init__(self, schema: str, observer: CommandObserver = NO_COMMAND_OBSERVER) -> None:
        self.observer = observer
        self._table = sql.Identifier(schema, TABLE)
        self._lent: Connect | None = None

    def use_connections(self, connect: Connect) -> None:
        """Borrow connections from ``connect`` (the event store's autocommit pool): the
        application lends it once its event store is built."""
        self._lent = connect

    def _connect(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        if self._lent is None:
            raise RuntimeError("the idempotency store was lent no connections")
        return self._lent()

    def create_table(self, conn: psycopg.Connection[Any]) -> None:
        """Create the table in its (existing) schema, on the caller's connection."""
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
            self.observer.repeated(operation)
            return stored
        try:
            with _running(pending):
                response = jsonable(action())
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


class RecordsIdempotency(GroupCommitRecorder):
    """The events recorder of every context: group commit (ADR 0026), and a keyed command's
    answer inserted after its events in the same savepoint (``idempotency=AnswerRecord``).

    No ``ON CONFLICT``: a key already recorded by a concurrent duplicate refuses this save
    (``IntegrityError``) like a version clash, so the command reloads, finds its effect done,
    and answers with the first response."""

    def _after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._after_insert_events(curs, stored_events, **kwargs)
        record: AnswerRecord | None = kwargs.get("idempotency")
        if record is None or not stored_events:
            return
        events_table = f"{self.datastore.schema}.{self.events_table_name}"
        curs.execute(
            sql.SQL(
                "INSERT INTO {} (key, fingerprint, response) VALUES (%s, %s,"
                " jsonb_set(%s::jsonb, '{{position}}',"
                " to_jsonb(currval(pg_get_serial_sequence(%s, 'notification_id')))))"
            ).format(sql.Identifier(self.datastore.schema, TABLE)),
            (record.key, record.fingerprint, Jsonb(record.answer), events_table),
        )


def jsonable(response: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        json.dumps(response, default=lambda o: str(o) if isinstance(o, UUID) else repr(o))
    )
    return result
