"""The analytics fold: which rows each event writes, and which payloads are poison."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from contract.envelope import Envelope
from domain.sku import sku_id
from projections.analytics import Insert, Update, operations
from tests.support.envelopes import an_envelope as envelope


def an_envelope(kind: str, payload: dict[str, Any], version: int = 1) -> Envelope:
    return envelope(kind, payload, aggregate_version=version, position=7)


def test_an_order_placed_writes_the_order_and_one_fact_per_line() -> None:
    eur = {"minor": 250, "currency": "EUR"}
    envelope = an_envelope(
        "orders.OrderPlaced",
        {
            "customer_id": str(uuid4()),
            "cart_id": str(uuid4()),
            "lines": [
                {"sku": "A", "quantity": 2, "unit_price": eur},
                {"sku": "B", "quantity": 1, "unit_price": eur},
            ],
            "total": {"minor": 750, "currency": "EUR"},
        },
    )
    order, *lines = operations(envelope)
    assert isinstance(order, Insert)
    assert (order.table, order.row["status"], order.row["total_minor"]) == ("orders", "placed", 750)
    assert [(op.table, op.row["line_no"], op.row["product_id"]) for op in lines] == [  # type: ignore[union-attr]
        ("order_lines", 1, sku_id("A")),
        ("order_lines", 2, sku_id("B")),
    ]


def test_a_refund_is_a_fact_of_its_day_and_adds_to_the_refunded_amount_under_the_guard() -> None:
    refund_id = uuid4()
    fact, op = operations(
        an_envelope(
            "orders.OrderRefunded",
            {"refund_id": str(refund_id), "amount": {"minor": 100, "currency": "EUR"}},
            version=7,
        )
    )
    assert isinstance(fact, Insert)
    assert fact.table == "order_refunds"
    assert (fact.row["version"], fact.row["refund_id"], fact.row["amount_minor"]) == (
        7,
        refund_id,
        100,
    )
    assert isinstance(op, Update)
    assert (op.table, op.version, op.add) == ("orders", 7, {"refunded_minor": 100})


def test_stock_committed_leaves_stock_and_releases_the_reservation() -> None:
    movement, item = operations(
        an_envelope(
            "inventory.StockItemCommitted", {"order_id": str(uuid4()), "quantity": 3}, version=4
        )
    )
    assert isinstance(movement, Insert)
    assert (movement.row["on_hand_change"], movement.row["reserved_change"]) == (-3, -3)
    assert isinstance(item, Update)
    assert (item.set, item.version) == ({}, 4)


def test_an_event_no_table_shows_still_advances_the_version() -> None:
    (op,) = operations(an_envelope("carts.CartItemAdded", {"sku": "A", "quantity": 1}, 3))
    assert op == Update("carts", op.id, 3)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "payload", "version"),
    [
        ("orders.OrderPlaced", {"customer_id": "x"}, 1),
        ("orders.OrderRefunded", {"refund_id": str(uuid4()), "amount": 5}, 2),
        ("payments.PaymentCaptured", {"amount": {"minor": "1", "currency": "EUR"}}, 2),
        ("inventory.StockItemReceived", {"quantity": 2**70, "receipt_id": "r"}, 2),
        ("catalog.ProductRenamed", {"name": None}, 2),
        ("carts.CartCheckedOut", {"lines": "all"}, 2),
        ("carts.CartOpened", {"customer_id": str(uuid4())}, 0),
    ],
)
def test_a_payload_no_table_can_hold_is_poison(
    kind: str, payload: dict[str, Any], version: int
) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        operations(an_envelope(kind, payload, version))
