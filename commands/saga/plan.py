"""What the order saga does next: a pure function of what is true now (ADR 0010).

The saga keeps no state of its own beyond timers: ``Facts`` are read from the aggregates
it drives (the order, the stock items, the payment it made), and ``decide`` names the one
step that moves the order on, or None when there is nothing to do until something
happens. Every step is idempotent where it lands (deterministic ids, state checks), so
deciding again from the same facts after a crash or a redelivery repeats nothing.
``compensate`` turns a refusal (out of stock, a declined card, a processor that keeps
not answering) into the step that stops the order, and the cancelled order is then
unwound by ``decide`` like any other state: stock released, payment voided or refunded.
``place`` turns a checked-out cart into the order the saga places for it (ADR 0025).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from domain.money import Money
from domain.orders import OrderLine, OrderStatus, order_id_for_cart
from domain.payments import PaymentStatus


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


@dataclass(frozen=True, slots=True)
class Step:
    kind: str
    reason: str | None = None  # for a cancellation or a rejected refund
    expected_version: int | None = None  # the order's, when the step races the customer
    refund: PendingRefund | None = None
    amount: Money | None = None


RESERVE_STOCK = "reserve_stock"
MARK_STOCK_RESERVED = "mark_stock_reserved"
AWAIT_PAYMENT_METHOD = "await_payment_method"
AUTHORIZE_PAYMENT = "authorize_payment"
MARK_PAYMENT_AUTHORIZED = "mark_payment_authorized"
CAPTURE_PAYMENT = "capture_payment"
COMMIT_STOCK = "commit_stock"
CONFIRM = "confirm"
CANCEL = "cancel"
RELEASE_STOCK = "release_stock"
VOID_PAYMENT = "void_payment"
REFUND_PAYMENT = "refund_payment"  # what a cancelled order had captured
RESTOCK_CANCELLED = "restock_cancelled"
PAY_BACK_REFUND = "pay_back_refund"
RESTOCK_REFUND = "restock_refund"
RECORD_REFUND = "record_refund"
REJECT_REFUND = "reject_refund"

# Waiting is a step too: it sets the timer, and then nothing happens until an event.
WAITING = frozenset({AWAIT_PAYMENT_METHOD})

# Why an order stopped, as the customer and the read model see it.
OUT_OF_STOCK = "out of stock"
PAYMENT_DECLINED = "payment declined"
GATEWAY_UNAVAILABLE = "payment gateway did not answer"
RESERVATION_EXPIRED = "reservation expired"
CAPTURE_FAILED = "payment capture failed"
NO_PAYMENT = "no payment made by the saga"
PRODUCT_UNAVAILABLE = "product unavailable"  # no such product, or discontinued
OTHER_CURRENCY = "priced in another currency"


@dataclass(frozen=True, slots=True)
class Failure:
    """A refusal the saga cannot retry its way out of."""

    kind: str  # out_of_stock | declined | unavailable | no_reservation
    detail: str = ""
    skus: tuple[str, ...] = field(default_factory=tuple)


def decide(facts: Facts) -> Step | None:
    """The next step for the order, or None when there is nothing to do for now."""
    match facts.status:
        case OrderStatus.PLACED:
            if facts.stock is Stock.RESERVED:
                return Step(MARK_STOCK_RESERVED)
            return Step(RESERVE_STOCK)
        case OrderStatus.STOCK_RESERVED:
            return _pay(facts)
        case OrderStatus.PAYMENT_AUTHORIZED:
            return _complete(facts)
        case OrderStatus.CANCELLED:
            return _unwind(facts)
        case _:  # confirmed and later: only refunds remain
            return _refund(facts)


def compensate(step: Step, failure: Failure, facts: Facts) -> Step:
    """The step that stops the order after ``step`` was refused for good."""
    match failure.kind:
        case "out_of_stock":
            reason = f"{OUT_OF_STOCK}: {', '.join(failure.skus)}"
        case "declined" if step.kind == AUTHORIZE_PAYMENT:
            reason = f"{PAYMENT_DECLINED}: {failure.detail}"
        case "declined" if step.kind == PAY_BACK_REFUND:
            assert step.refund is not None
            return Step(REJECT_REFUND, reason=failure.detail, refund=step.refund)
        case "unavailable" if step.kind == AUTHORIZE_PAYMENT:
            reason = GATEWAY_UNAVAILABLE
        case "no_reservation":
            reason = RESERVATION_EXPIRED
        case _:
            reason = f"{CAPTURE_FAILED}: {failure.detail or failure.kind}"
    # Pinned to the version the decision saw: if the order moved meanwhile, decide again.
    return Step(CANCEL, reason=reason, expected_version=facts.version)


def _pay(facts: Facts) -> Step | None:
    if facts.stock is not Stock.RESERVED:  # released or expired behind the saga's back
        return Step(CANCEL, reason=RESERVATION_EXPIRED, expected_version=facts.version)
    if facts.payment is PaymentStatus.AUTHORIZED:
        return Step(MARK_PAYMENT_AUTHORIZED)
    if facts.payment is PaymentStatus.DECLINED:
        reason = f"{PAYMENT_DECLINED}: {facts.decline_reason or 'declined'}"
        return Step(CANCEL, reason=reason, expected_version=facts.version)
    if facts.payment is not None:  # voided or settled by hand: this payment is gone
        return Step(CANCEL, reason=f"payment {facts.payment}", expected_version=facts.version)
    if facts.has_payment_method:
        return Step(AUTHORIZE_PAYMENT)
    if facts.payment_deadline_passed:
        return Step(CANCEL, reason=RESERVATION_EXPIRED, expected_version=facts.version)
    return Step(AWAIT_PAYMENT_METHOD)


def _complete(facts: Facts) -> Step | None:
    """Capture at confirmation (ADR 0010): capture, take the units out of stock, confirm."""
    if facts.payment is PaymentStatus.AUTHORIZED:
        if facts.stock is not Stock.RESERVED:
            return Step(CANCEL, reason=RESERVATION_EXPIRED, expected_version=facts.version)
        return Step(CAPTURE_PAYMENT)
    if facts.payment is PaymentStatus.CAPTURED:
        if facts.stock is Stock.RESERVED:
            return Step(COMMIT_STOCK)
        if facts.stock is Stock.COMMITTED:
            return Step(CONFIRM)
        return Step(CANCEL, reason=RESERVATION_EXPIRED, expected_version=facts.version)
    reason = f"payment {facts.payment}" if facts.payment else NO_PAYMENT
    return Step(CANCEL, reason=reason, expected_version=facts.version)


def _unwind(facts: Facts) -> Step | None:
    """A cancelled order gives back what it held, whoever cancelled it."""
    if facts.stock is Stock.RESERVED:
        return Step(RELEASE_STOCK)
    if facts.payment is PaymentStatus.AUTHORIZED:
        return Step(VOID_PAYMENT)
    if facts.payment is PaymentStatus.CAPTURED and facts.captured and facts.refunded:
        left = facts.captured.minor - facts.refunded.minor
        if left > 0:
            return Step(REFUND_PAYMENT, amount=Money(left, facts.captured.currency))
    if facts.stock is Stock.COMMITTED and not facts.cancel_restocked:
        return Step(RESTOCK_CANCELLED)
    return None


def _refund(facts: Facts) -> Step | None:
    """Requested refunds, oldest first: money back, units back, then the order records it."""
    for pending in facts.pending_refunds:
        if not pending.paid_back:
            return Step(PAY_BACK_REFUND, refund=pending)
        if pending.restock and not pending.restocked:
            return Step(RESTOCK_REFUND, refund=pending)
        return Step(RECORD_REFUND, refund=pending)
    return None


# -- a checked-out cart becomes an order (ADR 0025) ---------------------------------------

FALLBACK_CURRENCY = "EUR"  # only for an order none of whose products is on sale


@dataclass(frozen=True, slots=True)
class CheckedOutCart:
    cart_id: UUID
    customer_id: UUID
    lines: tuple[tuple[str, int], ...]  # (sku, quantity), in the cart's order


@dataclass(frozen=True, slots=True)
class Placement:
    """The order to place for a checkout; with a ``cancel_reason`` it is placed cancelled,
    in the same transaction, so the customer sees why and the saga never reserves for it."""

    order_id: UUID
    customer_id: UUID
    cart_id: UUID
    lines: tuple[OrderLine, ...]
    cancel_reason: str | None = None


def place(
    checkout: CheckedOutCart, prices: Mapping[str, Money | None], placed: bool
) -> Placement | None:
    """The order a checkout becomes, at the catalog's prices now (``prices``: None for a SKU
    with no product on sale); None if it is already placed (a redelivered checkout). Its id
    is the cart's deterministic order id, so two deliveries can never place two orders."""
    if placed:
        return None
    offered = [(sku, quantity, prices.get(sku)) for sku, quantity in checkout.lines]
    currencies = [price.currency for _, _, price in offered if price is not None]
    currency = currencies[0] if currencies else FALLBACK_CURRENCY
    unavailable = [sku for sku, _, price in offered if price is None]
    foreign = [sku for sku, _, price in offered if price and price.currency != currency]
    lines = tuple(
        OrderLine(
            sku,
            quantity,
            price if price is not None and price.currency == currency else Money(0, currency),
        )
        for sku, quantity, price in offered
    )
    reasons = [
        f"{why}: {', '.join(skus)}"
        for why, skus in ((PRODUCT_UNAVAILABLE, unavailable), (OTHER_CURRENCY, foreign))
        if skus
    ]
    return Placement(
        order_id=order_id_for_cart(checkout.cart_id),
        customer_id=checkout.customer_id,
        cart_id=checkout.cart_id,
        lines=lines,
        cancel_reason="; ".join(reasons) or None,
    )
