"""Postgres read models: one transaction empties the tables and refills them from every
followed log up to its head. Readers see the old rows until it commits; the live projector
waits for it (table locks, see each read model's tables) and then applies what follows,
version-guarded, so nothing is lost or applied twice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from contract.envelope import Envelope
from infra.rebuild import Logs, Rebuilt
from infra.settings import Settings

log = logging.getLogger(__name__)


class Tables(Protocol):
    async def create(self, conn: psycopg.AsyncConnection[Any]) -> None: ...

    async def clear(self, conn: psycopg.AsyncConnection[Any]) -> None: ...

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], envelopes: Sequence[Envelope]
    ) -> Any: ...


@dataclass(frozen=True)
class RefillInOneTransaction:
    tables: Callable[[Settings], Tables]

    async def __call__(
        self, settings: Settings, logs: Logs, contexts: tuple[str, ...], name: str
    ) -> Rebuilt:
        tables = self.tables(settings)
        positions, total = dict.fromkeys(contexts, 0), 0
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, autocommit=True
        ) as conn:
            await tables.create(conn)
            async with conn.transaction():
                await tables.clear(conn)
                for context in contexts:
                    for position, batch in logs.batches(context):
                        await tables.apply(conn, batch)
                        positions[context], total = position, total + len(batch)
        log.info("%s: rebuilt from %d events up to %s", name, total, positions)
        return Rebuilt(positions, total)
