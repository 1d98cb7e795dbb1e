"""Payment history queries: the payments of an order, and of a customer, newest first.

Reads the Postgres read model that ``projections/sinks/postgres_payments.py`` keeps. Both
endpoints take ``after=<position>`` of the payments log (read-your-writes, ADR 0006).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response
from psycopg import sql

from projections.sinks.postgres_orders import ORDERS
from projections.sinks.postgres_payments import CUSTOMERS, ENTRIES, PAYMENTS
from read_api.consistency import AppliedPosition
from read_api.dependencies import After, Connect, ReadYourWrites, fetch_rows
from read_api.money import money as money_in
from security.access import CurrentUser, owned

_COLUMNS = sql.SQL(
    "p.payment_id, p.order_id, p.status, p.amount_minor, p.currency, p.captured_minor,"
    " p.refunded_minor, p.card_brand, p.last_four, p.decline_reason, p.created_at,"
    " p.updated_at, p.version"
)


def router(
    connect: Connect, schema: str, applied: AppliedPosition, wait_seconds: float = 2.0
) -> APIRouter:
    payments = sql.Identifier(schema, PAYMENTS)
    entries = sql.Identifier(schema, ENTRIES)
    customers = sql.Identifier(schema, CUSTOMERS)
    orders = sql.Identifier(schema, ORDERS)  # the order history's: who owns an order
    api = APIRouter(tags=["payment history"])
    consistent = ReadYourWrites(applied, wait_seconds)

    async def fetch(query: sql.Composed, params: list[Any]) -> list[dict[str, Any]]:
        return await fetch_rows(connect, query, params)

    async def with_entries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [row["payment_id"] for row in rows]
        found = await fetch(
            sql.SQL(
                "SELECT payment_id, version, kind, occurred_at, amount_minor, detail FROM {}"
                " WHERE payment_id = ANY(%s) ORDER BY payment_id, version"
            ).format(entries),
            [ids],
        )
        by_payment: dict[UUID, list[dict[str, Any]]] = {}
        for entry in found:
            by_payment.setdefault(entry["payment_id"], []).append(entry)
        return [_payment(row, by_payment.get(row["payment_id"], [])) for row in rows]

    async def answer(
        response: Response, after: int | None, key: str, value: UUID, query: sql.Composed
    ) -> dict[str, Any]:
        consistency = await consistent(after, response)
        rows = await fetch(query, [value])
        return {
            key: str(value),
            "items": await with_entries(rows),
            "consistency": consistency.body(),
        }

    @api.get("/orders/{order_id}/payments")
    async def order_payments(
        order_id: UUID, response: Response, principal: CurrentUser, after: After = None
    ) -> dict[str, Any]:
        """Every payment of the order with what happened to it. Its customer's (or an
        admin's) only, as the order history knows it: anyone else gets the 404 of an unknown
        order, so ids cannot be probed."""
        owners = await fetch(
            sql.SQL("SELECT customer_id FROM {} WHERE order_id = %s").format(orders),
            [order_id],
        )
        owned(
            principal,
            owners[0]["customer_id"] if owners else None,
            HTTPException(404, f"order {order_id} is not in the order history"),
        )
        query = sql.SQL(
            "SELECT {} FROM {} p WHERE p.order_id = %s ORDER BY p.created_at DESC"
        ).format(_COLUMNS, payments)
        return await answer(response, after, "order_id", order_id, query)

    @api.get("/customers/{customer_id}/payments")
    async def customer_payments(
        customer_id: UUID,
        response: Response,
        principal: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        after: After = None,
    ) -> dict[str, Any]:
        """The customer's latest payments, newest first (their own, or an admin's)."""
        owned(principal, customer_id, HTTPException(404, f"customer {customer_id} is not known"))
        query = sql.SQL(
            "SELECT {} FROM {} p JOIN {} c ON c.order_id = p.order_id"
            " WHERE c.customer_id = %s ORDER BY p.created_at DESC, p.payment_id LIMIT {}"
        ).format(_COLUMNS, payments, customers, sql.Literal(limit))
        return await answer(response, after, "customer_id", customer_id, query)

    return api


def _payment(row: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    currency = row["currency"]

    def money(minor: int | None) -> dict[str, Any] | None:
        return money_in(minor, currency)

    return {
        "id": str(row["payment_id"]),
        "order_id": str(row["order_id"]),
        "status": row["status"],
        "amount": money(row["amount_minor"]),
        "captured": money(row["captured_minor"]),
        "refunded": money(row["refunded_minor"]),
        "card": {"brand": row["card_brand"], "last_four": row["last_four"]},
        "decline_reason": row["decline_reason"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "version": row["version"],
        "history": [
            {
                "version": entry["version"],
                "kind": entry["kind"],
                "occurred_at": entry["occurred_at"].isoformat(),
                "amount": money(entry["amount_minor"]),
                "detail": entry["detail"],
            }
            for entry in entries
        ],
    }
