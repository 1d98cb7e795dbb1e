"""A read endpoint's app in process, on a connection pool of its own as the read API has."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool


def pooled_app(database_url: str) -> tuple[FastAPI, AsyncConnectionPool]:
    """An app whose lifespan opens the pool it returns and closes it at the end: give its
    routers ``pool.connection``. (Opened in the lifespan, on the TestClient's event loop.)"""
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    return FastAPI(lifespan=lifespan), pool
