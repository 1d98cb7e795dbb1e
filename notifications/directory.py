"""Recipients and orders looked up at send time, from the contexts that own them.

The envelope carries ids only (no personal data on the bus), so the address comes from the
identity context when the e-mail is sent: an address changed or erased since the event is
honoured. The order is read at the event's version, so a mail says what was true then.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.identity.application import IdentityApplication
from commands.orders.application import OrdersApplication
from domain.errors import NotFound
from domain.orders.order import Order
from notifications.messages import OrderFacts, OrderLine, Recipient


class Directory(Protocol):
    def recipient(self, customer_id: UUID) -> Recipient | None:
        """Where to mail the customer; None if unknown, erased or without an address."""

    def order(self, order_id: UUID, version: int) -> OrderFacts | None:
        """The order at ``version``; None if the orders context does not know it."""

    def close(self) -> None: ...


class EventStoreDirectory:
    """The directory over the identity and orders applications (blocking: call in a thread)."""

    def __init__(self, identity: IdentityApplication, orders: OrdersApplication) -> None:
        self.identity = identity
        self.orders = orders

    def recipient(self, customer_id: UUID) -> Recipient | None:
        try:
            user = self.identity.get_user(customer_id)
        except NotFound:
            return None
        if user.erased or not user.email:  # erasure shreds the address for good
            return None
        return Recipient(user.email, user.display_name, user.preferences.language.value)

    def order(self, order_id: UUID, version: int) -> OrderFacts | None:
        try:
            order: object = self.orders.repository.get(order_id, version=version)
        except AggregateNotFoundError:
            return None
        if not isinstance(order, Order):
            return None
        return OrderFacts(
            customer_id=order.customer_id,
            lines=tuple(OrderLine(li.sku, li.quantity, li.unit_price) for li in order.lines),
            total=order.total,
            refunded=order.refunded,
        )

    def close(self) -> None:
        self.identity.close()
        self.orders.close()
