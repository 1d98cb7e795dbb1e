"""Applied positions held in memory and pushed by Postgres, not read per query.

Every projector's checkpoint write is announced with NOTIFY (``ProjectionCheckpoints``).
The read API listens on one connection and re-reads the whole checkpoints table (a few
dozen rows) when told, so a query answers "how far is this read model?" from memory and a
query waiting for its own write wakes the moment the projector records it. While the
listener is away (Postgres restarting) positions are read per query, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from contract.watermark import complete_up_to
from projections.checkpoints import ProjectionCheckpoints
from read_api.consistency import AppliedPosition

log = logging.getLogger(__name__)


class AppliedPositions:
    def __init__(self, checkpoints: ProjectionCheckpoints, dsn: str, partitions: int) -> None:
        self._checkpoints = checkpoints
        self._dsn = dsn
        self._partitions = partitions
        self._known: dict[tuple[str, str], dict[int, int]] | None = None
        # Per projection, how many times its positions changed while we listened: what a
        # cached answer of its read model is checked against (``read_api.answers``).
        self._generations: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def of(self, projection: str, context: str) -> AppliedPosition:
        """Up to which position ``projection`` has applied ``context`` (ADR 0006)."""
        return _Applied(self, projection, context)

    async def position(self, projection: str, context: str) -> int:
        known = self._known
        if known is None:  # not listening (yet): ask
            per_partition = await self._checkpoints.positions(projection, context)
        else:
            per_partition = known.get((projection, context), {})
        return complete_up_to(per_partition, self._partitions)

    def generation(self, projection: str) -> int | None:
        """A number that changes whenever ``projection`` applies something; None while the
        positions are not pushed (then a change could go unnoticed)."""
        if self._known is None:
            return None
        return self._generations.get(projection, 0)

    async def changed(self, within: float) -> None:
        """Return when the positions change, or after ``within`` seconds."""
        if self._known is None:  # not listening: poll
            await asyncio.sleep(min(within, 0.05))
            return
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), within)

    async def start(self) -> None:
        await self._checkpoints.open()  # the fallback reads borrow pooled connections
        self._task = asyncio.create_task(self._listen(), name="applied-positions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._checkpoints.close()

    async def _listen(self) -> None:
        backoff = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True
                ) as conn:
                    await conn.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(self._checkpoints.channel))
                    )
                    await self._refresh(conn)  # after LISTEN: no advance falls in between
                    backoff = 0.2
                    while True:
                        # The generator holds the connection: leave it before reading.
                        async for _ in conn.notifies(stop_after=1):
                            pass
                        await self._refresh(conn)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._known = None
                log.warning("applied positions: %s; reading per query for now", e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _refresh(self, conn: psycopg.AsyncConnection[Any]) -> None:
        known = await self._checkpoints.every_position(conn)
        before = self._known or {}
        for projection in {
            projection
            for projection, context in known.keys() | before.keys()
            if known.get((projection, context)) != before.get((projection, context))
        }:
            self._generations[projection] = self._generations.get(projection, 0) + 1
        self._known = known
        async with self._changed:
            self._changed.notify_all()


@dataclass(frozen=True)
class _Applied:
    """An ``AppliedPosition`` that can also wait for the next change (``wait_until_applied``)."""

    positions: AppliedPositions
    projection: str
    context: str

    async def __call__(self) -> int:
        return await self.positions.position(self.projection, self.context)

    async def changed(self, within: float) -> None:
        await self.positions.changed(within)
