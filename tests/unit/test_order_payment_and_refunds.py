"""Given-when-then for what the saga needs of an Order: its payment method, refund requests."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from contract.envelope import envelope_for
from domain.money import Money
from domain.orders import IllegalTransition, Order, OrderLine, OrderStatus
from domain.orders.errors import (
    InvalidRestock,
    PaymentMethodAlreadyGiven,
    RefundExceedsTotal,
    RefundIdReused,
    UnknownRefund,
)

LINES = [OrderLine("HP-1000", 2, Money(1999, "EUR")), OrderLine("LMP-0001", 1, Money(3490, "EUR"))]
VISA = ("visa", "4242", "tok_approve")


def placed() -> Order:
    return Order.place(uuid4(), uuid4(), uuid4(), LINES)


def confirmed() -> Order:
    order = placed()
    order.mark_stock_reserved()
    order.mark_payment_authorized(uuid4())
    order.confirm()
    return order


def test_the_payment_token_is_kept_in_the_order_but_never_put_on_the_bus() -> None:
    order = placed()
    order.give_payment_method(*VISA)

    assert order.payment_method == {
        "card_brand": "visa",
        "last_four": "4242",
        "payment_token": "tok_approve",
    }
    given = order.collect_events()[-1]
    payload = envelope_for("orders", given, 2, None).payload
    assert payload == {"card_brand": "visa", "last_four": "4242"}


def test_a_payment_method_is_given_once_and_before_the_payment() -> None:
    order = placed()
    order.give_payment_method(*VISA)
    order.give_payment_method(*VISA)  # the same again changes nothing
    assert len(order.collect_events()) == 2

    with pytest.raises(PaymentMethodAlreadyGiven):
        order.give_payment_method("visa", "4242", "tok_other")
    with pytest.raises(IllegalTransition):
        confirmed().give_payment_method(*VISA)


def test_refund_requests_count_towards_the_total_until_rejected() -> None:
    order = confirmed()
    first, second = uuid4(), uuid4()
    order.request_refund(first, Money(5000, "EUR"))

    with pytest.raises(RefundExceedsTotal):
        order.request_refund(second, Money(2500, "EUR"))
    order.reject_refund(first, "not_captured")
    order.request_refund(second, Money(2500, "EUR"))

    assert list(order.pending_refunds) == [second]
    assert order.rejected_refunds == {first: "not_captured"}


def test_a_refund_request_once_paid_back_is_recorded_and_a_repeat_changes_nothing() -> None:
    order = confirmed()
    refund_id = uuid4()
    order.request_refund(refund_id, order.total)
    order.request_refund(refund_id, order.total)
    with pytest.raises(RefundIdReused):
        order.request_refund(refund_id, Money(1, "EUR"))

    order.refund(refund_id, order.total)

    assert (order.status, order.refunded, order.pending_refunds) == (
        OrderStatus.REFUNDED,
        order.total,
        {},
    )
    with pytest.raises(UnknownRefund):
        order.reject_refund(UUID(int=1), "x")


def test_restocking_is_limited_to_what_the_order_took() -> None:
    order = confirmed()
    order.request_refund(uuid4(), Money(1999, "EUR"), {"HP-1000": 1})
    order.request_refund(uuid4(), Money(1999, "EUR"), {"HP-1000": 1})

    with pytest.raises(InvalidRestock):
        order.request_refund(uuid4(), Money(100, "EUR"), {"HP-1000": 1})
    with pytest.raises(InvalidRestock):
        order.request_refund(uuid4(), Money(100, "EUR"), {"NOT-ON-ORDER": 1})
    assert order.restocked == {"HP-1000": 2}
