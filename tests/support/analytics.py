"""A day of trading across five contexts in the real event store, projected into the
analytics schema batch by batch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import pytest

from commands.base import ShopApplication
from commands.carts.application import CartsApplication
from commands.catalog.application import CatalogApplication
from commands.inventory.application import InventoryApplication
from commands.orders.application import OrdersApplication
from commands.payments.application import PaymentDeclined, PaymentsApplication
from contract.envelope import Envelope
from domain.money import Money
from infra import bootstrap
from infra.settings import Settings
from projections.analytics import CONTEXTS
from projections.sinks.postgres_analytics import AnalyticsProjector
from streams.relay import envelopes
from tests.support.catalog import a_product, add_products
from tests.support.orders import deliver, place
from tests.support.projectors import apply_batches

ALICE = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9a01")
BOB = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9b02")
App = TypeVar("App", bound=ShopApplication)


def by_visa(
    payments: PaymentsApplication,
    order_id: UUID,
    amount: str,
    payment_token: str,
    last_four: str,
    key: str,
) -> UUID:
    """Authorize ``amount`` EUR by a visa card; the sandbox gateway approves or declines it
    by its ``payment_token``."""
    return payments.authorize(
        order_id,
        Money.of(amount, "EUR"),
        payment_token=payment_token,
        card_brand="visa",
        last_four=last_four,
        key=key,
    ).id


def _opened(settings: Settings, context: str, kind: type[App]) -> App:
    app = bootstrap.application(settings, context)
    assert isinstance(app, kind)
    return app


def a_day_of_trading(settings: Settings) -> dict[str, Any]:
    """Two products in two categories, stock moving, two carts, three orders (one delivered
    and partly refunded, one cancelled, one placed), a captured and a declined payment."""
    headphones, lamp = add_products(
        settings,
        [
            a_product("AN-HP", "Headphones", "19.99", category="audio"),
            a_product("AN-LAMP", "Lamp", "5.00", category="home"),
        ],
    )
    catalog = _opened(settings, "catalog", CatalogApplication)
    inventory = _opened(settings, "inventory", InventoryApplication)
    carts = _opened(settings, "carts", CartsApplication)
    orders = _opened(settings, "orders", OrdersApplication)
    payments = _opened(settings, "payments", PaymentsApplication)
    apps = (catalog, inventory, carts, orders, payments)
    try:
        catalog.change_price(headphones, Money(2199, "EUR"))
        inventory.receive("AN-HP", 10, "r1")
        inventory.receive("AN-LAMP", 5, "r2")
        inventory.adjust("AN-LAMP", -1, "broken", "a1")

        cart = carts.create_cart(ALICE, None).id
        carts.add_item(cart, "AN-HP", 2)
        carts.check_out(cart)
        abandoned = carts.create_cart(BOB, None).id
        carts.add_item(abandoned, "AN-LAMP", 1)

        delivered = place(orders, ALICE, "19.99", "AN-HP", 2, cart).id
        now = datetime.now(UTC)
        inventory.reserve(delivered, {"AN-HP": 2}, now)
        payment = by_visa(payments, delivered, "39.98", "tok_approve", "4242", "p1")
        payments.capture(payment, None, "c1")
        inventory.commit(delivered, ["AN-HP"])
        deliver(orders, delivered)
        orders.refund(delivered, Money(500, "EUR"), key="r1")
        payments.refund(payment, Money(500, "EUR"), "rf1")

        cancelled = place(orders, BOB, "5.00", "AN-LAMP", 1).id
        inventory.reserve(cancelled, {"AN-LAMP": 1}, now)
        with pytest.raises(PaymentDeclined):
            by_visa(payments, cancelled, "5.00", "tok_decline_insufficient_funds", "0002", "p2")
        inventory.release(cancelled, ["AN-LAMP"])
        orders.mark_stock_reserved(cancelled)
        orders.cancel(cancelled, "payment declined")

        placed = place(orders, BOB, "5.00", "AN-LAMP", 3).id
    finally:
        for app in apps:
            app.close()
    return {
        "headphones": headphones,
        "lamp": lamp,
        "delivered": delivered,
        "cancelled": cancelled,
        "placed": placed,
        "payment": payment,
    }


def logs(settings: Settings) -> dict[str, list[Envelope]]:
    result = {}
    for context in CONTEXTS:
        app = bootstrap.application(settings, context)
        try:
            result[context] = envelopes(app, app.recorder.select_notifications(1, 100_000))
        finally:
            app.close()
    return result


def project(settings: Settings, *batches: list[Envelope]) -> None:
    """The analytics projector over ``batches`` in turn, as the worker runs it."""
    projector = AnalyticsProjector(settings.database_url, settings.schema_for("analytics"))
    apply_batches(projector, *batches)
