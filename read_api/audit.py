"""The audit log for auditors: privileged actions, newest first, filtered and paged.

Reads the append-only table ``security.audit_log`` writes (``<namespace>_security``); only the
auditor role may read it (separation of duties: admins act, auditors read what they did).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from psycopg import sql

from domain.identity import Role
from read_api.dependencies import Connect, Filter, fetch_rows
from security.access import require
from security.audit import TABLE


def router(connect: Connect, schema: str) -> APIRouter:
    table = sql.Identifier(schema, TABLE)
    api = APIRouter(tags=["audit"], dependencies=[Depends(require(Role.AUDITOR))])

    @api.get("/audit-log")
    async def audit_log(
        action: Filter = None,
        target: Filter = None,
        actor: Filter = None,
        before: Annotated[int | None, Query(ge=1, description="next_before of a page")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> dict[str, Any]:
        """Who did what to which target, when, and under which correlation id."""
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        for column, value in (("action", action), ("target", target), ("actor", actor)):
            if value is not None:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if before is not None:
            conditions.append(sql.SQL("id < %s"))
            params.append(before)
        where = (
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        )
        query = sql.SQL(
            "SELECT id, at, actor, action, target, correlation_id, detail FROM {}{}"
            " ORDER BY id DESC LIMIT %s"
        ).format(table, where)
        rows = await fetch_rows(connect, query, [*params, limit + 1])
        page = rows[:limit]
        return {
            "items": [{**row, "at": row["at"].isoformat()} for row in page],
            "next_before": page[-1]["id"] if len(rows) > limit else None,
        }

    return api
