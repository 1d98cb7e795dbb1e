"""Given-when-then for the orders context's Order aggregate (and reading old events)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from commands.orders.application import OrdersApplication
from domain.money import Money
from domain.orders import IllegalTransition, Order, OrderLine, OrderStatus
from domain.orders.errors import (
    DuplicateSku,
    EmptyOrder,
    InvalidQuantity,
    InvalidRefundAmount,
    MixedCurrencies,
    RefundExceedsTotal,
    RefundIdReused,
)
from tests.support.unit_aggregates import rebuilt_from, saved
from tests.support.unit_orders import CART, CUSTOMER, LINES, a_version_1_placed_event

UNTIL_CONFIRMED: list[Callable[[Order], None]] = [
    Order.mark_stock_reserved,
    lambda order: order.mark_payment_authorized(uuid4()),
    Order.confirm,
]


def placed(lines: list[OrderLine] = LINES) -> Order:
    return saved(Order.place(uuid4(), CUSTOMER, CART, lines))


def confirmed(steps: int = len(UNTIL_CONFIRMED)) -> Order:
    """A placed order taken the first ``steps`` of the steps to confirmed (all, unless told)."""
    order = placed()
    for step in UNTIL_CONFIRMED[:steps]:
        step(order)
    return saved(order)


def test_placing_an_order_fixes_its_lines_prices_and_total() -> None:
    order_id = uuid4()

    order = Order.place(order_id, CUSTOMER, CART, LINES)

    (event,) = order.collect_events()
    assert isinstance(event, Order.Placed)
    assert event.originator_id == order_id
    assert (event.customer_id, event.cart_id) == (CUSTOMER, CART)
    assert event.lines[0] == {"sku": "HP-1000", "quantity": 2, "unit_price": Money(1999, "EUR")}
    assert event.total == Money(7488, "EUR")
    assert order.status is OrderStatus.PLACED
    assert order.lines == LINES


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], EmptyOrder),
        ([OrderLine("HP-1000", 0, Money(100, "EUR"))], InvalidQuantity),
        ([OrderLine("HP-1000", 100, Money(100, "EUR"))], InvalidQuantity),
        ([LINES[0], OrderLine("LMP-0001", 1, Money(100, "USD"))], MixedCurrencies),
        ([LINES[0], LINES[0]], DuplicateSku),
    ],
)
def test_an_order_with_invalid_lines_cannot_be_placed(
    lines: list[OrderLine], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Order.place(uuid4(), CUSTOMER, CART, lines)


def test_an_order_goes_through_its_whole_lifecycle_in_order() -> None:
    order = placed()
    payment_id = uuid4()

    order.mark_stock_reserved()
    order.mark_payment_authorized(payment_id)
    order.confirm()
    order.ship()
    order.deliver()

    assert [type(e) for e in order.collect_events()] == [
        Order.StockReserved,
        Order.PaymentAuthorized,
        Order.Confirmed,
        Order.Shipped,
        Order.Delivered,
    ]
    assert order.status is OrderStatus.DELIVERED
    assert order.payment_id == payment_id
    assert order.version == 6


@pytest.mark.parametrize(
    ("step", "target"),
    [
        (Order.confirm, OrderStatus.CONFIRMED),
        (Order.ship, OrderStatus.SHIPPED),
        (Order.deliver, OrderStatus.DELIVERED),
        (lambda o: o.mark_payment_authorized(uuid4()), OrderStatus.PAYMENT_AUTHORIZED),
        (lambda o: o.refund(uuid4(), Money(100, "EUR")), OrderStatus.REFUNDED),
    ],
)
def test_skipping_a_step_is_an_illegal_transition_naming_from_and_to(
    step: Callable[[Order], None], target: OrderStatus
) -> None:
    order = placed()

    with pytest.raises(IllegalTransition) as refused:
        step(order)

    assert (refused.value.from_status, refused.value.to_status) == (OrderStatus.PLACED, target)
    assert refused.value.code == "illegal_transition"
    assert order.collect_events() == []


def test_repeating_a_step_is_an_illegal_transition_not_a_silent_no_op() -> None:
    order = placed()
    order.mark_stock_reserved()

    with pytest.raises(IllegalTransition):
        order.mark_stock_reserved()


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
def test_an_order_can_be_cancelled_until_it_ships(steps: int) -> None:
    order = confirmed(steps)

    order.cancel("customer changed their mind")

    (event,) = order.collect_events()
    assert isinstance(event, Order.Cancelled)
    assert event.reason == "customer changed their mind"
    assert order.status is OrderStatus.CANCELLED


def test_a_shipped_order_cannot_be_cancelled() -> None:
    order = confirmed()
    order.ship()

    with pytest.raises(IllegalTransition, match="from shipped to cancelled"):
        order.cancel("too late")


def test_a_cancelled_order_goes_nowhere() -> None:
    order = placed()
    order.cancel("duplicate")

    for step in (Order.mark_stock_reserved, Order.confirm, Order.ship, Order.deliver):
        with pytest.raises(IllegalTransition):
            step(order)


def test_a_partial_refund_keeps_the_status_and_counts_towards_the_total() -> None:
    order = confirmed()
    refund_id = uuid4()

    order.refund(refund_id, Money(1000, "EUR"))

    (event,) = order.collect_events()
    assert isinstance(event, Order.Refunded)
    assert (event.refund_id, event.amount) == (refund_id, Money(1000, "EUR"))
    assert order.refunded == Money(1000, "EUR")
    assert order.status is OrderStatus.CONFIRMED


def test_refunding_the_rest_moves_the_order_to_refunded() -> None:
    order = confirmed()
    order.ship()
    order.refund(uuid4(), Money(1000, "EUR"))

    order.refund(uuid4(), Money(6488, "EUR"))

    assert order.refunded == order.total
    assert order.status is OrderStatus.REFUNDED


def test_the_same_refund_id_again_changes_nothing() -> None:
    order = confirmed()
    refund_id = uuid4()
    order.refund(refund_id, Money(1000, "EUR"))
    order.collect_events()

    order.refund(refund_id, Money(1000, "EUR"))

    assert order.collect_events() == []
    assert order.refunded == Money(1000, "EUR")


def test_the_same_refund_id_with_another_amount_is_refused() -> None:
    order = confirmed()
    refund_id = uuid4()
    order.refund(refund_id, Money(1000, "EUR"))

    with pytest.raises(RefundIdReused):
        order.refund(refund_id, Money(2000, "EUR"))


def test_refunds_never_exceed_the_total() -> None:
    order = confirmed()
    order.refund(uuid4(), Money(7000, "EUR"))
    order.collect_events()

    with pytest.raises(RefundExceedsTotal):
        order.refund(uuid4(), Money(489, "EUR"))
    assert order.collect_events() == []


@pytest.mark.parametrize("amount", [Money(0, "EUR"), Money(-5, "EUR"), Money(100, "USD")])
def test_a_refund_must_be_positive_and_in_the_order_currency(amount: Money) -> None:
    with pytest.raises(InvalidRefundAmount):
        confirmed().refund(uuid4(), amount)


def test_an_order_before_confirmation_cannot_be_refunded() -> None:
    order = placed()
    order.mark_stock_reserved()

    with pytest.raises(IllegalTransition, match="from stock_reserved to refunded"):
        order.refund(uuid4(), Money(100, "EUR"))


def test_replaying_the_events_rebuilds_the_same_order() -> None:
    order = Order.place(uuid4(), CUSTOMER, CART, LINES)
    order.mark_stock_reserved()
    order.mark_payment_authorized(uuid4())
    order.confirm()
    order.refund(uuid4(), Money(500, "EUR"))

    replayed = rebuilt_from(order.collect_events())

    assert isinstance(replayed, Order)
    assert (replayed.status, replayed.refunded, replayed.version, replayed.lines) == (
        OrderStatus.CONFIRMED,
        Money(500, "EUR"),
        5,
        LINES,
    )


def test_a_version_1_placed_event_is_read_as_version_2_with_money_per_line() -> None:
    app = OrdersApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order_id = uuid4()
    stored = a_version_1_placed_event(app, order_id)
    assert b"class_version" not in stored.state
    app.recorder.insert_events([stored])

    order = app.get_order(order_id)

    assert order.lines == LINES
    assert order.total == Money(7488, "EUR")
    assert order.status is OrderStatus.PLACED
    (event,) = app.repository.event_store.get(order_id)
    assert isinstance(event, Order.Placed)
    assert event.lines[1]["unit_price"] == Money(3490, "EUR")
    assert not hasattr(event, "currency")


def test_a_placed_event_is_stored_as_version_2() -> None:
    app = OrdersApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order = Order.place(uuid4(), CUSTOMER, CART, LINES)

    app.save(order)

    (stored,) = app.recorder.select_events(order.id)
    assert app.mapper.transcoder.decode(stored.state)["class_version"] == 2
    assert app.get_order(order.id).lines == LINES
