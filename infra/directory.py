"""The notifier's directory over the identity and orders applications (its port:
``notifications.directory.Directory``): the notification side reads no event store itself."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.identity.application import IdentityApplication
from commands.orders.application import OrdersApplication
from domain.errors import NotFound
from domain.orders.order import Order
from notifications.messages import OrderFacts, OrderLine, Recipient


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
