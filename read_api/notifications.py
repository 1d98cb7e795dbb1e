"""A customer's notification history: which e-mails were sent (or skipped, or failed), when.

Reads the table the notification consumer keeps (``notifications/history.py``); it holds no
address or body, only what was mailed about which event and how it went.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from psycopg import sql

from notifications.history import TABLE
from read_api.dependencies import Connect, fetch_rows
from security.access import CurrentUser, owned


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


def router(connect: Connect, schema: str) -> APIRouter:
    table = sql.Identifier(schema, TABLE)
    api = APIRouter(tags=["notifications"])

    @api.get("/customers/{customer_id}/notifications")
    async def customer_notifications(
        customer_id: UUID,
        principal: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        status: Status | None = None,
    ) -> dict[str, Any]:
        """The customer's e-mails, newest event first (the customer's own, or an admin)."""
        owned(principal, customer_id, HTTPException(404, f"customer {customer_id} is not known"))
        where: sql.Composable = sql.SQL("customer_id = %s")
        params: list[Any] = [customer_id]
        if status is not None:
            where = sql.SQL("customer_id = %s AND status = %s")
            params.append(status.value)
        query = sql.SQL(
            "SELECT event_id, event_type, kind, aggregate_id, status, detail, subject,"
            " message_id, attempts, occurred_at, sent_at, updated_at FROM {t} WHERE {where}"
            " ORDER BY occurred_at DESC, event_id DESC LIMIT %s"
        ).format(t=table, where=where)
        # No table while the consumer has not started yet: nothing sent so far.
        rows = await fetch_rows(connect, query, [*params, limit])
        return {"customer_id": str(customer_id), "items": [_item(row) for row in rows]}

    return api


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "kind": row["kind"],
        "about": row["aggregate_id"],
        "status": row["status"],
        "detail": row["detail"],
        "subject": row["subject"],
        "message_id": row["message_id"],
        "attempts": row["attempts"],
        "occurred_at": row["occurred_at"].isoformat(),
        "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
        "updated_at": row["updated_at"].isoformat(),
    }
