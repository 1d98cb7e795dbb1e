"""The orders context's Order aggregate: what was bought, at what price, and how far it got."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict
from domain.money import Money
from domain.orders.errors import (
    DuplicateSku,
    EmptyOrder,
    InvalidQuantity,
    InvalidRefundAmount,
    InvalidRestock,
    MixedCurrencies,
    NegativePrice,
    PaymentMethodAlreadyGiven,
    RefundExceedsTotal,
    RefundIdReused,
    UnknownRefund,
)

MIN_QUANTITY = 1
MAX_QUANTITY = 99

_CHECKOUT_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shop:orders:checkout")


def order_id_for_cart(cart_id: UUID) -> UUID:
    """The one order a checked-out cart becomes (ADR 0025): the checkout can name it before
    the saga places it, and a redelivered checkout finds it already there."""
    return uuid5(_CHECKOUT_NAMESPACE, str(cart_id))


class OrderStatus(StrEnum):
    PLACED = "placed"
    STOCK_RESERVED = "stock_reserved"
    PAYMENT_AUTHORIZED = "payment_authorized"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


# The happy path, in order: each step may only follow the one before it.
LIFECYCLE = (
    OrderStatus.PLACED,
    OrderStatus.STOCK_RESERVED,
    OrderStatus.PAYMENT_AUTHORIZED,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)
CANCELLABLE = frozenset(LIFECYCLE[: LIFECYCLE.index(OrderStatus.CONFIRMED) + 1])
REFUNDABLE = frozenset(LIFECYCLE[LIFECYCLE.index(OrderStatus.CONFIRMED) :])


def can_move(current: OrderStatus, target: OrderStatus) -> bool:
    """Whether an order in ``current`` may take the step to ``target``.

    A refund is a step "to refunded" even when it is partial (the status then stays put).
    """
    if target is OrderStatus.CANCELLED:
        return current in CANCELLABLE
    if target is OrderStatus.REFUNDED:
        return current in REFUNDABLE
    if current in LIFECYCLE and target in LIFECYCLE:
        return LIFECYCLE.index(target) == LIFECYCLE.index(current) + 1
    return False


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, order_id: UUID, current: OrderStatus, target: OrderStatus) -> None:
        super().__init__(f"order {order_id} cannot go from {current} to {target}")
        self.from_status = current
        self.to_status = target


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Money  # fixed when the order is placed

    @property
    def subtotal(self) -> Money:
        return Money(self.unit_price.minor * self.quantity, self.unit_price.currency)

    def as_event(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity, "unit_price": self.unit_price}

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> OrderLine:
        return cls(data["sku"], data["quantity"], data["unit_price"])


def order_total(lines: Sequence[OrderLine]) -> Money:
    """The total of valid lines: at least one, quantities in range, one currency, SKUs once."""
    if not lines:
        raise EmptyOrder("an order needs at least one line")
    currencies = {line.unit_price.currency for line in lines}
    if len(currencies) > 1:
        raise MixedCurrencies(f"all lines must be in one currency, got {sorted(currencies)}")
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise DuplicateSku("each SKU may appear on one line only")
    for line in lines:
        if not MIN_QUANTITY <= line.quantity <= MAX_QUANTITY:
            raise InvalidQuantity(
                f"quantity of {line.sku} must be {MIN_QUANTITY}..{MAX_QUANTITY}, "
                f"not {line.quantity}"
            )
        if line.unit_price.is_negative():
            raise NegativePrice(f"unit price of {line.sku} must not be negative")
    return Money(sum(line.subtotal.minor for line in lines), currencies.pop())


class Order(Aggregate):
    class Placed(Aggregate.Created):
        """Version 2: each line carries its unit price as Money (and the total is stored).

        Version 1 stored ``unit_price_minor`` (an integer) per line, one order-level
        ``currency`` and no total; ``upcast_v1_v2`` reads those events as version 2.
        """

        class_version = 2
        customer_id: UUID
        cart_id: UUID
        lines: list[dict[str, Any]]
        total: Money

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            currency = state.pop("currency")
            state["lines"] = [
                {
                    "sku": line["sku"],
                    "quantity": line["quantity"],
                    "unit_price": Money(line["unit_price_minor"], currency),
                }
                for line in state["lines"]
            ]
            total = sum(line["unit_price"].minor * line["quantity"] for line in state["lines"])
            state["total"] = Money(total, currency)

    @classmethod
    def place(
        cls, order_id: UUID, customer_id: UUID, cart_id: UUID, lines: Sequence[OrderLine]
    ) -> Order:
        total = order_total(lines)
        return cls(
            id=order_id,
            customer_id=customer_id,
            cart_id=cart_id,
            lines=[line.as_event() for line in lines],
            total=total,
        )

    @event(Placed)
    def __init__(
        self,
        id: UUID,
        customer_id: UUID,
        cart_id: UUID,
        lines: list[dict[str, Any]],
        total: Money,
    ) -> None:
        self.customer_id = customer_id
        self.cart_id = cart_id
        self.lines = [OrderLine.from_event(line) for line in lines]
        self.total = total
        self.status = OrderStatus.PLACED
        self.payment_id: UUID | None = None
        self.cancellation_reason: str | None = None
        self.refunds: dict[UUID, Money] = {}
        self.refunded = Money(0, total.currency)
        # card brand, last four and the processor's token; the token never leaves this context
        self.payment_method: dict[str, str] | None = None
        # refund id -> {"amount": Money, "restock": {sku: units}} until paid back or rejected
        self.pending_refunds: dict[UUID, dict[str, Any]] = {}
        self.rejected_refunds: dict[UUID, str] = {}
        self.restocked: dict[str, int] = {}

    class PaymentMethodGiven(Aggregate.Event):
        """How the customer pays. The token is the processor's (never a card number) and
        stays out of the integration event (``private_fields``)."""

        private_fields: ClassVar[tuple[str, ...]] = ("payment_token",)
        card_brand: str
        last_four: str
        payment_token: str

    def give_payment_method(self, card_brand: str, last_four: str, payment_token: str) -> None:
        """Once per order, before its payment is authorized; the same method again is a no-op."""
        given = {"card_brand": card_brand, "last_four": last_four, "payment_token": payment_token}
        if self.payment_method is not None:
            if self.payment_method != given:
                raise PaymentMethodAlreadyGiven(f"order {self.id} already has a payment method")
            return
        if self.status not in (OrderStatus.PLACED, OrderStatus.STOCK_RESERVED):
            raise IllegalTransition(self.id, self.status, OrderStatus.PAYMENT_AUTHORIZED)
        self._payment_method_given(card_brand, last_four, payment_token)

    @event(PaymentMethodGiven)
    def _payment_method_given(self, card_brand: str, last_four: str, payment_token: str) -> None:
        self.payment_method = {
            "card_brand": card_brand,
            "last_four": last_four,
            "payment_token": payment_token,
        }

    class StockReserved(Aggregate.Event):
        pass

    def mark_stock_reserved(self) -> None:
        self.check_move(OrderStatus.STOCK_RESERVED)
        self._stock_reserved()

    @event(StockReserved)
    def _stock_reserved(self) -> None:
        self.status = OrderStatus.STOCK_RESERVED

    class PaymentAuthorized(Aggregate.Event):
        payment_id: UUID

    def mark_payment_authorized(self, payment_id: UUID) -> None:
        self.check_move(OrderStatus.PAYMENT_AUTHORIZED)
        self._payment_authorized(payment_id)

    @event(PaymentAuthorized)
    def _payment_authorized(self, payment_id: UUID) -> None:
        self.payment_id = payment_id
        self.status = OrderStatus.PAYMENT_AUTHORIZED

    class Confirmed(Aggregate.Event):
        pass

    def confirm(self) -> None:
        self.check_move(OrderStatus.CONFIRMED)
        self._confirmed()

    @event(Confirmed)
    def _confirmed(self) -> None:
        self.status = OrderStatus.CONFIRMED

    class Shipped(Aggregate.Event):
        pass

    def ship(self) -> None:
        self.check_move(OrderStatus.SHIPPED)
        self._shipped()

    @event(Shipped)
    def _shipped(self) -> None:
        self.status = OrderStatus.SHIPPED

    class Delivered(Aggregate.Event):
        pass

    def deliver(self) -> None:
        self.check_move(OrderStatus.DELIVERED)
        self._delivered()

    @event(Delivered)
    def _delivered(self) -> None:
        self.status = OrderStatus.DELIVERED

    class Cancelled(Aggregate.Event):
        reason: str

    def cancel(self, reason: str) -> None:
        self.check_move(OrderStatus.CANCELLED)
        self._cancelled(reason)

    @event(Cancelled)
    def _cancelled(self, reason: str) -> None:
        self.cancellation_reason = reason
        self.status = OrderStatus.CANCELLED

    class Refunded(Aggregate.Event):
        refund_id: UUID
        amount: Money

    class RefundRequested(Aggregate.Event):
        refund_id: UUID
        amount: Money
        restock: dict[str, int]

    def request_refund(
        self, refund_id: UUID, amount: Money, restock: dict[str, int] | None = None
    ) -> None:
        """Ask for part or all of the total back (the saga pays it back, then records
        ``Refunded``), optionally putting units back in stock. Pending refunds count
        towards the total; the same refund id again changes nothing."""
        restock = restock or {}
        requested = self.pending_refunds.get(refund_id)
        if requested is not None or refund_id in self.refunds:
            first = requested["amount"] if requested else self.refunds[refund_id]
            if first != amount:
                raise RefundIdReused(f"refund {refund_id} was for {first}")
            return
        self.check_move(OrderStatus.REFUNDED)
        self.check_refund_amount(amount, self.pending_minor())
        lines = {line.sku: line.quantity for line in self.lines}
        for sku, units in restock.items():
            if sku not in lines or not 0 < units <= lines[sku] - self.restocked.get(sku, 0):
                raise InvalidRestock(
                    f"cannot put {units} of {sku} back: the order has "
                    f"{lines.get(sku, 0) - self.restocked.get(sku, 0)} left to restock"
                )
        self._refund_requested(refund_id, amount, restock)

    @event(RefundRequested)
    def _refund_requested(self, refund_id: UUID, amount: Money, restock: dict[str, int]) -> None:
        self.pending_refunds[refund_id] = {"amount": amount, "restock": dict(restock)}
        for sku, units in restock.items():
            self.restocked[sku] = self.restocked.get(sku, 0) + units

    class RefundRejected(Aggregate.Event):
        refund_id: UUID
        reason: str

    def reject_refund(self, refund_id: UUID, reason: str) -> None:
        """The money could not be paid back; the request no longer counts."""
        if refund_id in self.rejected_refunds:
            return
        if refund_id not in self.pending_refunds:
            raise UnknownRefund(f"order {self.id} has no pending refund {refund_id}")
        self._refund_rejected(refund_id, reason)

    @event(RefundRejected)
    def _refund_rejected(self, refund_id: UUID, reason: str) -> None:
        pending = self.pending_refunds.pop(refund_id)
        for sku, units in pending["restock"].items():
            self.restocked[sku] -= units
        self.rejected_refunds[refund_id] = reason

    def pending_minor(self) -> int:
        return sum(p["amount"].minor for p in self.pending_refunds.values())

    def refund(self, refund_id: UUID, amount: Money) -> None:
        """Record a refund paid back (a pending request, or one made directly); the same
        refund id again changes nothing."""
        if refund_id in self.refunds:
            if self.refunds[refund_id] != amount:
                raise RefundIdReused(f"refund {refund_id} was for {self.refunds[refund_id]}")
            return
        pending = self.pending_refunds.get(refund_id)
        if pending is not None:
            if pending["amount"] != amount:
                raise RefundIdReused(f"refund {refund_id} was for {pending['amount']}")
        else:
            self.check_move(OrderStatus.REFUNDED)
            self.check_refund_amount(amount, self.pending_minor())
        self._refunded(refund_id, amount)

    def check_refund_amount(self, amount: Money, pending_minor: int) -> None:
        if amount.currency != self.total.currency or amount.minor <= 0:
            raise InvalidRefundAmount(
                f"a refund must be a positive amount in {self.total.currency}, not {amount}"
            )
        if self.refunded.minor + pending_minor + amount.minor > self.total.minor:
            raise RefundExceedsTotal(
                f"refunding {amount} would exceed the total {self.total} "
                f"({self.refunded} already refunded"
                + (f", {Money(pending_minor, amount.currency)} pending)" if pending_minor else ")")
            )

    @event(Refunded)
    def _refunded(self, refund_id: UUID, amount: Money) -> None:
        self.pending_refunds.pop(refund_id, None)
        self.refunds[refund_id] = amount
        self.refunded = Money(self.refunded.minor + amount.minor, amount.currency)
        if self.refunded == self.total:
            self.status = OrderStatus.REFUNDED

    def check_move(self, target: OrderStatus) -> None:
        if not can_move(self.status, target):
            raise IllegalTransition(self.id, self.status, target)
