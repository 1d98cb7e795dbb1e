"""Placing and moving orders through the orders application, as the command API does."""

from __future__ import annotations

from uuid import UUID, uuid4

from commands.base import CommandResult
from commands.orders.application import OrdersApplication
from domain.money import Money
from domain.orders import OrderLine


def place(
    orders: OrdersApplication,
    customer: UUID,
    amount: str = "19.99",
    sku: str = "HP-1000",
    quantity: int = 2,
    cart: UUID | None = None,
) -> CommandResult:
    line = OrderLine(sku, quantity, Money.of(amount, "EUR"))
    return orders.place_order(customer, cart or uuid4(), [line], None)


def deliver(orders: OrdersApplication, order_id: UUID) -> CommandResult:
    orders.mark_stock_reserved(order_id)
    orders.mark_payment_authorized(order_id, uuid4())
    orders.confirm(order_id)
    orders.ship(order_id)
    return orders.deliver(order_id)
