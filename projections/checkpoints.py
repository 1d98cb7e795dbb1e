"""How far each projection has applied each context, per Kafka partition.

Positions rise within a partition (the relay publishes in log order and keys by
aggregate), so the highest applied position per partition is a true watermark for it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from projections.connections import AsyncConnections

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    projection: str
    context: str
    partition: int
    position: int
    updated_at: datetime


class ProjectionCheckpoints:
    """Checkpoints in Postgres. Every advance is announced on ``channel`` (NOTIFY), so a
    reader can keep the positions in memory instead of asking for them per query."""

    def __init__(self, dsn: str, schema: str, connect: Connect) -> None:
        # A pooled connection per call from the composition root; by default a new one.
        self._connect = connect  # a connection of this process's pool (the composition root's)
        self._connections = AsyncConnections(dsn)
        self.channel = f"{schema}_checkpoints"
        self._table = sql.Identifier(schema, "checkpoints")
        self._dead = sql.Identifier(schema, "dead_letters")

    async def open(self) -> None:
        """Pool connections in the running (long-lived) loop; see ``AsyncConnections``."""
        await self._connections.open()

    async def close(self) -> None:
        await self._connections.close()

    def create_table(self, conn: psycopg.Connection[Any]) -> None:
        """Create the table in its (existing) schema, on the caller's connection."""
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " projection text NOT NULL,"
                " context text NOT NULL,"
                " partition int NOT NULL,"
                " position bigint NOT NULL,"
                " updated_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (projection, context, partition))"
            ).format(self._table)
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id bigserial PRIMARY KEY,"
                " projection text NOT NULL,"
                " source text NOT NULL,"
                " reason text NOT NULL,"
                " recorded_at timestamptz NOT NULL DEFAULT now())"
            ).format(self._dead)
        )

    async def advance(self, projection: str, context: str, positions: dict[int, int]) -> None:
        """Record the highest applied position per partition (never moving backwards)."""
        if not positions:
            return
        async with self._connections.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(
                    sql.SQL(
                        "INSERT INTO {t} (projection, context, partition, position)"
                        " VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (projection, context, partition) DO UPDATE"
                        " SET position = GREATEST({t}.position, EXCLUDED.position),"
                        " updated_at = now()"
                    ).format(t=self._table),
                    [(projection, context, p, pos) for p, pos in sorted(positions.items())],
                )
            # Delivered at commit, so a listener never sees a position before it is stored.
            await conn.execute("SELECT pg_notify(%s, %s)", (self.channel, projection))

    async def positions(self, projection: str, context: str) -> dict[int, int]:
        """Applied position per partition for one projection of one context."""
        async with self._connections.connection() as conn:
            cursor = await conn.execute(
                sql.SQL(
                    "SELECT partition, position FROM {} WHERE projection = %s AND context = %s"
                ).format(self._table),
                (projection, context),
            )
            return {int(p): int(pos) for p, pos in await cursor.fetchall()}

    async def every_position(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> dict[tuple[str, str], dict[int, int]]:
        """Every projection's applied position per context and partition, on ``conn``."""
        cursor = await conn.execute(
            sql.SQL("SELECT projection, context, partition, position FROM {}").format(self._table)
        )
        result: dict[tuple[str, str], dict[int, int]] = {}
        for projection, context, partition, position in await cursor.fetchall():
            result.setdefault((str(projection), str(context)), {})[int(partition)] = int(position)
        return result

    async def record_dead_letter(self, projection: str, source: str, reason: str) -> None:
        """Remember a message a projection could not apply (it also goes to the topic)."""
        async with self._connections.connection() as conn:
            await conn.execute(
                sql.SQL("INSERT INTO {} (projection, source, reason) VALUES (%s, %s, %s)").format(
                    self._dead
                ),
                (projection, source, reason),
            )

    def dead_letters(self) -> dict[str, int]:
        """How many messages each projection has dead-lettered."""
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL("SELECT projection, count(*) FROM {} GROUP BY projection").format(
                    self._dead
                )
            ).fetchall()
        return {str(name): int(count) for name, count in rows}

    def all(self) -> list[Checkpoint]:
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT projection, context, partition, position, updated_at FROM {}"
                    " ORDER BY projection, context, partition"
                ).format(self._table)
            ).fetchall()
        return [Checkpoint(*row) for row in rows]
