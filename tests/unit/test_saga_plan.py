"""The order saga's decisions: given what is true now, the one next step (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from uuid import UUID

import pytest

from commands.saga import plan, steps
from commands.saga.facts import Facts, PendingRefund, Stock
from commands.saga.plan import CheckedOutCart, Placement, compensate, decide, place
from commands.saga.steps import Failure, Step
from domain.money import Money
from domain.orders import OrderLine, OrderStatus, order_id_for_cart, order_total
from domain.payments import PaymentStatus

ORDER = UUID("00000000-0000-4000-8000-0000000000a1")
REFUND = UUID("00000000-0000-4000-8000-0000000000f1")
EUR_50 = Money(5000, "EUR")


def facts(status: OrderStatus, **changes: object) -> Facts:
    base = Facts(
        order_id=ORDER, status=status, version=3, has_payment_method=True, stock=Stock.NONE
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def kind(step: Step | None) -> type[Step] | None:
    return None if step is None else type(step)


# Each row: where the order and its stock and payment stand, and the one step that follows.
@pytest.mark.parametrize(
    ("status", "stock", "payment", "expected"),
    [
        (OrderStatus.PLACED, Stock.NONE, None, steps.ReserveStock),
        (OrderStatus.PLACED, Stock.RESERVED, None, steps.MarkStockReserved),
        (OrderStatus.STOCK_RESERVED, Stock.RESERVED, None, steps.AuthorizePayment),
        (
            OrderStatus.STOCK_RESERVED,
            Stock.RESERVED,
            PaymentStatus.AUTHORIZED,
            steps.MarkPaymentAuthorized,
        ),
        (
            OrderStatus.PAYMENT_AUTHORIZED,
            Stock.RESERVED,
            PaymentStatus.AUTHORIZED,
            steps.CapturePayment,
        ),
        (OrderStatus.PAYMENT_AUTHORIZED, Stock.RESERVED, PaymentStatus.CAPTURED, steps.CommitStock),
        (OrderStatus.PAYMENT_AUTHORIZED, Stock.COMMITTED, PaymentStatus.CAPTURED, steps.Confirm),
        (OrderStatus.CONFIRMED, Stock.COMMITTED, PaymentStatus.CAPTURED, None),
    ],
)
def test_the_happy_path_is_one_step_at_a_time(
    status: OrderStatus, stock: Stock, payment: PaymentStatus | None, expected: type[Step] | None
) -> None:
    assert kind(decide(facts(status, stock=stock, payment=payment))) == expected


def test_an_order_without_a_payment_method_waits_until_its_deadline_then_is_cancelled() -> None:
    waiting = facts(OrderStatus.STOCK_RESERVED, stock=Stock.RESERVED, has_payment_method=False)

    assert kind(decide(waiting)) == steps.AwaitPaymentMethod
    expired = decide(replace(waiting, payment_deadline_passed=True))
    assert expired == steps.Cancel(reason=plan.RESERVATION_EXPIRED, expected_version=3)


def test_a_payment_method_given_after_the_deadline_but_before_the_timer_still_pays() -> None:
    given = facts(OrderStatus.STOCK_RESERVED, stock=Stock.RESERVED, payment_deadline_passed=True)
    assert kind(decide(given)) == steps.AuthorizePayment


def test_stock_lost_behind_the_sagas_back_cancels_the_order() -> None:
    lost = decide(facts(OrderStatus.STOCK_RESERVED, stock=Stock.NONE))
    assert lost == steps.Cancel(reason=plan.RESERVATION_EXPIRED, expected_version=3)


def test_a_declined_payment_found_after_a_crash_cancels_with_its_reason() -> None:
    given = facts(
        OrderStatus.STOCK_RESERVED,
        stock=Stock.RESERVED,
        payment=PaymentStatus.DECLINED,
        decline_reason="card_expired",
    )
    step = decide(given)
    assert step is not None
    assert isinstance(step, steps.Cancel)
    assert step.reason == "payment declined: card_expired"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (facts(OrderStatus.CANCELLED, stock=Stock.RESERVED), steps.ReleaseStock),
        (facts(OrderStatus.CANCELLED, payment=PaymentStatus.AUTHORIZED), steps.VoidPayment),
        (
            facts(
                OrderStatus.CANCELLED,
                stock=Stock.COMMITTED,
                payment=PaymentStatus.CAPTURED,
                captured=EUR_50,
                refunded=Money(1000, "EUR"),
            ),
            steps.RefundPayment,
        ),
        (
            facts(OrderStatus.CANCELLED, stock=Stock.COMMITTED, cancel_restocked=False),
            steps.RestockCancelled,
        ),
        (facts(OrderStatus.CANCELLED, payment=PaymentStatus.VOIDED), None),
        (facts(OrderStatus.CANCELLED, payment=PaymentStatus.DECLINED), None),
        (facts(OrderStatus.CANCELLED), None),
    ],
)
def test_a_cancelled_order_gives_back_everything_it_held(
    given: Facts, expected: type[Step] | None
) -> None:
    assert kind(decide(given)) == expected


def test_what_a_cancelled_order_had_captured_is_refunded_in_full() -> None:
    given = facts(
        OrderStatus.CANCELLED,
        payment=PaymentStatus.CAPTURED,
        captured=EUR_50,
        refunded=Money(1000, "EUR"),
    )
    step = decide(given)
    assert isinstance(step, steps.RefundPayment)
    assert step.amount == Money(4000, "EUR")


def test_a_refund_is_paid_back_then_restocked_then_recorded() -> None:
    pending = PendingRefund(REFUND, Money(2000, "EUR"), {"SKU-1": 1})
    confirmed = facts(OrderStatus.CONFIRMED, pending_refunds=(pending,))

    assert kind(decide(confirmed)) == steps.PayBackRefund
    paid = replace(pending, paid_back=True)
    assert kind(decide(replace(confirmed, pending_refunds=(paid,)))) == steps.RestockRefund
    done = replace(paid, restocked=True)
    assert kind(decide(replace(confirmed, pending_refunds=(done,)))) == steps.RecordRefund


@pytest.mark.parametrize(
    ("step", "failure", "reason"),
    [
        (
            steps.ReserveStock,
            Failure("out_of_stock", skus=("A-1", "B-2")),
            "out of stock: A-1, B-2",
        ),
        (
            steps.AuthorizePayment,
            Failure("declined", "insufficient_funds"),
            "payment declined: insufficient_funds",
        ),
        (steps.AuthorizePayment, Failure("unavailable"), "payment gateway did not answer"),
        (steps.CommitStock, Failure("no_reservation"), "reservation expired"),
        (
            steps.CapturePayment,
            Failure("unavailable", "no answer"),
            "payment capture failed: no answer",
        ),
    ],
)
def test_a_refusal_cancels_the_order_pinned_to_the_version_it_saw(
    step: Callable[[], Step], failure: Failure, reason: str
) -> None:
    given = facts(OrderStatus.STOCK_RESERVED)
    assert compensate(step(), failure, given) == steps.Cancel(reason=reason, expected_version=3)


def test_a_refund_the_processor_refuses_is_rejected_not_the_order() -> None:
    pending = PendingRefund(REFUND, EUR_50, {})
    step = compensate(
        steps.PayBackRefund(pending),
        Failure("declined", "amount_exceeds_capture"),
        facts(OrderStatus.CONFIRMED),
    )
    assert step == steps.RejectRefund(pending, reason="amount_exceeds_capture")


# -- a checked-out cart becomes one order (ADR 0025) --------------------------------------

CART = UUID("00000000-0000-4000-8000-0000000000c1")
CUSTOMER = UUID("00000000-0000-4000-8000-0000000000d1")
CHECKOUT = CheckedOutCart(CART, CUSTOMER, (("MUG-1", 2), ("TEA-1", 1)))
PRICES: dict[str, Money | None] = {"MUG-1": Money(1290, "EUR"), "TEA-1": Money(450, "EUR")}


def test_a_checkout_is_placed_at_the_catalog_prices_under_the_carts_order_id() -> None:
    placement = place(CHECKOUT, PRICES, placed=False)

    assert placement == Placement(
        order_id=order_id_for_cart(CART),
        customer_id=CUSTOMER,
        cart_id=CART,
        lines=(
            OrderLine("MUG-1", 2, Money(1290, "EUR")),
            OrderLine("TEA-1", 1, Money(450, "EUR")),
        ),
    )
    assert order_total(placement.lines) == Money(3030, "EUR")


def test_a_redelivered_checkout_places_nothing_and_names_the_same_order() -> None:
    first = place(CHECKOUT, PRICES, placed=False)
    again = place(CHECKOUT, {"MUG-1": Money(9999, "EUR"), "TEA-1": None}, placed=False)

    assert first is not None
    assert again is not None
    assert first.order_id == again.order_id == order_id_for_cart(CART)
    # Once the order exists (the first delivery placed it), a redelivery places nothing,
    # whatever the catalog says by then.
    assert place(CHECKOUT, PRICES, placed=True) is None
    assert place(CHECKOUT, {}, placed=True) is None


def test_another_cart_is_another_order() -> None:
    other = CheckedOutCart(UUID("00000000-0000-4000-8000-0000000000c2"), CUSTOMER, CHECKOUT.lines)
    mine, theirs = place(CHECKOUT, PRICES, False), place(other, PRICES, False)

    assert mine is not None
    assert theirs is not None
    assert mine.order_id != theirs.order_id


def test_a_sku_with_no_product_on_sale_is_placed_cancelled_with_the_reason() -> None:
    checkout = CheckedOutCart(CART, CUSTOMER, (("MUG-1", 1), ("GONE-1", 1), ("NONE-1", 3)))
    prices = {"MUG-1": Money(1290, "EUR"), "GONE-1": None}  # NONE-1: no product at all

    placement = place(checkout, prices, placed=False)

    assert placement is not None
    assert placement.cancel_reason == "product unavailable: GONE-1, NONE-1"
    assert [line.unit_price for line in placement.lines] == [
        Money(1290, "EUR"),
        Money(0, "EUR"),
        Money(0, "EUR"),
    ]
    assert order_total(placement.lines) == Money(1290, "EUR")  # a valid order to cancel


def test_a_checkout_with_nothing_on_sale_is_still_a_valid_order_to_cancel() -> None:
    placement = place(CHECKOUT, {}, placed=False)

    assert placement is not None
    assert placement.cancel_reason == "product unavailable: MUG-1, TEA-1"
    assert order_total(placement.lines).minor == 0


def test_a_product_priced_in_another_currency_cancels_the_order() -> None:
    prices: dict[str, Money | None] = {"MUG-1": Money(1290, "EUR"), "TEA-1": Money(450, "USD")}

    placement = place(CHECKOUT, prices, placed=False)

    assert placement is not None
    assert placement.cancel_reason == "priced in another currency: TEA-1"
    assert {line.unit_price.currency for line in placement.lines} == {"EUR"}
