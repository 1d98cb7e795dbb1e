"""How far each projection has applied each context, per Kafka partition.

Positions rise within a partition (the relay publishes in log order and keys by
aggregate), so the highest applied position per partition is a true watermark for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql


@dataclass(frozen=True, slots=True)
class Checkpoint:
    projection: str
    context: str
    partition: int
    position: int
    updated_at: datetime


class ProjectionCheckpoints:
    def __init__(self, dsn: str, schema: str) -> None:
        self._dsn = dsn
        self._schema = sql.Identifier(schema)
        self._table = sql.Identifier(schema, "checkpoints")
        self._dead = sql.Identifier(schema, "dead_letters")

    def create_table(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._schema))
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
        async with (
            await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn,
            conn.cursor() as cur,
        ):
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

    async def positions(self, projection: str, context: str) -> dict[int, int]:
        """Applied position per partition for one projection of one context."""
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            cursor = await conn.execute(
                sql.SQL(
                    "SELECT partition, position FROM {} WHERE projection = %s AND context = %s"
                ).format(self._table),
                (projection, context),
            )
            return {int(p): int(pos) for p, pos in await cursor.fetchall()}

    async def record_dead_letter(self, projection: str, source: str, reason: str) -> None:
        """Remember a message a projection could not apply (it also goes to the topic)."""
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("INSERT INTO {} (projection, source, reason) VALUES (%s, %s, %s)").format(
                    self._dead
                ),
                (projection, source, reason),
            )

    def dead_letters(self) -> dict[str, int]:
        """How many messages each projection has dead-lettered."""
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            rows = conn.execute(
                sql.SQL("SELECT projection, count(*) FROM {} GROUP BY projection").format(
                    self._dead
                )
            ).fetchall()
        return {str(name): int(count) for name, count in rows}

    def all(self) -> list[Checkpoint]:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT projection, context, partition, position, updated_at FROM {}"
                    " ORDER BY projection, context, partition"
                ).format(self._table)
            ).fetchall()
        return [Checkpoint(*row) for row in rows]
