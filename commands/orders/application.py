"""The orders context's application service: thin handlers over the Order aggregate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.base import CommandResult, ShopApplication
from domain.money import Money
from domain.orders import CardOnFile, Order, OrderLine


class OrdersApplication(ShopApplication):
    name = "orders"
    context = "orders"

    def place_order(
        self,
        customer_id: UUID,
        cart_id: UUID,
        lines: Sequence[OrderLine],
        key: str | None,
        card: CardOnFile | None = None,
    ) -> CommandResult:
        """Place once per key: the order's id derives from it (a repeat answers the first).
        With a ``card`` the saga can take it all the way to confirmed."""
        order = Order.place(self.idempotent_id(key), customer_id, cart_id, lines)
        if card is not None:
            order.give_payment_method(card.card_brand, card.last_four, card.payment_token)
        return self.create(order, conflict=None)

    def place_checkout(
        self,
        order_id: UUID,
        customer_id: UUID,
        cart_id: UUID,
        lines: Sequence[OrderLine],
        cancel_reason: str | None = None,
    ) -> CommandResult:
        """The saga places a checked-out cart's order (ADR 0025); with a ``cancel_reason`` it
        is cancelled in the same save, so no one ever sees it placed and not yet cancelled.
        A second placement of the id answers the first."""
        order = Order.place(order_id, customer_id, cart_id, lines)
        if cancel_reason is not None:
            order.cancel(cancel_reason)
        try:
            return self.save_and_report(order)
        except IntegrityError:  # placed already, by a delivery that raced this one
            return self.result_at(order_id, 1)

    def give_payment_method(
        self, order_id: UUID, card: CardOnFile, expected_version: int | None = None
    ) -> CommandResult:
        return self._change(
            order_id,
            lambda o: o.give_payment_method(card.card_brand, card.last_four, card.payment_token),
            expected_version,
        )

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
        """Record a refund made elsewhere: one per key (its id derives from the key)."""
        return self.record_refund(order_id, self.refund_id(order_id, key), amount)

    def request_refund(
        self,
        order_id: UUID,
        amount: Money,
        restock: dict[str, int],
        key: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Ask for money back (the saga pays it back): one request per key."""
        refund_id = self.refund_id(order_id, key)
        return self._change(
            order_id, lambda o: o.request_refund(refund_id, amount, restock), expected_version
        )

    def record_refund(
        self,
        order_id: UUID,
        refund_id: UUID,
        amount: Money,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._change(order_id, lambda o: o.refund(refund_id, amount), expected_version)

    def reject_refund(self, order_id: UUID, refund_id: UUID, reason: str) -> CommandResult:
        return self._change(order_id, lambda o: o.reject_refund(refund_id, reason), None)

    def refund_id(self, order_id: UUID, key: str) -> UUID:
        return self.idempotent_id(f"{order_id}/refund/{key}")

    def get_order(self, order_id: UUID) -> Order:
        return self.load(Order, order_id, "order")

    def _change(
        self, order_id: UUID, change: Callable[[Order], None], expected_version: int | None
    ) -> CommandResult:
        return self.update(Order, order_id, "order", change, expected_version)
