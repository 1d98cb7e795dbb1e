"""Properties of a stock item under any sequence of commands: stock is never oversold.

A Hypothesis state machine drives one StockItem with receive/adjust/reserve/release/commit/
expire (and the passing of time) and a small reference model beside it. After every step:
nothing available is negative, reserved + committed never exceed what came in, the item
agrees with the model, and replaying its events rebuilds the same state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.errors import DomainError
from domain.inventory import (
    AdjustmentExceedsAvailable,
    InsufficientStock,
    NoReservation,
    ReservationCommitted,
    ReservationMismatch,
    StockItem,
)
from tests.support.unit_aggregates import rebuilt_from

ORDERS = [UUID(int=n) for n in range(1, 7)]
orders = st.sampled_from(ORDERS)
quantities = st.integers(min_value=1, max_value=12)


class StockItemMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.item = StockItem(sku="MUG-1")
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.effects = 0
        # the reference model
        self.came_in = 0  # received + adjusted
        self.held: dict[UUID, tuple[int, datetime]] = {}
        self.paid: dict[UUID, int] = {}

    def available(self) -> int:
        return self.came_in - sum(self.paid.values()) - sum(q for q, _ in self.held.values())

    def expect(self, error: type[DomainError] | None, command: object) -> None:
        """Run ``command`` (a thunk); it must raise exactly ``error`` (or nothing)."""
        assert callable(command)
        if error is None:
            command()
            return
        try:
            command()
        except error:
            return
        raise AssertionError(f"expected {error.__name__}")

    def effect_id(self) -> str:
        self.effects += 1
        return f"effect-{self.effects}"

    @rule(quantity=quantities)
    def receive(self, quantity: int) -> None:
        self.item.receive(quantity, self.effect_id())
        self.came_in += quantity

    @rule(change=st.integers(min_value=-12, max_value=12).filter(bool))
    def adjust(self, change: int) -> None:
        refused = -change > self.available()
        self.expect(
            AdjustmentExceedsAvailable if refused else None,
            lambda: self.item.adjust(change, "stock count", self.effect_id()),
        )
        if not refused:
            self.came_in += change

    @rule(order=orders, quantity=quantities)
    def reserve(self, order: UUID, quantity: int) -> None:
        before = self.held[order][0] if order in self.held else self.paid.get(order)
        if before is not None:
            error: type[DomainError] | None = None if before == quantity else ReservationMismatch
        else:
            error = InsufficientStock if quantity > self.available() else None
        self.expect(error, lambda: self.item.reserve(order, quantity, self.now))
        if error is None and before is None:
            self.held[order] = (quantity, self.now)

    @rule(order=orders)
    def release(self, order: UUID) -> None:
        error = ReservationCommitted if order in self.paid else None
        self.expect(error, lambda: self.item.release(order))
        self.held.pop(order, None)

    @rule(order=orders)
    def commit(self, order: UUID) -> None:
        error = None if order in self.paid or order in self.held else NoReservation
        self.expect(error, lambda: self.item.commit(order))
        if order in self.held:
            self.paid[order] = self.held.pop(order)[0]

    @rule(minutes=st.integers(min_value=1, max_value=30))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(age=st.integers(min_value=0, max_value=60))
    def expire(self, age: int) -> None:
        cut_off = self.now - timedelta(minutes=age)
        stale = sorted(o for o, (_, at) in self.held.items() if at < cut_off)

        expired = self.item.expire(cut_off)

        assert sorted(expired) == stale
        for order in stale:
            del self.held[order]

    @invariant()
    def stock_is_never_negative_or_oversold(self) -> None:
        item = self.item
        assert item.available >= 0
        assert item.on_hand >= 0
        assert item.reserved + item.committed <= item.received + item.adjusted

    @invariant()
    def the_item_agrees_with_the_model(self) -> None:
        assert self.item.received + self.item.adjusted == self.came_in
        assert self.item.committed == sum(self.paid.values())
        assert {UUID(o): int(r["quantity"]) for o, r in self.item.reservations.items()} == {
            o: q for o, (q, _) in self.held.items()
        }
        assert self.item.available == self.available()

    @invariant()
    def replaying_the_events_rebuilds_the_same_state(self) -> None:
        replayed = rebuilt_from(self.item.pending_events)
        assert replayed is not None
        assert state(replayed) == state(self.item)


def state(item: object) -> dict[str, object]:
    return {k: v for k, v in vars(item).items() if k != "_pending_events"}


StockItemMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
test_stock_is_never_oversold_under_any_sequence_of_commands = StockItemMachine.TestCase
