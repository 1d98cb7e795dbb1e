"""What every read router takes and does: ``after``, its wait, its 404 and its queries.

A query passes ``after=<position>`` (a command's answer) to read its own write: the router's
``ReadYourWrites`` waits, bounded, until its read model has applied it and says so in the
``Shop-*`` headers. A thing the read model does not have is ``NotInReadModel``, with the same
headers: it may only not be visible yet. A Postgres read model whose table its projector has
not created yet answers as an empty one (``fetch_rows``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Query, Response
from psycopg import AsyncConnection, sql
from psycopg.errors import UndefinedTable
from psycopg.rows import dict_row

from read_api.consistency import AppliedPosition, Consistency, wait_until_applied
from security.problems import Problem

# A connection for one query, returned afterwards: ``AsyncConnectionPool.connection``.
Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]

After = Annotated[
    int | None,
    Query(ge=0, description="the position a command returned: wait until it is visible"),
]
# No NUL: Postgres text cannot hold one (it would be a 500, not a "no match").
Filter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class ReadYourWrites:
    """One read model's wait for a reader's own write: up to ``applied``, ``wait_seconds``
    at most. ``refresh`` runs once the write is applied, for a model that shows it only
    after one (a search index)."""

    def __init__(
        self,
        applied: AppliedPosition,
        wait_seconds: float,
        refresh: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.applied = applied
        self.wait_seconds = wait_seconds
        self.refresh = refresh

    async def __call__(self, after: int | None, response: Response) -> Consistency:
        """How consistent the answer is; its headers are set on ``response``."""
        consistency = await wait_until_applied(self.applied, after, self.wait_seconds)
        if self.refresh is not None and after is not None and not consistency.stale:
            await self.refresh()  # only the readers waiting for a write pay for it
        response.headers.update(consistency.headers())
        return consistency


class NotInReadModel(Problem):
    """A 404 with a stable code, still carrying the consistency headers: a thing missing
    from a stale read model may only not be visible yet (``Consistency.missing``)."""

    def __init__(
        self,
        consistency: Consistency,
        what: str,
        where: str = "the read model",
        code: str = "not_found",
    ) -> None:
        super().__init__(404, consistency.missing(what, where), consistency.headers(), code)


async def fetch_columns(
    connect: Connect, query: sql.Composed, params: list[Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of ``query``; none while its table does not exist yet (the
    projector or consumer that creates it has not started)."""
    async with connect() as conn, conn.cursor(row_factory=dict_row) as cursor:
        try:
            await cursor.execute(query, params)
        except UndefinedTable:
            return [], []
        columns = [c.name for c in cursor.description or ()]
        return columns, await cursor.fetchall()


async def fetch_rows(
    connect: Connect, query: sql.Composed, params: list[Any]
) -> list[dict[str, Any]]:
    """The rows of ``query``; none while its table does not exist yet."""
    _, rows = await fetch_columns(connect, query, params)
    return rows
