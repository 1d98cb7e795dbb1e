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
- **One transaction per batch:** one ``LOCK TABLE``, one ``NOTIFY``, one ``COMMIT``, sent in
  one pipeline and synced once: a round trip per batch, not per request, which matters as much
  as the flush when Python threads wait for the GIL after every round trip.
- **A savepoint per request.** Its ``_insert_events`` hook statements (an e-mail claim, an
  idempotency record…) and its events run in their own savepoint. If any of them fails (a
  version already stored → ``IntegrityError``, a hook's unique key taken, a hook raising), the
  request is rolled back to its savepoint and refused with that error, and the requests after
  it are sent again; its neighbours are committed.
- **Notification ids stay gap-free.** Ids are drawn from a sequence, which a rollback does not
  give back. Every writer draws them only under the table lock, which the batch holds, so after
  a refused request the sequence is set back to the highest stored id.
- **Results after the commit.** Nobody learns the outcome of a request before the batch is
  committed; if the commit (or anything outside a request's savepoint) fails, every request
  of the batch gets that error: none was committed. Connection and operational errors are
  retried per caller, as the library's recorder does (10 attempts), so each request of a
  failed batch is retried on its own, usually in the next batch.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
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
from psycopg import Connection, Cursor
from psycopg.abc import Query
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier

from contract.trace_context import one_client_span

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
        self.rewind_sequence_statement = SQL(
            "SELECT setval(pg_get_serial_sequence(format('%%I.%%I', %s::text, %s::text),"
            " 'notification_id'), coalesce(max(notification_id), 1), max(notification_id)"
            " IS NOT NULL) FROM {table}"
        ).format(table=table)
        # The statements of a batch as bytes, composed once (on the first connection, which
        # knows the encoding): composing them again for every request of every batch cost
        # more than sending them.
        self._statements: _Statements | None = None

    def _compiled(self, conn: Connection[DictRow]) -> _Statements:
        if self._statements is None:
            self._statements = _Statements(
                lock=[
                    s.as_bytes(conn) if isinstance(s, Composable) else s
                    for s in self.lock_table_statements
                ],
                notify=SQL("NOTIFY {0}").format(Identifier(self.channel_name)).as_bytes(conn),
                insert=self.insert_events_statement.as_bytes(conn),
                rewind=self.rewind_sequence_statement.as_bytes(conn),
            )
        return self._statements

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
        span = one_client_span(
            "group commit",
            **{
                "db.system": "postgresql",
                "db.operation.name": "group commit",
                "db.collection.name": self.events_table_name,
                "shop.requests": len(batch),
                "shop.events": sum(len(request.stored_events) for request in batch),
            },
        )
        try:
            with span, self.datastore.get_connection() as conn:
                # psycopg takes a statement for prepared once it sent its Parse, even if the
                # server skipped it after an error earlier in the pipeline: nothing is
                # prepared during a batch.
                threshold, conn.prepare_threshold = conn.prepare_threshold, None
                try:
                    self._write_rounds(conn, batch)
                except BaseException:
                    if not _connection_lost(conn):
                        conn.rollback()  # nothing of the batch stays
                    raise
                finally:
                    conn.prepare_threshold = threshold
        except Exception as e:  # nothing was committed
            for request in batch:
                request.ids = None
                request.error = _copy(e)

    def _write_rounds(self, conn: Connection[DictRow], batch: list[_Request]) -> None:
        """BEGIN and lock, then rounds: every pending request in its savepoint, and COMMIT,
        sent in one pipeline and synced once (when the pipeline ends). A request that fails
        is rolled back to its savepoint and refused, and the requests after it are sent
        again in the next round."""

        statements = self._compiled(conn)

        def begin() -> Cursor[DictRow]:
            head = conn.cursor()
            head.execute(b"BEGIN")
            if any(request.stored_events for request in batch):
                for lock in statements.lock:  # the library's _lock_table, precomposed
                    conn.cursor().execute(lock)
                head = conn.cursor()
                head.execute(statements.notify)
            return head

        def after(number: int) -> Callable[[], Cursor[DictRow]]:
            def roll_back() -> Cursor[DictRow]:
                conn.cursor().execute(b"ROLLBACK TO SAVEPOINT request_%d" % number)
                conn.cursor().execute(b"RELEASE SAVEPOINT request_%d" % number)
                # Every writer draws ids under the table lock, which we hold: the ids a
                # failed insert drew are given back, so the log has no hole.
                head = conn.cursor()
                head.execute(statements.rewind, (self.datastore.schema, self.events_table_name))
                return head

            return roll_back

        pending = list(enumerate(batch))
        before = begin
        while (failed := self._round(conn, before, pending)) is not None:
            index, error = failed
            number, request = pending[index]
            request.ids, request.error = None, error
            before = after(number)
            pending = pending[index + 1 :]

    def _round(
        self,
        conn: Connection[DictRow],
        before: Callable[[], Cursor[DictRow]],
        pending: list[tuple[int, _Request]],
    ) -> tuple[int, Exception] | None:
        """Send ``before``'s statements, ``pending`` and COMMIT, sync. None if committed;
        else the index of the request that failed and its error (the ones before it are
        written and have their ids)."""
        sent: list[_Sent] = []
        head: Cursor[DictRow] | None = None
        error: psycopg.Error | None = None  # the first the server reported
        raised: Exception | None = None  # a hook's own
        try:
            with conn.pipeline():
                try:
                    head = before()
                    for number, request in pending:
                        sent.append(self._send(conn, number, request))
                    conn.cursor().execute(b"COMMIT")
                except psycopg.Error as e:  # read while sending; the server skips the rest
                    error = e
                except Exception as e:
                    raised = e
        except psycopg.Error as e:  # at the sync that ends the pipeline
            error = error or e
        if error is None and raised is None:
            _collect(sent)
            return None
        if error is not None and (head is None or head.pgresult is None):
            raise error  # the batch failed before any request (lock, connection)
        if _connection_lost(conn):
            raise error or raised or PersistenceError("connection lost")
        index = next((i for i, (_, _, done) in enumerate(sent) if done.pgresult is None), None)
        if index is None:
            if len(sent) == len(pending):
                assert error is not None
                raise error  # every request went through: the COMMIT failed
            index = len(sent)  # the one being sent failed
        _collect(sent[:index])
        if index == len(sent) and raised is not None:
            return index, raised
        assert error is not None
        return index, translate(error)

    def _send(self, conn: Connection[DictRow], number: int, request: _Request) -> _Sent:
        """A request's statements in its savepoint: its hook's, its insert, its after-hook's."""
        conn.cursor().execute(b"SAVEPOINT request_%d" % number)
        with conn.cursor() as curs:
            self._insert_events(curs, request.stored_events, **request.kwargs)
        insert = None
        if request.stored_events:
            insert = conn.cursor()
            pg_events = [self._pg_event(e) for e in request.stored_events]
            insert.execute(self._compiled(conn).insert, (pg_events,))
            with conn.cursor() as curs:
                self._after_insert_events(curs, request.stored_events, **request.kwargs)
        # Has a result once the whole request went through.
        done = conn.cursor()
        done.execute(b"RELEASE SAVEPOINT request_%d" % number)
        return request, insert, done

    def _after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """Statements to run after a request's events are inserted, in its savepoint (the
        sequence's ``currval`` is then its last notification id). Executes only: nothing
        is fetched in a pipelined batch."""

    def _pg_event(self, event: StoredEvent) -> Any:
        return self.construct_pg_stored_event(
            event.originator_id, event.originator_version, event.topic, event.state
        )


@dataclass(frozen=True)
class _Statements:
    lock: list[Query]
    notify: bytes
    insert: bytes
    rewind: bytes


# A request sent: the cursors of its insert (if it has events) and of its savepoint's release.
_Sent = tuple[_Request, Cursor[DictRow] | None, Cursor[DictRow]]


def _collect(sent: list[_Sent]) -> None:
    for request, insert, _ in sent:
        request.ids = None if insert is None else [row["notification_id"] for row in insert]


def _connection_lost(conn: Connection[DictRow]) -> bool:
    return bool(conn.closed or conn.broken)
