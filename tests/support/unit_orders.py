"""The order the unit tests place in memory, and that order as version 1 of the orders
context stored it (for the tests that read old events)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from commands.orders.application import OrdersApplication
from domain.money import Money
from domain.orders import Order, OrderLine

CUSTOMER = UUID("00000000-0000-4000-8000-00000000c001")
CART = UUID("00000000-0000-4000-8000-00000000ca01")
LINES = [
    OrderLine("HP-1000", 2, Money(1999, "EUR")),
    OrderLine("LMP-0001", 1, Money(3490, "EUR")),
]
TOTAL = 7488  # of LINES, in EUR cents


def a_version_1_placed_event(app: OrdersApplication, order_id: UUID) -> StoredEvent:
    """LINES placed by CUSTOMER from CART, as version 1 stored it: integer minor units per
    line and one currency for the whole order."""
    v1_state = {
        "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "originator_topic": get_topic(Order),
        "customer_id": CUSTOMER,
        "cart_id": CART,
        "lines": [
            {"sku": "HP-1000", "quantity": 2, "unit_price_minor": 1999},
            {"sku": "LMP-0001", "quantity": 1, "unit_price_minor": 3490},
        ],
        "currency": "EUR",
    }
    return StoredEvent(
        originator_id=order_id,
        originator_version=1,
        topic=get_topic(Order.Placed),
        state=app.mapper.transcoder.encode(v1_state),
    )
