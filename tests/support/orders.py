"""Placing and moving orders through the orders application, as the command API does."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

from commands.base import CommandResult
from commands.orders.application import OrdersApplication
from commands.orders.models import PlaceOrder


def place(
    orders: OrdersApplication,
    customer: UUID,
    amount: str = "19.99",
    sku: str = "HP-1000",
    quantity: int = 2,
    cart: UUID | None = None,
) -> CommandResult:
    command = {
        "customer_id": str(customer),
        "cart_id": str(cart or uuid4()),
        "lines": [
            {"sku": sku, "quantity": quantity, "unit_price": {"amount": amount, "currency": "EUR"}}
        ],
    }
    return orders.place_order(PlaceOrder.model_validate_json(json.dumps(command)), None)


def deliver(orders: OrdersApplication, order_id: UUID) -> CommandResult:
    orders.mark_stock_reserved(order_id)
    orders.mark_payment_authorized(order_id, uuid4())
    orders.confirm(order_id)
    orders.ship(order_id)
    return orders.deliver(order_id)
