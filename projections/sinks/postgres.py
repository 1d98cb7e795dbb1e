"""What every Postgres read model shares as the worker runs it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, LiteralString, Protocol, TypeVar

import psycopg
from psycopg import AsyncConnection, sql

from contract.envelope import Envelope
from projections.connections import AsyncConnections


class Tables(Protocol):
    """A read model's tables: created if missing, and changed by a batch of events inside the
    caller's transaction."""

    async def create(self, conn: AsyncConnection[Any]) -> None: ...

    async def apply(self, conn: AsyncConnection[Any], envelopes: Sequence[Envelope]) -> Any: ...


class PostgresProjector:
    """One pooled connection and one transaction per batch: a lost connection is simply
    retried by the worker, and a batch is applied whole or not at all. Subclasses name the
    projection and say which events they cannot apply (``check``)."""

    name: str

    def __init__(self, dsn: str, tables: Tables) -> None:
        self.dsn = dsn
        self.tables = tables
        self.connections = AsyncConnections(dsn, max_size=2)  # the worker opens its pool

    def check(self, envelope: Envelope) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            await self.tables.create(conn)

    async def apply(self, envelopes: Sequence[Envelope]) -> None:
        async with self.connections.connection() as conn, conn.transaction():
            await self.tables.apply(conn, envelopes)

    async def close(self) -> None:
        await self.connections.close()


class SchemaTables:
    """A read model's tables in one schema of their own: created by its DDL, locked in one
    order, emptied together by a rebuild. Subclasses add the folds and writes."""

    def __init__(self, schema: str, *names: str) -> None:
        self.schema = sql.Identifier(schema)
        self.all = tuple(sql.Identifier(schema, name) for name in names)

    async def create_all(
        self, conn: AsyncConnection[Any], ddl: Sequence[tuple[LiteralString, sql.Identifier]]
    ) -> None:
        """The schema, then each ``(statement, table)`` with ``{}`` standing for the table,
        in one transaction; every statement says IF NOT EXISTS, so a restart changes
        nothing."""
        async with conn.transaction():
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.schema))
            for statement, table in ddl:
                await conn.execute(sql.SQL(statement).format(table))

    async def lock(self, conn: AsyncConnection[Any], mode: str) -> None:
        await lock_tables(conn, self.all, mode)

    async def clear(self, conn: AsyncConnection[Any]) -> None:
        """Empty every table inside the caller's transaction (readers see the old rows until
        it commits); the live projector waits until then."""
        await self.lock(conn, "SHARE ROW EXCLUSIVE")
        for table in self.all:
            await conn.execute(sql.SQL("DELETE FROM {}").format(table))


def row_values(row: Any) -> tuple[Any, ...]:
    """A read-model row dataclass as the tuple of its columns, in declaration order."""
    return tuple(getattr(row, column) for column in row.__dataclass_fields__)


Row = TypeVar("Row")
Extra = TypeVar("Extra")


def fold_changed(
    pending: dict[Any, list[Envelope]],
    current: dict[Any, Row],
    step: Callable[[Row | None, Envelope], tuple[Row | None, Extra | None]],
) -> tuple[list[Row], list[Extra]]:
    """Fold each aggregate's envelopes onto its stored row with ``step`` (the pure fold:
    the new row, and a row of its own the event adds, such as a timeline entry); return
    the rows that changed and every added row."""
    rows: list[Row] = []
    extras: list[Extra] = []
    for key, batch in pending.items():
        before = row = current.get(key)
        for envelope in batch:
            row, extra = step(row, envelope)
            if extra is not None:
                extras.append(extra)
        if row is not None and row is not before:
            rows.append(row)
    return rows, extras


def columns(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def placeholders(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Placeholder() * len(names))


async def lock_tables(
    conn: AsyncConnection[Any], tables: Sequence[sql.Identifier], mode: str
) -> None:
    """Lock a read model's tables, always in the same order (no deadlocks). Projectors take
    ROW EXCLUSIVE and run side by side; a rebuild's SHARE ROW EXCLUSIVE waits for them and
    they for it, so neither folds onto rows the other is replacing."""
    for table in tables:
        await conn.execute(sql.SQL("LOCK TABLE {} IN {} MODE").format(table, sql.SQL(mode)))


async def rows_for_update(
    conn: AsyncConnection[Any],
    table: sql.Identifier,
    names: Sequence[str],
    ids: Sequence[Hashable],
) -> list[tuple[Any, ...]]:
    """The rows of ``ids`` (keyed by the first column), locked in key order."""
    if not ids:
        return []
    key = sql.Identifier(names[0])
    cursor = await conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s) ORDER BY {} FOR UPDATE").format(
            columns(names), table, key, key
        ),
        (list(ids),),
    )
    return await cursor.fetchall()


def upsert_newer(table: sql.Identifier, names: Sequence[str]) -> sql.Composed:
    """Insert a row, or replace the stored one only by a higher version (keyed by the
    first column): redelivery, replay and a rebuild beside the projector change nothing
    twice."""
    key = names[0]
    updates = [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in names if c != key]
    return sql.SQL(
        "INSERT INTO {t} AS stored ({columns}) VALUES ({values})"
        " ON CONFLICT ({key}) DO UPDATE SET {updates}"
        " WHERE stored.version < EXCLUDED.version"
    ).format(
        t=table,
        columns=columns(names),
        values=placeholders(names),
        key=sql.Identifier(key),
        updates=sql.SQL(", ").join(updates),
    )


def insert_once(table: sql.Identifier, names: Sequence[str]) -> sql.Composed:
    """Insert a row its key has not stored yet (a timeline entry, a ledger line): written
    once however often its event arrives."""
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        table, columns(names), placeholders(names)
    )
