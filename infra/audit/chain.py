"""Tamper evidence: every stored event is chained to the previous one in its stream and in its
context's log by a SHA-256 over the stored record (ADR 0015).

A trigger on each context's events table computes the links at insert time into three side
columns. The eventsourcing recorder inserts under an EXCLUSIVE table lock, so "the previous
record" is well defined; the trigger takes the same lock per statement, so a writer that does
not (the library's optional database functions, a manual INSERT) still cannot fork the chain.
Hashes cover the stored bytes, not the plaintext, so they keep verifying after personal data
is erased by deleting its keys, and with encryption at rest.

``verify`` recomputes every link in Python (independently of the SQL that wrote it) with two
streaming passes per context: log order, then stream order. Memory stays constant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

ZERO = b"\x00" * 32
STREAM_HASH = "audit_stream_hash"
LOG_HASH = "audit_log_hash"
PREV_POSITION = "audit_prev_position"
_FETCH = 2000


def record_digest(originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """The hash of one stored record. NUL separates the text fields (text cannot hold NUL)."""
    head = f"{originator_id}\x00{version}\x00{topic}\x00".encode()
    return hashlib.sha256(head + state).digest()


def link(previous: bytes, number: int, digest: bytes) -> bytes:
    """Chain a record (its version in a stream, its position in the log) to its predecessor."""
    return hashlib.sha256(previous + str(number).encode() + b"\x00" + digest).digest()


@dataclass(frozen=True)
class EventsTable:
    schema: str
    table: str

    @property
    def name(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)


def install(conn: psycopg.Connection[Any], events: EventsTable) -> int:
    """Add the chain columns and triggers to an events table (idempotent), and chain any
    records stored before; return how many were chained now."""
    t = events.name
    fn_row = sql.Identifier(events.schema, f"{events.table}_chain")
    fn_lock = sql.Identifier(events.schema, f"{events.table}_chain_lock")
    digest = sql.SQL(
        "sha256(convert_to(NEW.originator_id::text, 'UTF8') || '\\x00'::bytea"
        " || convert_to(NEW.originator_version::text, 'UTF8') || '\\x00'::bytea"
        " || convert_to(coalesce(NEW.topic, ''), 'UTF8') || '\\x00'::bytea"
        " || coalesce(NEW.state, '\\x'::bytea))"
    )
    with conn.transaction():
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(t))
        if not _has_chain_columns(conn, events):  # ALTER would block readers, even as a no-op
            conn.execute(
                sql.SQL(
                    "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {s} bytea,"
                    " ADD COLUMN IF NOT EXISTS {l} bytea,"
                    " ADD COLUMN IF NOT EXISTS {p} bigint"
                ).format(
                    t=t,
                    s=sql.Identifier(STREAM_HASH),
                    l=sql.Identifier(LOG_HASH),
                    p=sql.Identifier(PREV_POSITION),
                )
            )
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  LOCK TABLE {t} IN EXCLUSIVE MODE;\n"
                "  RETURN NULL;\n"
                "END $$"
            ).format(fn=fn_lock, t=t)
        )
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "DECLARE\n"
                "  digest bytea := {digest};\n"
                "  prev_stream bytea;\n"
                "  prev_log bytea;\n"
                "  prev_position bigint;\n"
                "BEGIN\n"
                "  SELECT e.audit_stream_hash INTO prev_stream FROM {t} e\n"
                "   WHERE e.originator_id = NEW.originator_id\n"
                "     AND e.originator_version < NEW.originator_version\n"
                "   ORDER BY e.originator_version DESC LIMIT 1;\n"
                "  IF NOT FOUND THEN prev_stream := {zero}; END IF;\n"
                "  SELECT e.notification_id, e.audit_log_hash INTO prev_position, prev_log\n"
                "    FROM {t} e WHERE e.notification_id < NEW.notification_id\n"
                "   ORDER BY e.notification_id DESC LIMIT 1;\n"
                "  IF NOT FOUND THEN prev_position := 0; prev_log := {zero}; END IF;\n"
                "  NEW.audit_prev_position := prev_position;\n"
                "  NEW.audit_stream_hash := sha256(prev_stream\n"
                "    || convert_to(NEW.originator_version::text, 'UTF8') || '\\x00'::bytea"
                " || digest);\n"
                "  NEW.audit_log_hash := sha256(prev_log\n"
                "    || convert_to(NEW.notification_id::text, 'UTF8') || '\\x00'::bytea"
                " || digest);\n"
                "  RETURN NEW;\n"
                "END $$"
            ).format(fn=fn_row, t=t, digest=digest, zero=sql.Literal(ZERO))
        )
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE TRIGGER audit_chain_lock BEFORE INSERT ON {t}"
                " FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"
            ).format(t=t, fn=fn_lock)
        )
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE TRIGGER audit_chain BEFORE INSERT ON {t}"
                " FOR EACH ROW EXECUTE FUNCTION {fn}()"
            ).format(t=t, fn=fn_row)
        )
        return _chain_unchained(conn, events)


def _has_chain_columns(conn: psycopg.Connection[Any], events: EventsTable) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND column_name = ANY(%s)",
        (events.schema, events.table, [STREAM_HASH, LOG_HASH, PREV_POSITION]),
    ).fetchone()
    return row is not None and row[0] == 3


def _chain_unchained(conn: psycopg.Connection[Any], events: EventsTable) -> int:
    """Chain records stored before the trigger existed (they all precede chained ones)."""
    rows = conn.execute(
        sql.SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic, state"
            " FROM {} WHERE {} IS NULL ORDER BY notification_id"
        ).format(events.name, sql.Identifier(LOG_HASH))
    ).fetchall()
    if not rows:
        return 0
    streams: dict[str, bytes] = {}
    previous_position, previous = 0, ZERO
    updates = []
    for position, originator_id, version, topic, state in rows:
        digest = record_digest(originator_id, version, topic or "", bytes(state or b""))
        stream = link(streams.get(originator_id, ZERO), version, digest)
        streams[originator_id] = stream
        log_hash = link(previous, position, digest)
        updates.append((stream, log_hash, previous_position, position))
        previous_position, previous = position, log_hash
    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL("UPDATE {} SET {} = %s, {} = %s, {} = %s WHERE notification_id = %s").format(
                events.name,
                sql.Identifier(STREAM_HASH),
                sql.Identifier(LOG_HASH),
                sql.Identifier(PREV_POSITION),
            ),
            updates,
        )
    return len(updates)


@dataclass(frozen=True)
class Break:
    """The first broken link of a chain: where, and what is wrong there."""

    chain: str  # "log" or "stream"
    position: int | None  # the record's notification id, if it still has one
    aggregate_id: str
    version: int
    reason: str


@dataclass
class ContextReport:
    context: str
    records: int = 0
    streams: int = 0
    head_position: int = 0
    head_hash: str = ""
    log_break: Break | None = None
    stream_break: Break | None = None
    anchor_problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.log_break is None and self.stream_break is None and not self.anchor_problem

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class _Row:
    position: int
    originator_id: str
    version: int
    topic: str
    state: bytes
    stream_hash: bytes | None
    log_hash: bytes | None
    prev_position: int | None
    digest: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.digest = record_digest(self.originator_id, self.version, self.topic, self.state)


def _rows(conn: psycopg.Connection[Any], events: EventsTable, order: str) -> Iterator[_Row]:
    """Every record in ``order``, through a server-side cursor (constant memory)."""
    query = sql.SQL(
        "SELECT notification_id, originator_id::text, originator_version, coalesce(topic, ''),"
        " coalesce(state, '\\x'::bytea), {}, {}, {} FROM {} ORDER BY {}"
    ).format(
        sql.Identifier(STREAM_HASH),
        sql.Identifier(LOG_HASH),
        sql.Identifier(PREV_POSITION),
        events.name,
        sql.SQL(order),
    )
    with conn.transaction(), conn.cursor(name="audit_verify") as cursor:
        cursor.itersize = _FETCH
        cursor.execute(query)
        for position, oid, version, topic, state, stream, log, prev in cursor:
            yield _Row(
                position,
                oid,
                version,
                topic,
                bytes(state),
                None if stream is None else bytes(stream),
                None if log is None else bytes(log),
                prev,
            )


def verify_log(
    conn: psycopg.Connection[Any],
    events: EventsTable,
    report: ContextReport,
    tick: Callable[[], None],
) -> None:
    """Walk the log in position order; each record must link to the one before it."""
    previous_position, previous = 0, ZERO
    for row in _rows(conn, events, "notification_id"):
        tick()
        report.records += 1
        problem = _log_problem(row, previous_position, previous)
        if problem is not None and report.log_break is None:
            report.log_break = Break("log", row.position, row.originator_id, row.version, problem)
        previous_position, previous = row.position, row.log_hash or ZERO
    report.head_position = previous_position
    report.head_hash = previous.hex() if previous_position else ""


def _log_problem(row: _Row, previous_position: int, previous: bytes) -> str | None:
    if row.log_hash is None:
        return f"position {row.position} is not chained (stored without the chain trigger)"
    if row.prev_position != previous_position:
        if row.prev_position is not None and row.prev_position > previous_position:
            return (
                f"position {row.position} was chained after position {row.prev_position}, "
                f"which is missing (deleted or renumbered)"
            )
        return (
            f"position {row.position} was chained after position {row.prev_position}, "
            f"but follows position {previous_position} (a record was added or moved here)"
        )
    if link(previous, row.position, row.digest) != row.log_hash:
        return (
            f"position {row.position} does not match its hash: the record was changed "
            f"or moved from another position"
        )
    return None


def verify_streams(
    conn: psycopg.Connection[Any],
    events: EventsTable,
    report: ContextReport,
    tick: Callable[[], None],
) -> None:
    """Walk each aggregate's stream in version order; each event must link to the one before."""
    current, version, previous = "", 0, ZERO
    for row in _rows(conn, events, "originator_id, originator_version"):
        tick()
        if row.originator_id != current:
            current, version, previous = row.originator_id, 0, ZERO
            report.streams += 1
        problem = _stream_problem(row, version, previous)
        if problem is not None and report.stream_break is None:
            report.stream_break = Break(
                "stream", row.position, row.originator_id, row.version, problem
            )
        version, previous = row.version, row.stream_hash or ZERO


