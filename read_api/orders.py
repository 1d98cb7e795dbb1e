"""Order history queries: a customer's orders, newest first, and one order with its timeline.

Reads the Postgres read model that ``projections/sinks/postgres_orders.py`` keeps; never
the orders event store. Both endpoints take ``after=<position>`` (read-your-writes,
ADR 0006) and say when they answer stale.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError
from psycopg import sql

from projections.sinks.postgres_orders import ORDERS, TIMELINE
from read_api.consistency import AppliedPosition
from read_api.dependencies import After, Connect, NotInReadModel, ReadYourWrites, fetch_rows
from read_api.money import money
from security.access import CurrentUser, owned

Keyset = tuple[datetime, UUID]

_ORDER_COLUMNS = sql.SQL(
    "order_id, customer_id, status, total_minor, currency, refunded_minor,"
    " placed_at, updated_at, version, saga_step, saga_reason"
)


class InvalidCursor(ValueError):
    pass


def encode_cursor(placed_at: datetime, order_id: UUID) -> str:
    raw = json.dumps([placed_at.isoformat(), str(order_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Keyset:
    try:
        placed_at, order_id = json.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
        keyset = (datetime.fromisoformat(placed_at), UUID(order_id))
    except (ValueError, TypeError, AttributeError, binascii.Error) as e:
        raise InvalidCursor("cursor is not one this API issued") from e
    if keyset[0].tzinfo is None:
        raise InvalidCursor("cursor is not one this API issued")
    return keyset


class OrderHistoryQueries:
    def __init__(self, connect: Connect, schema: str) -> None:
        self.connect = connect
        self.orders = sql.Identifier(schema, ORDERS)
        self.timeline = sql.Identifier(schema, TIMELINE)

    async def customer_orders(
        self, customer_id: UUID, limit: int, before: Keyset | None
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` orders of a customer, newest first, after the keyset ``before``."""
        where: sql.Composable = sql.SQL("customer_id = %s")
        params: list[Any] = [customer_id]
        if before is not None:
            where = sql.SQL("customer_id = %s AND (placed_at, order_id) < (%s, %s)")
            params += before
        query = sql.SQL(
            "SELECT {columns} FROM {t} WHERE {where}"
            " ORDER BY placed_at DESC, order_id DESC LIMIT %s"
        ).format(columns=_ORDER_COLUMNS, t=self.orders, where=where)
        return await self._fetch(query, [*params, limit])

    async def order(self, order_id: UUID) -> dict[str, Any] | None:
        """One order with its timeline in version order, or None if it is not here."""
        rows = await self._fetch(
            sql.SQL("SELECT {columns} FROM {t} WHERE order_id = %s").format(
                columns=_ORDER_COLUMNS, t=self.orders
            ),
            [order_id],
        )
        if not rows:
            return None
        timeline = await self._fetch(
            sql.SQL(
                "SELECT version, status, occurred_at, amount_minor, detail FROM {t}"
                " WHERE order_id = %s ORDER BY version"
            ).format(t=self.timeline),
            [order_id],
        )
        return {**rows[0], "timeline": timeline}

    async def _fetch(self, query: sql.Composed, params: list[Any]) -> list[dict[str, Any]]:
        return await fetch_rows(self.connect, query, params)  # no table yet: no history


def router(
    connect: Connect, schema: str, applied: AppliedPosition, wait_seconds: float = 2.0
) -> APIRouter:
    """The order history endpoints over the read model in ``schema`` (``<namespace>_read``).

    ``connect`` lends a connection per query (``AsyncConnectionPool.connection``);
    ``applied`` is the position up to which the order history is complete.
    """
    queries = OrderHistoryQueries(connect, schema)
    api = APIRouter(tags=["order history"])

    consistent = ReadYourWrites(applied, wait_seconds)

    @api.get("/customers/{customer_id}/orders")
    async def customer_orders(
        customer_id: UUID,
        response: Response,
        principal: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[
            str | None, Query(min_length=1, max_length=200, description="next_cursor of a page")
        ] = None,
        after: After = None,
    ) -> dict[str, Any]:
        """The customer's orders, newest first; ``next_cursor`` is null on the last page.
        Only the customer (or an admin) sees them; anyone else gets 404, whether the id
        exists or not."""
        try:
            before = decode_cursor(cursor) if cursor is not None else None
        except InvalidCursor as e:
            raise RequestValidationError(
                [{"loc": ("query", "cursor"), "msg": str(e), "type": "value_error"}]
            ) from None
        owned(principal, customer_id, HTTPException(404, f"customer {customer_id} is not known"))
        consistency = await consistent(after, response)
        rows = await queries.customer_orders(customer_id, limit + 1, before)
        page = rows[:limit]
        last = page[-1] if len(rows) > limit else None
        return {
            "customer_id": str(customer_id),
            "items": [_order(row) for row in page],
            "next_cursor": encode_cursor(last["placed_at"], last["order_id"]) if last else None,
            "consistency": consistency.body(),
        }

    @api.get("/orders/{order_id}")
    async def order(
        order_id: UUID, response: Response, principal: CurrentUser, after: After = None
    ) -> dict[str, Any]:
        """The order and its timeline (one entry per change, in version order); its
        customer's (or an admin's) only, anyone else gets the 404 of a missing order."""
        consistency = await consistent(after, response)
        found = await queries.order(order_id)
        missing = NotInReadModel(consistency, f"order {order_id}", "the order history")
        if found is None:
            raise missing
        owned(principal, found["customer_id"], missing)
        return {
            **_order(found),
            "timeline": [_entry(entry, found["currency"]) for entry in found["timeline"]],
            "consistency": consistency.body(),
        }

    return api


def _order(row: dict[str, Any]) -> dict[str, Any]:
    currency = row["currency"]
    return {
        "id": str(row["order_id"]),
        "customer_id": str(row["customer_id"]),
        "status": row["status"],
        "total": money(row["total_minor"], currency),
        "refunded": money(row["refunded_minor"], currency),
        "placed_at": row["placed_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "version": row["version"],
        # where the order saga stands, and why it stopped (a cancellation's reason)
        "saga": {"step": row["saga_step"], "reason": row["saga_reason"]},
    }


def _entry(row: dict[str, Any], currency: str) -> dict[str, Any]:
    amount = row["amount_minor"]
    return {
        "version": row["version"],
        "status": row["status"],
        "occurred_at": row["occurred_at"].isoformat(),
        "amount": money(amount, currency),
        "detail": row["detail"],
    }
