"""Pooled Postgres connections for the async read side (projectors, the read API).

One small autocommit pool per event loop, opened on first use: a projector batch or a
query borrows a connection instead of opening one (a Postgres backend per connect costs
milliseconds). Per loop, because an asyncio pool belongs to the loop that opened it, and
tests and CLI commands run more than one loop in a process.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


class AsyncConnections:
    def __init__(self, dsn: str, max_size: int = 4) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, AsyncConnectionPool[AsyncConnection[Any]]
        ] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = AsyncConnectionPool(
                self.dsn,
                min_size=1,
                max_size=self.max_size,
                kwargs={"autocommit": True},
                open=False,
            )
            self._pools[loop] = pool
        await pool.open()  # cheap once open; a second caller may arrive while it opens
        async with pool.connection() as conn:
            yield conn

    async def close(self) -> None:
        """Close this loop's pool (the others close with their loops)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()
