"""The inventory's StockItem aggregate: one per SKU, on hand and reservations per order.

Quantities (all whole units):

- ``received`` + ``adjusted`` is what ever came into stock (receipts and counted corrections);
- ``committed`` is what paid orders took out of it;
- ``on_hand`` = received + adjusted - committed is what is physically there;
- ``reserved`` is held for orders not yet paid; ``available`` = on_hand - reserved.

Invariant: ``available`` is never negative, so reserved + committed never exceed
received + adjusted and stock is never oversold. Time never comes from a clock in here:
a reservation is stamped with the ``at`` it is given, and expiry takes a cut-off.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, RuleViolated
from domain.sku import sku_id


def stock_item_id_for(sku: str) -> UUID:
    """One stock item per SKU, with the SKU's shared id (the product's too: ADR 0009)."""
    return sku_id(sku)


class InvalidQuantity(RuleViolated):
    code = "invalid_quantity"


class InsufficientStock(Conflict):
    """Fewer units available than an order asks for (names every short SKU)."""

    code = "insufficient_stock"

    def __init__(self, skus: Iterable[str], detail: str | None = None) -> None:
        self.skus = sorted(set(skus))
        super().__init__(detail or "insufficient stock for SKU " + ", ".join(self.skus))


class AdjustmentExceedsAvailable(Conflict):
    code = "adjustment_exceeds_available"


class ReservationMismatch(Conflict):
    code = "reservation_mismatch"


class NoReservation(Conflict):
    code = "no_reservation"


class ReservationCommitted(Conflict):
    code = "reservation_committed"


class StockItem(Aggregate):
    class Registered(Aggregate.Created):
        sku: str

    @staticmethod
    def create_id(sku: str, **_: object) -> UUID:
        return stock_item_id_for(sku)

    @event(Registered)
    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.received = 0
        self.adjusted = 0
        self.committed = 0
        # order id (str, so snapshots stay JSON) -> {"quantity": int, "reserved_at": datetime}
        self.reservations: dict[str, dict[str, Any]] = {}
        # order id -> units committed: a paid order is remembered so repeats are no-ops
        self.commitments: dict[str, int] = {}
        # ids of keyed receipts and adjustments already applied -> their change in units
        self.effects: dict[str, int] = {}

    @property
    def on_hand(self) -> int:
        return self.received + self.adjusted - self.committed

    @property
    def reserved(self) -> int:
        return sum(int(r["quantity"]) for r in self.reservations.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def reservation_for(self, order_id: UUID) -> int:
        """Units reserved for the order (0 if none)."""
        reservation = self.reservations.get(str(order_id))
        return 0 if reservation is None else int(reservation["quantity"])

    # -- receipts and corrections ---------------------------------------------------------

    class Received(Aggregate.Event):
        quantity: int
        receipt_id: str

    def receive(self, quantity: int, receipt_id: str) -> None:
        """Goods came in. A receipt id seen before is a repeat and changes nothing."""
        check_positive(quantity)
        if receipt_id not in self.effects:
            self._received(quantity, receipt_id)

    @event(Received)
    def _received(self, quantity: int, receipt_id: str) -> None:
        self.received += quantity
        self.effects[receipt_id] = quantity

    class Adjusted(Aggregate.Event):
        change: int
        reason: str
        adjustment_id: str

    def adjust(self, change: int, reason: str, adjustment_id: str) -> None:
        """A counted correction (``change`` units, + found or - lost, with a reason).
        It may not take on-hand below what is reserved for orders."""
        if change == 0:
            raise InvalidQuantity("an adjustment must change the quantity")
        if not reason.strip():
            raise InvalidQuantity("an adjustment needs a reason")
        if adjustment_id in self.effects:
            return
        if change < 0 and -change > self.available:
            raise AdjustmentExceedsAvailable(
                f"SKU {self.sku}: cannot remove {-change}, only {self.available} are "
                f"on hand and not reserved"
            )
        self._adjusted(change, reason, adjustment_id)

    @event(Adjusted)
    def _adjusted(self, change: int, reason: str, adjustment_id: str) -> None:
        self.adjusted += change
        self.effects[adjustment_id] = change

    # -- reservations ---------------------------------------------------------------------

    class Reserved(Aggregate.Event):
        order_id: UUID
        quantity: int
        reserved_at: datetime

    def reserve(self, order_id: UUID, quantity: int, at: datetime) -> None:
        """Hold units for an order. The same order and quantity again is a no-op."""
        check_positive(quantity)
        key = str(order_id)
        held = self.reservations.get(key)
        before = self.commitments.get(key) if held is None else int(held["quantity"])
        if before is not None:
            if before != quantity:
                raise ReservationMismatch(
                    f"SKU {self.sku}: order {order_id} already holds {before}, not {quantity}"
                )
            return
        if quantity > self.available:
            raise InsufficientStock(
                [self.sku],
                f"SKU {self.sku}: {quantity} requested, {self.available} available",
            )
        self._reserved(order_id, quantity, at)

    @event(Reserved)
    def _reserved(self, order_id: UUID, quantity: int, reserved_at: datetime) -> None:
        self.reservations[str(order_id)] = {"quantity": quantity, "reserved_at": reserved_at}

    class Released(Aggregate.Event):
        order_id: UUID
        quantity: int

    def release(self, order_id: UUID) -> None:
        """Give an order's units back. Nothing held (or released before) is a no-op."""
        key = str(order_id)
        if key in self.commitments:
            raise ReservationCommitted(
                f"SKU {self.sku}: order {order_id} is committed; its units left stock"
            )
        if key in self.reservations:
            self._released(order_id, self.reservation_for(order_id))

    @event(Released)
    def _released(self, order_id: UUID, quantity: int) -> None:
        del self.reservations[str(order_id)]

    class Committed(Aggregate.Event):
        order_id: UUID
        quantity: int

    def commit(self, order_id: UUID) -> None:
        """The order is paid: its reserved units leave stock. Committed before is a no-op."""
        key = str(order_id)
        if key in self.commitments:
            return
        if key not in self.reservations:
            raise NoReservation(f"SKU {self.sku}: order {order_id} holds no reservation")
        self._committed(order_id, self.reservation_for(order_id))

    @event(Committed)
    def _committed(self, order_id: UUID, quantity: int) -> None:
        key = str(order_id)
        del self.reservations[key]
        self.commitments[key] = quantity
        self.committed += quantity

    class ReservationExpired(Aggregate.Event):
        order_id: UUID
        quantity: int

    def expire(self, older_than: datetime) -> list[UUID]:
        """Release every reservation made before ``older_than``; the orders it released."""
        stale = [
            UUID(key)
            for key, reservation in sorted(self.reservations.items())
            if reservation["reserved_at"] < older_than
        ]
        for order_id in stale:
            self._reservation_expired(order_id, self.reservation_for(order_id))
        return stale

    @event(ReservationExpired)
    def _reservation_expired(self, order_id: UUID, quantity: int) -> None:
        del self.reservations[str(order_id)]


def check_positive(quantity: int) -> None:
    if quantity <= 0:
        raise InvalidQuantity(f"quantity must be at least 1, got {quantity}")
