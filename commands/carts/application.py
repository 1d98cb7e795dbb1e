"""The carts context's application service: thin handlers over the Cart aggregate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from commands.base import CommandResult, ShopApplication
from domain.carts import Cart, CartPurchase, ProductNotOnSale, UnknownSku
from domain.orders import order_id_for_cart


@dataclass(frozen=True, slots=True)
class CheckoutResult(CommandResult):
    """The checked-out cart's version, what the order gets (customer and lines) and the id
    of the order the saga places for it (ADR 0025), to follow on the read API."""

    customer_id: UUID
    order_id: UUID
    lines: list[dict[str, Any]] = field(default_factory=list)


class Catalog(Protocol):
    """What a cart asks the catalog (ADR 0034): whether a SKU's product is on sale now
    (None: no product has it). The composition root plugs in the catalog application."""

    def on_sale(self, sku: str) -> bool | None: ...


class CartsApplication(ShopApplication):
    name = "carts"
    context = "carts"
    # Set by the composition root; None (routes over in-memory stores) checks nothing.
    catalog: Catalog | None = None

    def check_sku(self, sku: str) -> None:
        """A SKU a cart may take: its product exists (422 ``unknown_sku``) and is on sale
        (409 ``product_discontinued``)."""
        if self.catalog is None:
            return
        on_sale = self.catalog.on_sale(sku)
        if on_sale is None:
            raise UnknownSku(f"no product has the SKU {sku}")
        if not on_sale:
            raise ProductNotOnSale(f"the product {sku} is discontinued")

    def create_cart(self, customer_id: UUID, key: str | None) -> CommandResult:
        """A keyed create makes the same cart id every time, so a repeat is no second cart."""
        cart = Cart(customer_id=customer_id, id=self.idempotent_id(key))
        return self.create(cart, conflict=None)

    def add_item(
        self, cart_id: UUID, sku: str, quantity: int, expected_version: int | None = None
    ) -> CommandResult:
        """Add units of a SKU on sale (to its line if the cart has one)."""
        self.check_sku(sku)
        return self.update(
            Cart, cart_id, "cart", lambda cart: cart.add_item(sku, quantity), expected_version
        )

    def change_quantity(
        self, cart_id: UUID, sku: str, quantity: int, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            Cart,
            cart_id,
            "cart",
            lambda cart: cart.change_quantity(sku, quantity),
            expected_version,
        )

    def remove_item(
        self, cart_id: UUID, sku: str, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            Cart, cart_id, "cart", lambda cart: cart.remove_item(sku), expected_version
        )

    def clear(self, cart_id: UUID, expected_version: int | None = None) -> CommandResult:
        return self.update(Cart, cart_id, "cart", lambda cart: cart.clear(), expected_version)

    def check_out(self, cart_id: UUID, expected_version: int | None = None) -> CheckoutResult:
        checkouts: list[CartPurchase] = []
        result = self.update(
            Cart, cart_id, "cart", lambda cart: checkouts.append(cart.check_out()), expected_version
        )
        checkout = checkouts[-1]
        return CheckoutResult(
            id=result.id,
            version=result.version,
            position=result.position,
            customer_id=checkout.customer_id,
            order_id=order_id_for_cart(checkout.cart_id),
            lines=[{"sku": line.sku, "quantity": line.quantity} for line in checkout.lines],
        )

    def get_cart(self, cart_id: UUID) -> Cart:
        return self.load(Cart, cart_id, "cart")
