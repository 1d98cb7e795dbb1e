"""What every Postgres read model shares as the worker runs it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg import AsyncConnection

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


def row_values(row: Any) -> tuple[Any, ...]:
    """A read-model row dataclass as the tuple of its columns, in declaration order."""
    return tuple(getattr(row, column) for column in row.__dataclass_fields__)
