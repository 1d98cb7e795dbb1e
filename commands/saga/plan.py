"""What the order saga does next: a pure function of what is true now (ADR 0010).

The saga keeps no state of its own beyond timers: ``Facts`` are read from the aggregates
it drives (``facts``: the order, the stock items, the payment it made), and ``decide`` names
the one step (``steps``) that moves the order on, or None when there is nothing to do until
something happens; ``execution`` carries it out. Every step is idempotent where it lands
(deterministic ids, state checks), so deciding again from the same facts after a crash or a
redelivery repeats nothing.
``compensate`` turns a refusal (out of stock, a declined card, a processor that keeps
not answering) into the step that stops the order, and the cancelled order is then
unwound by ``decide`` like any other state: stock released, payment voided or refunded.
``place`` turns a checked-out cart into the order the saga places for it (ADR 0025).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from commands.saga.facts import Facts, Stock
from commands.saga.steps import (
    AuthorizePayment,
    AwaitPaymentMethod,
    Cancel,
    CapturePayment,
    CommitStock,
    Confirm,
    Failure,
    MarkPaymentAuthorized,
    MarkStockReserved,
    PayBackRefund,
    RecordRefund,
    RefundPayment,
    RejectRefund,
    ReleaseStock,
    ReserveStock,
    RestockCancelled,
    RestockRefund,
    Step,
    VoidPayment,
)
from domain.money import Money
from domain.orders import OrderLine, OrderStatus, order_id_for_cart
from domain.payments import PaymentStatus

# Why an order stopped, as the customer and the read model see it.
OUT_OF_STOCK = "out of stock"
PAYMENT_DECLINED = "payment declined"
GATEWAY_UNAVAILABLE = "payment gateway did not answer"
RESERVATION_EXPIRED = "reservation expired"
CAPTURE_FAILED = "payment capture failed"
NO_PAYMENT = "no payment made by the saga"
PRODUCT_UNAVAILABLE = "product unavailable"  # no such product, or discontinued
OTHER_CURRENCY = "priced in another currency"


def decide(facts: Facts) -> Step | None:
    """The next step for the order, or None when there is nothing to do for now."""
    match facts.status:
        case OrderStatus.PLACED:
            if facts.stock is Stock.RESERVED:
                return MarkStockReserved()
            return ReserveStock()
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
        case "declined" if isinstance(step, AuthorizePayment):
            reason = f"{PAYMENT_DECLINED}: {failure.detail}"
        case "declined" if isinstance(step, PayBackRefund):
            return RejectRefund(step.refund, reason=failure.detail)
        case "unavailable" if isinstance(step, AuthorizePayment):
            reason = GATEWAY_UNAVAILABLE
        case "no_reservation":
            reason = RESERVATION_EXPIRED
        case _:
            reason = f"{CAPTURE_FAILED}: {failure.detail or failure.kind}"
    # Pinned to the version the decision saw: if the order moved meanwhile, decide again.
    return Cancel(reason=reason, expected_version=facts.version)


def _pay(facts: Facts) -> Step | None:
    if facts.stock is not Stock.RESERVED:  # released or expired behind the saga's back
        return Cancel(reason=RESERVATION_EXPIRED, expected_version=facts.version)
    if facts.payment is PaymentStatus.AUTHORIZED:
        return MarkPaymentAuthorized()
    if facts.payment is PaymentStatus.DECLINED:
        reason = f"{PAYMENT_DECLINED}: {facts.decline_reason or 'declined'}"
        return Cancel(reason=reason, expected_version=facts.version)
    if facts.payment is not None:  # voided or settled by hand: this payment is gone
        return Cancel(reason=f"payment {facts.payment}", expected_version=facts.version)
    if facts.has_payment_method:
        return AuthorizePayment()
    if facts.payment_deadline_passed:
        return Cancel(reason=RESERVATION_EXPIRED, expected_version=facts.version)
    return AwaitPaymentMethod()


def _complete(facts: Facts) -> Step | None:
    """Capture at confirmation (ADR 0010): capture, take the units out of stock, confirm."""
    if facts.payment is PaymentStatus.AUTHORIZED:
        if facts.stock is not Stock.RESERVED:
            return Cancel(reason=RESERVATION_EXPIRED, expected_version=facts.version)
        return CapturePayment()
    if facts.payment is PaymentStatus.CAPTURED:
        if facts.stock is Stock.RESERVED:
            return CommitStock()
        if facts.stock is Stock.COMMITTED:
            return Confirm()
        return Cancel(reason=RESERVATION_EXPIRED, expected_version=facts.version)
    reason = f"payment {facts.payment}" if facts.payment else NO_PAYMENT
    return Cancel(reason=reason, expected_version=facts.version)


def _unwind(facts: Facts) -> Step | None:
    """A cancelled order gives back what it held, whoever cancelled it."""
    if facts.stock is Stock.RESERVED:
        return ReleaseStock()
    if facts.payment is PaymentStatus.AUTHORIZED:
        return VoidPayment()
    if facts.payment is PaymentStatus.CAPTURED and facts.captured and facts.refunded:
        left = facts.captured.minor - facts.refunded.minor
        if left > 0:
            return RefundPayment(Money(left, facts.captured.currency))
    if facts.stock is Stock.COMMITTED and not facts.cancel_restocked:
        return RestockCancelled()
    return None


def _refund(facts: Facts) -> Step | None:
    """Requested refunds, oldest first: money back, units back, then the order records it."""
    for pending in facts.pending_refunds:
        if not pending.paid_back:
            return PayBackRefund(pending)
        if pending.restock and not pending.restocked:
            return RestockRefund(pending)
        return RecordRefund(pending)
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
