"""A day of trading across five contexts in the real event store, projected into the
analytics schema batch by batch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from commands.carts.models import AddItem, CreateCart
from commands.inventory.models import AdjustStock, OrderSkus, ReservationLine, ReserveStock
from commands.models import PositiveAmount
from commands.payments.application import PaymentDeclined
from commands.payments.models import Authorize, Capture, Refund
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


def eur(amount: str) -> PositiveAmount:
    return PositiveAmount.model_validate({"amount": amount, "currency": "EUR"})


def by_visa(order_id: UUID, amount: str, payment_token: str, last_four: str) -> Authorize:
    """An authorization of ``amount`` EUR by a visa card; the sandbox gateway approves or
    declines it by its ``payment_token``."""
    return Authorize(
        order_id=order_id,
        amount=eur(amount),
        payment_token=payment_token,
        card_brand="visa",
        last_four=last_four,
    )


def a_day_of_trading(settings: Settings) -> dict[str, Any]:
    """Two products in two categories, stock moving, two carts, three orders (one delivered
    and partly refunded, one cancelled, one placed), a captured and a declined payment."""
    headphones, lamp = add_products(
        settings,
        [
            a_product("AN-HP", "Headphones", "19.99").model_copy(update={"category": "audio"}),
            a_product("AN-LAMP", "Lamp", "5.00").model_copy(update={"category": "home"}),
        ],
    )
    apps = {c: bootstrap.application(settings, c) for c in CONTEXTS}
    catalog, inventory, carts, orders, payments = (apps[c] for c in CONTEXTS)
    try:
        catalog.change_price(headphones, Money(2199, "EUR"))  # type: ignore[attr-defined]
        inventory.receive("AN-HP", 10, "r1")  # type: ignore[attr-defined]
        inventory.receive("AN-LAMP", 5, "r2")  # type: ignore[attr-defined]
        inventory.adjust(  # type: ignore[attr-defined]
            "AN-LAMP", AdjustStock(change=-1, reason="broken"), "a1"
        )

        cart = carts.create_cart(CreateCart(customer_id=ALICE), None).id  # type: ignore[attr-defined]
        carts.add_item(cart, AddItem(sku="AN-HP", quantity=2))  # type: ignore[attr-defined]
        carts.check_out(cart)  # type: ignore[attr-defined]
        abandoned = carts.create_cart(CreateCart(customer_id=BOB), None).id  # type: ignore[attr-defined]
        carts.add_item(abandoned, AddItem(sku="AN-LAMP", quantity=1))  # type: ignore[attr-defined]

        delivered = place(orders, ALICE, "19.99", "AN-HP", 2, cart).id  # type: ignore[arg-type]
        now = datetime.now(UTC)
        inventory.reserve(  # type: ignore[attr-defined]
            ReserveStock(order_id=delivered, lines=[ReservationLine(sku="AN-HP", quantity=2)]), now
        )
        approved = by_visa(delivered, "39.98", "tok_approve", "4242")
        payment = payments.authorize(approved, "p1").id  # type: ignore[attr-defined]
        payments.capture(payment, Capture(), "c1")  # type: ignore[attr-defined]
        inventory.commit(delivered, OrderSkus(skus=["AN-HP"]))  # type: ignore[attr-defined]
        deliver(orders, delivered)  # type: ignore[arg-type]
        orders.refund(delivered, Money(500, "EUR"), key="r1")  # type: ignore[attr-defined]
        payments.refund(payment, Refund(amount=eur("5.00")), "rf1")  # type: ignore[attr-defined]

        cancelled = place(orders, BOB, "5.00", "AN-LAMP", 1).id  # type: ignore[arg-type]
        inventory.reserve(  # type: ignore[attr-defined]
            ReserveStock(order_id=cancelled, lines=[ReservationLine(sku="AN-LAMP", quantity=1)]),
            now,
        )
        declined = by_visa(cancelled, "5.00", "tok_decline_insufficient_funds", "0002")
        with pytest.raises(PaymentDeclined):
            payments.authorize(declined, "p2")  # type: ignore[attr-defined]
        inventory.release(cancelled, OrderSkus(skus=["AN-LAMP"]))  # type: ignore[attr-defined]
        orders.mark_stock_reserved(cancelled)  # type: ignore[attr-defined]
        orders.cancel(cancelled, "payment declined")  # type: ignore[attr-defined]

        placed = place(orders, BOB, "5.00", "AN-LAMP", 3).id  # type: ignore[arg-type]
    finally:
        for app in apps.values():
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