def _stream_problem(row: _Row, version: int, previous: bytes) -> str | None:
    where = f"{row.originator_id} version {row.version}"
    if row.stream_hash is None:
        return f"{where} is not chained (stored without the chain trigger)"
    if row.version != version + 1:
        return f"{where} follows version {version}: version {version + 1} is missing"
    if link(previous, row.version, row.digest) != row.stream_hash:
        return f"{where} does not match its hash: the record was changed or reordered"
    return None


def check_anchor(
    conn: psycopg.Connection[Any],
    events: EventsTable,
    report: ContextReport,
    anchor: Mapping[str, Any],
) -> None:
    """A head recorded earlier (``position``, ``hash``) must still be in the log: catches a
    truncated tail or a rewritten chain, which no link inside the table can show."""
    position = int(anchor["head_position"])
    if position == 0:
        return
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE notification_id = %s").format(
            sql.Identifier(LOG_HASH), events.name
        ),
        (position,),
    ).fetchone()
    if row is None:
        report.anchor_problem = f"anchored head position {position} is missing (log truncated)"
    elif row[0] is None or bytes(row[0]).hex() != anchor["head_hash"]:
        report.anchor_problem = (
            f"position {position} no longer has the anchored hash (chain rewritten)"
        )


def estimate(conn: psycopg.Connection[Any], events: EventsTable) -> int:
    """Records to walk, cheaply (the highest position; gaps make it an upper bound)."""
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(events.name)
    ).fetchone()
    return int(row[0]) if row else 0
