"""Group commit: concurrent saves of one context share one transaction (ADR 0026).

Every insert into a context's events table takes that table's EXCLUSIVE lock (ADR 0001), so
one command per transaction means one command per lock and per WAL flush: 16 writers wait in
line behind each other's fsync. ``GroupCommitRecorder`` writes the saves that arrive while a
transaction is being written in the next one, together:

- **Leader and followers.** A caller enqueues its request. If no batch is being written it
  becomes the leader: it takes what is queued (its own request first, at most
  ``MAX_BATCH_REQUESTS``) and writes it at once; callers arriving meanwhile wait on their own
  request. When the batch is committed, the leader hands the queue to the first waiting
  caller, who writes the next batch, and returns. No timer: an uncontended save is written
  immediately, in as many round trips as the library's own recorder.
- **One transaction per batch:** one ``LOCK TABLE``, one ``NOTIFY``, one ``COMMIT``.
- **A savepoint per request.** Its ``_insert_events`` hook statements (an e-mail claim, an
  idempotency record…) and its events run in their own savepoint. The events are inserted
  only if none of their ``(originator_id, version)`` exists yet (checked in the same
  statement, under the table lock); otherwise the request gets ``IntegrityError`` and its
  savepoint is rolled back, as it is on any error of its hook. Its neighbours are committed.
- **Notification ids stay gap-free.** A refused insert produces no row, so it draws no value
  from the ``notification_id`` sequence. If an insert fails after drawing values (an error
  raised mid-statement), the sequence is set back to the highest id in the table: every
  writer draws ids only under the table lock, which the batch holds.
- **Results after the commit.** Nobody learns the outcome of a request before the batch is
  committed; if the commit (or anything outside a request's savepoint) fails, every request
  of the batch gets that error: none was committed. Connection and operational errors are
  retried per caller, as the library's recorder does (10 attempts), so each request of a
  failed batch is retried on its own, usually in the next batch.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

# Each request's savepoint is a subtransaction. Postgres caches up to 64 subtransaction ids
# per backend; past that, every other session's snapshots must look them up on disk.
MAX_BATCH_REQUESTS = 64
# A batch stops growing at this many events (a request is never split).
MAX_BATCH_EVENTS = 2000

# The library's translation of driver errors (eventsourcing.postgres.PostgresDatastore).
_TRANSLATIONS: tuple[tuple[type[psycopg.Error], type[PersistenceError]], ...] = (
    (psycopg.InterfaceError, InterfaceError),
    (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError),
    (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError),
    (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError),
    (psycopg.DatabaseError, DatabaseError),
)


def translate(error: psycopg.Error) -> PersistenceError:
    """The eventsourcing error for a driver error, as the library's datastore raises it."""
    for driver, persistence in _TRANSLATIONS:
        if isinstance(error, driver):
            translated = persistence(str(error))
            break
    else:
        translated = PersistenceError(str(error))
    translated.__cause__ = error
    return translated


def _copy(error: Exception) -> Exception:
    """One exception object per waiting thread (a traceback is per raise)."""
    try:
        copy = type(error)(*error.args)
    except Exception:
        copy = PersistenceError(str(error))
    copy.__cause__ = error
    return copy


class _Refused(Exception):
    """A request's events collide with stored ones: roll back its savepoint."""


@dataclass(eq=False)
class _Request:
    stored_events: Sequence[StoredEvent]
    kwargs: dict[str, Any]
    ready: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # woken to write the next batch, not with an outcome
    done: bool = False
    ids: Sequence[int] | None = None
    error: Exception | None = None

    def outcome(self) -> Sequence[int] | None:
        if self.error is not None:
            raise self.error
        return self.ids


