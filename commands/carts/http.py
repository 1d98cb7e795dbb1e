"""Cart command endpoints.

A checked-out cart accepts no changes: 409 ``cart_checked_out`` (a ``Conflict``, mapped by
``infra.http`` like every other domain error). Every change takes ``If-Match`` (409
``version_conflict`` when stale); a line the cart does not have is 404.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, status

from commands.base import CommandResult
from commands.carts.application import CartsApplication, CheckoutResult
from commands.carts.models import AddItem, ChangeQuantity, CreateCart
from commands.http.command import Keyed, Versioned
from commands.models import SKU_PATTERN
from domain.errors import NotFound
from security.access import CurrentUser, Forbidden, Principal, owned

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="the stock keeping unit")]


def router(carts: CartsApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/carts", tags=["carts"])

    def mine(cart_id: UUID, principal: Principal) -> None:
        """A cart of someone else's is as missing as a cart that does not exist."""
        customer_id = carts.get_cart(cart_id).customer_id
        owned(principal, customer_id, NotFound(f"cart {cart_id} does not exist"))

    @routes.post("", status_code=status.HTTP_201_CREATED, response_model=CommandResult)
    def create_cart(command: CreateCart, principal: CurrentUser, call: Keyed) -> dict[str, Any]:
        """Open a cart for a customer (a customer: for themselves only, else 403).
        The same Idempotency-Key again is the same cart."""
        if not principal.is_admin and command.customer_id != principal.user_id:
            raise Forbidden("a customer opens carts for themselves only")
        result = call.once(
            carts,
            "create",
            command,
            lambda: carts.create_cart(command.customer_id, call.idempotency_key),
        )
        call.locate(f"{read_api_url}/carts/{result['id']}")
        return result

    @routes.post("/{cart_id}/items")
    def add_item(
        cart_id: UUID, principal: CurrentUser, command: AddItem, call: Versioned
    ) -> CommandResult:
        """Add units of a SKU (to its line if there is one; at most 99 per line)."""
        mine(cart_id, principal)
        return call.run(
            lambda: carts.add_item(cart_id, command.sku, command.quantity, call.expected_version)
        )

    @routes.put("/{cart_id}/items/{sku}")
    def change_quantity(
        cart_id: UUID,
        principal: CurrentUser,
        sku: SkuPath,
        command: ChangeQuantity,
        call: Versioned,
    ) -> CommandResult:
        """Set the quantity of a line the cart has (404 if it has none for the SKU)."""
        mine(cart_id, principal)
        return call.run(
            lambda: carts.change_quantity(cart_id, sku, command.quantity, call.expected_version)
        )

    @routes.delete("/{cart_id}/items/{sku}")
    def remove_item(
        cart_id: UUID, principal: CurrentUser, sku: SkuPath, call: Versioned
    ) -> CommandResult:
        mine(cart_id, principal)
        return call.run(lambda: carts.remove_item(cart_id, sku, call.expected_version))

    @routes.post("/{cart_id}/clear")
    def clear(cart_id: UUID, principal: CurrentUser, call: Versioned) -> CommandResult:
        mine(cart_id, principal)
        return call.run(lambda: carts.clear(cart_id, call.expected_version))

    @routes.post("/{cart_id}/checkout")
    def check_out(cart_id: UUID, principal: CurrentUser, call: Versioned) -> CheckoutResult:
        """Check the cart out. The saga then places its order at the catalog's prices and
        takes it through the checkout; the answer names that order (``order_id``: follow it
        on the read API, give it a payment method with ``POST /orders/{id}/payment-method``).
        An empty cart is 422 ``cart_empty``; a second checkout is 409 ``cart_checked_out``."""
        mine(cart_id, principal)
        return call.run(lambda: carts.check_out(cart_id, call.expected_version))

    return routes
