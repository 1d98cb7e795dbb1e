"""Pooled Postgres connections for the async read side (projectors, the read API).

A long-lived event loop (the worker's, the read API's) opens a small autocommit pool with
``open()``: from then on a projector batch or a query in that loop borrows a connection
instead of opening one (a Postgres backend per connect costs milliseconds). Code that runs
a short loop per call (``asyncio.run`` in tests and CLI commands) opens no pool and connects
per call: a pool cannot be closed once its loop is gone, and its tasks would keep
``asyncio.run`` from finishing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


class AsyncConnections:
    def __init__(self, dsn: str, max_size: int = 4) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool[AsyncConnection[Any]]]
        self._pools = {}

    async def open(self) -> None:
        """Pool connections for the running loop from now on (idempotent)."""
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
        await pool.open()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        pool = self._pools.get(asyncio.get_running_loop())
        if pool is None:
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                yield conn
            return
        async with pool.connection() as conn:
            yield conn

    async def close(self) -> None:
        """Close the running loop's pool, if it opened one."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()