class GroupCommitRecorder(PostgresApplicationRecorder):
    """The library's Postgres application recorder, writing concurrent inserts in one
    transaction. Subclasses add rows through ``_insert_events`` as with the library's; the
    hook runs inside the request's savepoint."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._group_lock = threading.Lock()
        self._queue: deque[_Request] = deque()
        self._writing = False  # a leader holds the batch; the queue waits for it
        table = Identifier(datastore.schema, events_table_name)
        event_type = Identifier(datastore.schema, self.stored_event_type_name)
        # All of a request's events or none: a clash with a stored (or earlier in the batch)
        # event makes the SELECT produce no row, so no notification id is drawn.
        self.group_insert_statement = SQL(
            "WITH new AS (SELECT * FROM unnest(%s::{type}[]))"
            " INSERT INTO {table} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, originator_version, topic, state FROM new"
            " WHERE NOT EXISTS (SELECT FROM {table} e JOIN new n"
            " ON e.originator_id = n.originator_id"
            " AND e.originator_version = n.originator_version)"
            " RETURNING notification_id"
        ).format(type=event_type, table=table)
        self.rewind_sequence_statement = SQL(
            "SELECT setval(pg_get_serial_sequence(format('%%I.%%I', %s::text, %s::text),"
            " 'notification_id'), coalesce(max(notification_id), 1), max(notification_id)"
            " IS NOT NULL) FROM {table}"
        ).format(table=table)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:  # that path has no hook and takes no lock
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        request = _Request(stored_events, kwargs)
        with self._group_lock:
            self._queue.append(request)
            leads = not self._writing
            self._writing = True
        if not leads:
            request.ready.wait()
            if request.done:
                return request.outcome()
            assert request.leads
        self._lead()
        assert request.done
        return request.outcome()

    def _lead(self) -> None:
        """Write one batch (the leader's request is the first queued), then hand over."""
        with self._group_lock:
            batch = [self._queue.popleft()]
            events = len(batch[0].stored_events)
            while (
                self._queue
                and len(batch) < MAX_BATCH_REQUESTS
                and events + len(self._queue[0].stored_events) <= MAX_BATCH_EVENTS
            ):
                request = self._queue.popleft()
                batch.append(request)
                events += len(request.stored_events)
        try:
            self._write_batch(batch)
        except BaseException as e:  # interrupted: no outcome is known, none is left hanging
            for request in batch:
                request.ids = None
                request.error = PersistenceError(f"group commit interrupted: {e!r}")
            raise
        finally:
            with self._group_lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.leads = True
                    successor.ready.set()
                else:
                    self._writing = False
            for request in batch:
                request.done = True
                request.ready.set()

    def _write_batch(self, batch: list[_Request]) -> None:
        try:
            with (
                self.datastore.get_connection() as conn,
                conn.pipeline() as pipeline,
                conn.transaction(),
            ):
                if any(request.stored_events for request in batch):
                    with conn.cursor() as curs:
                        self._lock_table(curs)
                        self._notify_channel(curs)
                for request in batch:
                    self._write_request(conn, pipeline, request)
        except Exception as e:  # nothing was committed
            for request in batch:
                request.ids = None
                request.error = _copy(e)

    def _write_request(
        self, conn: Connection[DictRow], pipeline: psycopg.Pipeline, request: _Request
    ) -> None:
        events = request.stored_events
        drew_ids = False
        try:
            with conn.transaction():  # SAVEPOINT
                with conn.cursor() as curs:
                    self._insert_events(curs, events, **request.kwargs)
                if not events:
                    pipeline.sync()
                    request.ids = None
                    return
                with conn.cursor() as curs:
                    curs.execute(
                        self.group_insert_statement,
                        ([self._pg_event(e) for e in events],),
                        prepare=True,
                    )
                    drew_ids = True
                    pipeline.sync()
                    ids = [row["notification_id"] for row in curs.fetchall()]
                if len(ids) != len(events):
                    raise _Refused
                request.ids = ids
        except _Refused:
            request.error = IntegrityError(
                "duplicate key value violates unique constraint: an event with this "
                "(originator_id, originator_version) is already stored"
            )
        except psycopg.Error as e:
            if _connection_lost(conn):
                raise  # the batch fails as a whole
            request.error = translate(e)
            if drew_ids:
                self._rewind_sequence(conn, pipeline)
        except Exception as e:  # a hook's own error refuses its request only
            request.error = e

    def _pg_event(self, event: StoredEvent) -> Any:
        return self.construct_pg_stored_event(
            event.originator_id, event.originator_version, event.topic, event.state
        )

    def _rewind_sequence(self, conn: Connection[DictRow], pipeline: psycopg.Pipeline) -> None:
        """Give back the ids a failed insert drew: no one else draws while we hold the lock."""
        with conn.cursor() as curs:
            curs.execute(
                self.rewind_sequence_statement, (self.datastore.schema, self.events_table_name)
            )
            pipeline.sync()


def _connection_lost(conn: Connection[DictRow]) -> bool:
    return bool(conn.closed or conn.broken)
