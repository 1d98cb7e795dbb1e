"""What the order saga knows of an order: read from the aggregates it drives, never stored.

``FactsReader.facts(order_id)`` folds the order, its stock items and the saga's payment into
``Facts`` for ``plan.decide``. Whether an effect of the saga has happened is recognised by
its id, which the context that made it names (``payments.refund_id``,
``inventory.receipt_id``) from the saga's key for the step (``saga_key``): the saga never
recomputes another context's ids (ADR 0037).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from commands.catalog.application import CatalogApplication
from commands.inventory.application import InventoryApplication
from commands.orders.application import OrdersApplication
from commands.payments.application import PaymentsApplication
from commands.saga.deadlines import PAYMENT, SagaDeadlines
from domain.errors import NotFound
from domain.inventory import StockItem
from domain.money import Money
from domain.orders import Order, OrderStatus
from domain.payments import Payment, PaymentStatus


class Stock(StrEnum):
    NONE = "none"  # nothing held for the order on some line
    RESERVED = "reserved"  # every line held
    COMMITTED = "committed"  # every line taken out of stock


@dataclass(frozen=True, slots=True)
class PendingRefund:
    refund_id: UUID
    amount: Money
    restock: dict[str, int]
    paid_back: bool = False
    restocked: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    order_id: UUID
    status: OrderStatus
    version: int
    has_payment_method: bool
    stock: Stock
    payment: PaymentStatus | None = None  # the saga's payment for the order, if made
    decline_reason: str | None = None
    captured: Money | None = None
    refunded: Money | None = None  # of the payment
    pending_refunds: tuple[PendingRefund, ...] = ()
    payment_deadline_passed: bool = False
    cancel_restocked: bool = True  # committed units put back after a late cancellation


def saga_key(order_id: UUID, step: str) -> str:
    """The idempotency key of everything the saga asks for: the order and the step."""
    return f"saga/{order_id}/{step}"


# The steps, in the saga's keys, whose effects it looks for: the restock of a cancelled order
# and, per requested refund, its restock and its pay-back (a restock: one receipt per SKU).
CANCEL_RESTOCK = "cancel-restock"


def refund_restock(refund_id: UUID) -> str:
    return f"restock/{refund_id}"


def refund_pay_back(refund_id: UUID) -> str:
    return f"refund/{refund_id}"


@dataclass(frozen=True, slots=True)
class SagaApplications:
    """The applications the saga drives (it places orders at the catalog's prices)."""

    orders: OrdersApplication
    inventory: InventoryApplication
    payments: PaymentsApplication
    catalog: CatalogApplication

    def close(self) -> None:
        for application in (self.orders, self.inventory, self.payments, self.catalog):
            application.close()


class FactsReader:
    def __init__(
        self, apps: SagaApplications, deadlines: SagaDeadlines, clock: Callable[[], datetime]
    ) -> None:
        self.apps = apps
        self.deadlines = deadlines
        self.clock = clock

    def facts(self, order_id: UUID) -> Facts | None:
        """What is true of the order now; None if there is no such order."""
        try:
            order = self.apps.orders.get_order(order_id)
        except NotFound:
            return None
        payment = self.payment(order_id)
        stock, items = self._stock(order)
        waiting = order.status is OrderStatus.STOCK_RESERVED and order.payment_method is None
        return Facts(
            order_id=order_id,
            status=order.status,
            version=order.version,
            has_payment_method=order.payment_method is not None,
            stock=stock,
            payment=payment.status if payment else None,
            decline_reason=payment.decline_reason if payment else None,
            captured=payment.captured if payment else None,
            refunded=payment.refunded if payment else None,
            pending_refunds=tuple(
                PendingRefund(
                    refund_id,
                    pending["amount"],
                    dict(pending["restock"]),
                    paid_back=self.paid_back(payment, refund_id),
                    restocked=self.received(
                        items, order_id, refund_restock(refund_id), pending["restock"]
                    ),
                )
                for refund_id, pending in order.pending_refunds.items()
            ),
            payment_deadline_passed=waiting
            and self.deadlines.passed(order_id, PAYMENT, self.clock()),
            cancel_restocked=order.status is not OrderStatus.CANCELLED
            or stock is not Stock.COMMITTED
            or self.received(items, order_id, CANCEL_RESTOCK, lines_of(order)),
        )

    def payment_id(self, order_id: UUID) -> UUID:
        """The payment the saga's authorization for the order creates."""
        return self.apps.payments.payment_id(saga_key(order_id, "authorize"))

    def payment(self, order_id: UUID) -> Payment | None:
        payment_id = self.payment_id(order_id)
        if payment_id not in self.apps.payments.repository:
            return None
        return self.apps.payments.get_payment(payment_id)

    def _stock(self, order: Order) -> tuple[Stock, dict[str, StockItem]]:
        items: dict[str, StockItem] = {}
        states = set()
        for line in order.lines:
            try:
                item = self.apps.inventory.get_stock_item(line.sku)
            except NotFound:
                states.add(Stock.NONE)
                continue
            items[line.sku] = item
            if str(order.id) in item.commitments:
                states.add(Stock.COMMITTED)
            elif item.reservation_for(order.id) == line.quantity:
                states.add(Stock.RESERVED)
            else:
                states.add(Stock.NONE)
        return (states.pop() if len(states) == 1 else Stock.NONE), items

    def paid_back(self, payment: Payment | None, refund_id: UUID) -> bool:
        """Whether the saga's pay-back of this order refund is on the payment."""
        if payment is None:
            return False
        key = saga_key(payment.order_id, refund_pay_back(refund_id))
        return payment.already_did(self.apps.payments.refund_id(payment.id, key))

    def received(
        self, items: dict[str, StockItem], order_id: UUID, step: str, units: dict[str, int]
    ) -> bool:
        """Whether every restock receipt of this step is on its stock item."""
        for sku in units:
            item = items.get(sku)
            receipt = self.apps.inventory.receipt_id(restock_key(order_id, step, sku))
            if item is None or receipt not in item.effects:
                return False
        return True


def restock_key(order_id: UUID, step: str, sku: str) -> str:
    """The key of one SKU's receipt in a restock step."""
    return saga_key(order_id, f"{step}/{sku}")


def lines_of(order: Order) -> dict[str, int]:
    return {line.sku: line.quantity for line in order.lines}
