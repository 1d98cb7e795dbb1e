"""A shopper's checkout is where an order starts (ADR 0025): through HTTP with customer
tokens, every platform process running. The saga places the checked-out cart's order at
the catalog's prices, the customer gives a payment method, and the order is confirmed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.money import Money
from domain.orders import order_id_for_cart
from infra import bootstrap
from infra.settings import Settings
from tests.support.auth import as_customer
from tests.support.checkout import CheckoutStack, running_checkout, saga_payment, stock_item
from tests.support.platform import eventually

pytestmark = pytest.mark.integration

CARD = {"payment_token": "tok_approve", "card_brand": "visa", "last_four": "4242"}


@pytest.fixture(scope="module")
def shop(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CheckoutStack]:
    logs: Path = tmp_path_factory.mktemp("checkout-logs")
    with running_checkout(stack, logs) as checkout:
        yield checkout


class Shopper:
    """A signed-in customer using both APIs with their own token."""

    def __init__(self, shop: CheckoutStack) -> None:
        self.shop = shop
        self.id = uuid4()
        self.headers = as_customer(shop.settings, self.id)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.shop.command.post(path, json=body, headers=self.headers)

    def fill_cart(self, **lines: int) -> UUID:
        created = self.post("/carts", {"customer_id": str(self.id)})
        assert created.status_code == 201, created.text
        cart_id = UUID(created.json()["id"])
        for sku, quantity in lines.items():
            added = self.post(f"/carts/{cart_id}/items", {"sku": sku, "quantity": quantity})
            assert added.status_code == 200, added.text
        return cart_id

    def check_out(self, cart_id: UUID) -> UUID:
        response = self.post(f"/carts/{cart_id}/checkout")
        assert response.status_code == 200, response.text
        return UUID(response.json()["order_id"])

    def order(self, order_id: UUID) -> dict[str, Any] | None:
        response = self.shop.read.get(f"/orders/{order_id}", headers=self.headers)
        return response.json() if response.status_code == 200 else None

    def order_when(self, order_id: UUID, *statuses: str) -> Any:
        def there() -> dict[str, Any] | None:
            order = self.order(order_id)
            return order if order and order["status"] in statuses else None

        return eventually(there, timeout=60, what=f"order {order_id} is {statuses}")


def add_product(shop: CheckoutStack, sku: str, price: str) -> UUID:
    body = {"sku": sku, "name": f"Product {sku}", "brand": "B", "category": "misc"}
    response = shop.command.post(
        "/products", json={**body, "price": {"amount": price, "currency": "EUR"}}
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


def order_lines(settings: Settings, order_id: UUID) -> list[tuple[str, int, Money]]:
    orders = bootstrap.application(settings, "orders")
    try:
        order = orders.get_order(order_id)  # type: ignore[attr-defined]
        return [(line.sku, line.quantity, line.unit_price) for line in order.lines]
    finally:
        orders.close()


def test_a_customers_checkout_is_confirmed_at_the_catalog_prices(shop: CheckoutStack) -> None:
    mug = add_product(shop, "CO-MUG-1", "12.90")
    add_product(shop, "CO-TEA-1", "4.50")
    shop.receive("CO-MUG-1", 5)
    shop.receive("CO-TEA-1", 5)
    alice = Shopper(shop)
    cart_id = alice.fill_cart(**{"CO-MUG-1": 2, "CO-TEA-1": 1})
    forged = alice.post(
        f"/carts/{cart_id}/items",
        {"sku": "CO-MUG-1", "quantity": 1, "unit_price": {"amount": "0.01", "currency": "EUR"}},
    )
    assert forged.status_code == 422  # a client never names a price
    # The price at checkout counts, not the one when the mug went into the cart.
    repriced = shop.command.post(
        f"/products/{mug}/price", json={"price": {"amount": "13.50", "currency": "EUR"}}
    )
    assert repriced.status_code == 200, repriced.text

    order_id = alice.check_out(cart_id)

    assert order_id == order_id_for_cart(cart_id)
    waiting = alice.order_when(order_id, "stock_reserved")
    assert waiting["saga"] == {"step": "awaiting_payment_method", "reason": None}
    assert waiting["customer_id"] == str(alice.id)
    assert waiting["total"] == {"amount": "31.50", "minor": 2 * 1350 + 450, "currency": "EUR"}
    bob = Shopper(shop)
    assert bob.order(order_id) is None
    assert bob.post(f"/orders/{order_id}/payment-method", CARD).status_code == 404

    given = alice.post(f"/orders/{order_id}/payment-method", CARD)

    assert given.status_code == 200, given.text
    order = alice.order_when(order_id, "confirmed", "cancelled")
    assert order["status"] == "confirmed"
    assert order["total"] == {"amount": "31.50", "minor": 3150, "currency": "EUR"}
    assert order_lines(shop.settings, order_id) == [
        ("CO-MUG-1", 2, Money(1350, "EUR")),
        ("CO-TEA-1", 1, Money(450, "EUR")),
    ]
    assert saga_payment(shop.settings, order_id).captured == Money(3150, "EUR")
    item = stock_item(shop.settings, "CO-MUG-1")
    assert (item.available, item.committed) == (3, 2)
    mine = shop.read.get(f"/customers/{alice.id}/orders", headers=alice.headers).json()
    assert [o["id"] for o in mine["items"]] == [str(order_id)]  # one order for the cart


def test_a_cart_with_a_discontinued_product_gives_a_cancelled_order_with_the_reason(
    shop: CheckoutStack,
) -> None:
    add_product(shop, "CO-LAMP-1", "30.00")
    gone = add_product(shop, "CO-GONE-1", "8.00")
    shop.receive("CO-LAMP-1", 2)
    shop.receive("CO-GONE-1", 2)
    carol = Shopper(shop)
    cart_id = carol.fill_cart(**{"CO-LAMP-1": 1, "CO-GONE-1": 1})
    never = carol.post(f"/carts/{cart_id}/items", {"sku": "CO-NEVER-1", "quantity": 1})
    assert (never.status_code, never.json()["code"]) == (422, "unknown_sku")  # ADR 0034
    # Discontinued after it went into the cart: the saga still refuses it at checkout.
    discontinued = shop.command.post(f"/products/{gone}/discontinue", json={"reason": "recall"})
    assert discontinued.status_code == 200, discontinued.text

    order_id = carol.check_out(cart_id)

    order = carol.order_when(order_id, "cancelled", "confirmed")
    assert order["status"] == "cancelled"
    assert order["saga"] == {
        "step": "stopped",
        "reason": "product unavailable: CO-GONE-1",
    }
    assert [entry["status"] for entry in order["timeline"]] == ["placed", "cancelled"]
    assert saga_payment(shop.settings, order_id) is None
    item = stock_item(shop.settings, "CO-LAMP-1")
    assert (item.available, item.reserved) == (2, 0)  # nothing was held for it
