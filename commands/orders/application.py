"""The orders context's application service: thin handlers over the Order aggregate."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from commands.base import CommandResult, ShopApplication
from commands.orders.models import PlaceOrder
from domain.money import Money
from domain.orders import Order


class OrdersApplication(ShopApplication):
    name = "orders"
    context = "orders"

    def place_order(self, command: PlaceOrder, key: str | None) -> CommandResult:
        """Place once per key: the order's id derives from it (a repeat answers the first)."""
        order = Order.place(
            self.idempotent_id(key),
            command.customer_id,
            command.cart_id,
            [line.to_line() for line in command.lines],
        )
        return self.create(order, conflict=None)

    def mark_stock_reserved(
        self, order_id: UUID, expected_version: int | None = None
    ) -> CommandResult:
        return self._change(order_id, Order.mark_stock_reserved, expected_version)

    def mark_payment_authorized(
        self, order_id: UUID, payment_id: UUID, expected_version: int | None = None
    ) -> CommandResult:
        return self._change(
            order_id, lambda o: o.mark_payment_authorized(payment_id), expected_version
        )

    def confirm(self, order_id: UUID, expected_version: int | None = None) -> CommandResult:
        return self._change(order_id, Order.confirm, expected_version)

    def ship(self, order_id: UUID, expected_version: int | None = None) -> CommandResult:
        return self._change(order_id, Order.ship, expected_version)

    def deliver(self, order_id: UUID, expected_version: int | None = None) -> CommandResult:
        return self._change(order_id, Order.deliver, expected_version)

    def cancel(
        self, order_id: UUID, reason: str, expected_version: int | None = None
    ) -> CommandResult:
        return self._change(order_id, lambda o: o.cancel(reason), expected_version)

    def refund(
        self, order_id: UUID, amount: Money, key: str, expected_version: int | None = None
    ) -> CommandResult:
        """One refund per key: its id derives from the key, so a repeat changes nothing."""
        refund_id = self.idempotent_id(f"{order_id}/refund/{key}")
        return self._change(order_id, lambda o: o.refund(refund_id, amount), expected_version)

    def get_order(self, order_id: UUID) -> Order:
        return self.load(Order, order_id, "order")

    def _change(
        self, order_id: UUID, change: Callable[[Order], None], expected_version: int | None
    ) -> CommandResult:
        return self.update(Order, order_id, "order", change, expected_version)
