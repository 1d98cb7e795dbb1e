"""Properties of the Order lifecycle under any sequence of commands (Hypothesis stateful).

- An order never moves backwards: every accepted command moves it one step forward along
  placed → … → delivered, or to cancelled / refunded, and nothing leaves those two.
- A refused command changes nothing and records nothing.
- The refunded amount never exceeds the total; a full refund ends in refunded.
- Replaying the recorded events rebuilds the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import DomainEventProtocol
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.errors import DomainError
from domain.money import Money
from domain.orders import Order, OrderLine, OrderStatus
from domain.orders.order import LIFECYCLE
from tests.support.unit_aggregates import rebuilt_from

TERMINAL = {OrderStatus.CANCELLED, OrderStatus.REFUNDED}
REFUND_IDS = [UUID(int=n) for n in range(1, 6)]


def rank(status: OrderStatus) -> int:
    return LIFECYCLE.index(status) if status in LIFECYCLE else len(LIFECYCLE)


lines = st.lists(
    st.builds(
        OrderLine,
        sku=st.sampled_from(["A-1", "B-2", "C-3", "D-4"]),
        quantity=st.integers(1, 99),
        unit_price=st.builds(Money, st.integers(0, 100_000), st.just("EUR")),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda line: line.sku,
)


class OrderLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.order: Order | None = None
        self.events: list[DomainEventProtocol[Any]] = []

    @precondition(lambda self: self.order is None)
    @rule(order_lines=lines)
    def place(self, order_lines: list[OrderLine]) -> None:
        self.order = Order.place(uuid4(), uuid4(), uuid4(), order_lines)
        self.events.extend(self.order.collect_events())

    def attempt(self, command: Callable[[Order], None]) -> None:
        order = self.order
        assert order is not None
        before = (order.status, order.version, order.refunded)
        try:
            command(order)
        except DomainError:
            assert (order.status, order.version, order.refunded) == before
            assert order.collect_events() == []
            return
        new = order.collect_events()
        self.events.extend(new)
        old_status = before[0]
        if order.status is not old_status:
            assert old_status not in TERMINAL, f"left {old_status} for {order.status}"
            assert order.status in TERMINAL or rank(order.status) == rank(old_status) + 1
        elif new:  # accepted without a status change: only a partial refund does that
            assert all(isinstance(e, Order.Refunded) for e in new)

    @precondition(lambda self: self.order is not None)
    @rule()
    def reserve_stock(self) -> None:
        self.attempt(Order.mark_stock_reserved)

    @precondition(lambda self: self.order is not None)
    @rule()
    def authorize_payment(self) -> None:
        self.attempt(lambda order: order.mark_payment_authorized(uuid4()))

    @precondition(lambda self: self.order is not None)
    @rule()
    def confirm(self) -> None:
        self.attempt(Order.confirm)

    @precondition(lambda self: self.order is not None)
    @rule()
    def ship(self) -> None:
        self.attempt(Order.ship)

    @precondition(lambda self: self.order is not None)
    @rule()
    def deliver(self) -> None:
        self.attempt(Order.deliver)

    @precondition(lambda self: self.order is not None)
    @rule(reason=st.sampled_from(["out of stock", "customer asked"]))
    def cancel(self, reason: str) -> None:
        self.attempt(lambda order: order.cancel(reason))

    @precondition(lambda self: self.order is not None)
    @rule(
        refund_id=st.sampled_from(REFUND_IDS),
        minor=st.integers(-10, 2_000_000),
        currency=st.sampled_from(["EUR", "EUR", "USD"]),
    )
    def refund(self, refund_id: UUID, minor: int, currency: str) -> None:
        self.attempt(lambda order: order.refund(refund_id, Money(minor, currency)))

    @precondition(lambda self: self.order is not None)
    @rule(refund_id=st.sampled_from(REFUND_IDS))
    def refund_the_rest(self, refund_id: UUID) -> None:
        self.attempt(
            lambda order: order.refund(
                refund_id, Money(order.total.minor - order.refunded.minor, "EUR")
            )
        )

    @invariant()
    def refunded_never_exceeds_the_total(self) -> None:
        if self.order is None:
            return
        assert 0 <= self.order.refunded.minor <= self.order.total.minor
        assert sum(m.minor for m in self.order.refunds.values()) == self.order.refunded.minor
        if self.order.refunds and self.order.refunded == self.order.total:
            assert self.order.status is OrderStatus.REFUNDED

    @invariant()
    def replaying_the_events_rebuilds_the_order(self) -> None:
        if self.order is None:
            return
        replayed = rebuilt_from(self.events)
        assert isinstance(replayed, Order)
        assert (replayed.status, replayed.version, replayed.refunded) == (
            self.order.status,
            self.order.version,
            self.order.refunded,
        )


OrderLifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=30)
test_an_order_never_moves_backwards_and_refunds_never_exceed_its_total = OrderLifecycle.TestCase
