"""Given-when-then for the inventory's StockItem aggregate (and its in-memory application)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from commands.inventory.application import InventoryApplication
from domain.inventory import StockItem, stock_item, stock_item_id_for
from tests.support.unit_aggregates import rebuilt_from, saved

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ORDER = UUID("00000000-0000-4000-8000-000000000001")
OTHER = UUID("00000000-0000-4000-8000-000000000002")


def stock_of(quantity: int, sku: str = "MUG-1", *, reserved: int = 0) -> StockItem:
    """Given a stock item that received ``quantity`` units and holds ``reserved`` of them
    for ORDER since T0 (its events already collected)."""
    item = StockItem(sku=sku)
    if quantity:
        item.receive(quantity, "receipt-1")
    if reserved:
        item.reserve(ORDER, reserved, T0)
    return saved(item)


def test_a_stock_item_is_one_per_sku() -> None:
    assert StockItem(sku="MUG-1").id == stock_item_id_for("MUG-1")
    assert stock_item_id_for("MUG-1") != stock_item_id_for("MUG-2")


def test_receiving_stock_makes_it_available() -> None:
    item = stock_of(0)

    item.receive(10, "receipt-1")

    (received,) = item.collect_events()
    assert isinstance(received, StockItem.Received)
    assert (item.on_hand, item.reserved, item.available) == (10, 0, 10)


def test_the_same_receipt_twice_is_counted_once() -> None:
    item = stock_of(10)

    item.receive(10, "receipt-1")

    assert item.collect_events() == []
    assert item.on_hand == 10


@pytest.mark.parametrize("quantity", [0, -3])
def test_a_receipt_of_no_units_is_refused(quantity: int) -> None:
    with pytest.raises(stock_item.InvalidQuantity):
        stock_of(0).receive(quantity, "receipt-1")


def test_reserving_holds_units_for_the_order() -> None:
    item = stock_of(10)

    item.reserve(ORDER, 3, T0)

    (reserved,) = item.collect_events()
    assert isinstance(reserved, StockItem.Reserved)
    assert (reserved.order_id, reserved.quantity, reserved.reserved_at) == (ORDER, 3, T0)
    assert (item.on_hand, item.reserved, item.available) == (10, 3, 7)
    assert item.reservation_for(ORDER) == 3


def test_reserving_again_for_the_same_order_and_quantity_changes_nothing() -> None:
    item = stock_of(10, reserved=3)

    item.reserve(ORDER, 3, T0 + timedelta(minutes=5))

    assert item.collect_events() == []
    assert item.reserved == 3


def test_reserving_a_different_quantity_for_the_same_order_is_refused() -> None:
    item = stock_of(10)
    item.reserve(ORDER, 3, T0)

    with pytest.raises(stock_item.ReservationMismatch):
        item.reserve(ORDER, 4, T0)


def test_reserving_more_than_is_available_is_refused_and_names_the_sku() -> None:
    item = stock_of(5)
    item.reserve(OTHER, 4, T0)
    item.collect_events()

    with pytest.raises(stock_item.InsufficientStock) as refused:
        item.reserve(ORDER, 2, T0)

    assert refused.value.skus == ["MUG-1"]
    assert refused.value.code == "insufficient_stock"
    assert item.collect_events() == []
    assert item.available == 1


def test_releasing_gives_the_units_back() -> None:
    item = stock_of(5, reserved=5)

    item.release(ORDER)

    (released,) = item.collect_events()
    assert isinstance(released, StockItem.Released)
    assert released.quantity == 5
    assert item.available == 5


def test_releasing_an_order_that_holds_nothing_changes_nothing() -> None:
    item = stock_of(5)

    item.release(ORDER)

    assert item.collect_events() == []


def test_committing_takes_the_reserved_units_out_of_stock() -> None:
    item = stock_of(5, reserved=2)

    item.commit(ORDER)

    (committed,) = item.collect_events()
    assert isinstance(committed, StockItem.Committed)
    assert (item.on_hand, item.reserved, item.committed, item.available) == (3, 0, 2, 3)


def test_committing_twice_commits_once() -> None:
    item = stock_of(5)
    item.reserve(ORDER, 2, T0)
    item.commit(ORDER)
    item.collect_events()

    item.commit(ORDER)
    item.reserve(ORDER, 2, T0)  # a late repeat of the reservation is no new hold either

    assert item.collect_events() == []
    assert (item.on_hand, item.reserved) == (3, 0)


def test_committing_without_a_reservation_is_refused() -> None:
    with pytest.raises(stock_item.NoReservation):
        stock_of(5).commit(ORDER)


def test_releasing_a_committed_order_is_refused() -> None:
    item = stock_of(5)
    item.reserve(ORDER, 2, T0)
    item.commit(ORDER)

    with pytest.raises(stock_item.ReservationCommitted):
        item.release(ORDER)


def test_reservations_older_than_the_cut_off_expire() -> None:
    item = stock_of(10)
    item.reserve(OTHER, 2, T0)
    item.reserve(ORDER, 3, T0 + timedelta(minutes=20))
    item.collect_events()

    expired = item.expire(older_than=T0 + timedelta(minutes=15))

    assert expired == [OTHER]
    (event,) = item.collect_events()
    assert isinstance(event, StockItem.ReservationExpired)
    assert (event.order_id, event.quantity) == (OTHER, 2)
    assert item.reserved == 3


def test_an_adjustment_corrects_the_stock_on_hand_with_a_reason() -> None:
    item = stock_of(10)

    item.adjust(-2, "two broken in the warehouse", "adjustment-1")
    item.adjust(-2, "two broken in the warehouse", "adjustment-1")  # a repeat

    (adjusted,) = item.collect_events()
    assert isinstance(adjusted, StockItem.Adjusted)
    assert (adjusted.change, adjusted.reason) == (-2, "two broken in the warehouse")
    assert item.on_hand == 8


def test_an_adjustment_cannot_take_away_reserved_units() -> None:
    item = stock_of(10, reserved=8)

    with pytest.raises(stock_item.AdjustmentExceedsAvailable):
        item.adjust(-3, "count was short", "adjustment-1")
    assert item.collect_events() == []
    assert item.on_hand == 10


@pytest.mark.parametrize(("change", "reason"), [(0, "nothing"), (1, "  ")])
def test_an_adjustment_needs_a_change_and_a_reason(change: int, reason: str) -> None:
    with pytest.raises(stock_item.InvalidQuantity):
        stock_of(10).adjust(change, reason, "adjustment-1")


def test_replaying_the_events_rebuilds_the_same_stock() -> None:
    item = StockItem(sku="MUG-1")
    item.receive(10, "r1")
    item.reserve(ORDER, 2, T0)
    item.reserve(OTHER, 3, T0)
    item.commit(ORDER)
    item.release(OTHER)

    replayed = rebuilt_from(item.collect_events())

    assert isinstance(replayed, StockItem)
    assert vars(replayed) == vars(item)


# -- the application, on in-memory persistence -----------------------------------------------


@pytest.fixture
def inventory() -> InventoryApplication:
    return InventoryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def units(**quantities: int) -> dict[str, int]:
    """SKU → quantity, the SKUs spelled with underscores for dashes (MUG_1 is MUG-1)."""
    return {sku.replace("_", "-"): quantity for sku, quantity in quantities.items()}


def test_an_order_is_reserved_on_every_sku_or_on_none(inventory: InventoryApplication) -> None:
    inventory.receive("MUG-1", 5, None)
    inventory.receive("TEA-1", 1, None)

    with pytest.raises(stock_item.InsufficientStock) as refused:
        inventory.reserve(ORDER, units(MUG_1=2, TEA_1=2, JAM_1=1), T0)

    assert refused.value.skus == ["JAM-1", "TEA-1"]
    assert inventory.get_stock_item("MUG-1").reserved == 0
    assert inventory.get_stock_item("TEA-1").reserved == 0

    result = inventory.reserve(ORDER, units(MUG_1=2, TEA_1=1), T0)

    assert result.versions == {"MUG-1": 3, "TEA-1": 3}
    assert inventory.get_stock_item("MUG-1").reserved == 2
    assert inventory.get_stock_item("TEA-1").available == 0


def test_an_order_is_committed_on_every_sku_or_on_none(inventory: InventoryApplication) -> None:
    inventory.receive("MUG-1", 5, None)
    inventory.receive("TEA-1", 5, None)
    inventory.reserve(ORDER, units(MUG_1=2), T0)

    with pytest.raises(stock_item.NoReservation):
        inventory.commit(ORDER, ["MUG-1", "TEA-1"])
    assert inventory.get_stock_item("MUG-1").committed == 0

    inventory.commit(ORDER, ["MUG-1"])
    assert inventory.get_stock_item("MUG-1").on_hand == 3


def test_a_long_lived_stock_item_is_loaded_from_a_snapshot(
    inventory: InventoryApplication,
) -> None:
    inventory.receive("MUG-1", 100, None)  # versions 1 and 2
    for n in range(60):
        inventory.reserve(UUID(int=n + 1), units(MUG_1=1), T0 + timedelta(seconds=n))

    item_id = stock_item_id_for("MUG-1")
    assert inventory.snapshots is not None
    (snapshot,) = inventory.snapshots.get(item_id, desc=True, limit=1)
    assert snapshot.originator_version == 50

    item = inventory.get_stock_item("MUG-1")
    assert item.version == 62
    assert (item.reserved, item.available) == (60, 40)
    assert item.reservations[str(UUID(int=1))]["reserved_at"] == T0
