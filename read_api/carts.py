"""Cart queries over the Redis read model: a cart by id, a customer's current open cart.

Both take ``after=<position>`` (a command's position): the answer waits, for a bounded time,
until the carts projection has applied it, and says ``Shop-Stale: true`` when it has not.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel
from redis.asyncio import Redis

from projections.carts import CartView
from projections.sinks.redis_carts import CartStore
from read_api.consistency import AppliedPosition
from read_api.dependencies import After, NotInReadModel, ReadYourWrites
from security.access import CurrentUser, owned


class CartLineView(BaseModel):
    sku: str
    quantity: int


class CartResponse(BaseModel):
    id: UUID
    customer_id: UUID | None
    lines: list[CartLineView]
    status: Literal["open", "checked_out"]
    version: int


def present(cart: CartView) -> dict[str, Any]:
    return {field: cart[field] for field in ("id", "customer_id", "lines", "status", "version")}


def router(
    redis: Redis, namespace: str, applied: AppliedPosition, wait_seconds: float = 2.0
) -> APIRouter:
    store = CartStore(redis, namespace)
    api = APIRouter(tags=["carts"])

    consistent = ReadYourWrites(applied, wait_seconds)

    @api.get("/carts/{cart_id}", response_model=CartResponse)
    async def get_cart(
        cart_id: UUID, response: Response, principal: CurrentUser, after: After = None
    ) -> dict[str, Any]:
        """The cart as projected: lines, status and the aggregate version it reflects.
        Its customer's (or an admin's) only: anyone else gets the 404 of a missing cart."""
        consistency = await consistent(after, response)
        cart = await store.get(str(cart_id))
        missing = NotInReadModel(consistency, f"cart {cart_id}")
        if cart is None:
            raise missing
        owner = cart["customer_id"]
        owned(principal, None if owner is None else UUID(str(owner)), missing)
        return present(cart)

    @api.get("/customers/{customer_id}/cart", response_model=CartResponse)
    async def get_customer_cart(
        customer_id: UUID, response: Response, principal: CurrentUser, after: After = None
    ) -> dict[str, Any]:
        """The customer's current open cart (the open one changed last); 404 if none,
        and for anyone but that customer or an admin."""
        consistency = await consistent(after, response)
        missing = NotInReadModel(
            consistency, f"an open cart of customer {customer_id}", code="open_cart_not_found"
        )
        owned(principal, customer_id, missing)
        cart = await store.open_cart_of(str(customer_id))
        if cart is None:
            raise missing
        return present(cart)

    return api
