"""Stock availability in the product search document, from the inventory's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from contract.envelope import Envelope
from domain.catalog import product_id_for
from domain.inventory import StockItem
from domain.money import Money
from projections.product_search import Document, apply
from tests.support.envelopes import envelopes_of
from tests.support.unit_catalog import a_product

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def fold(document: Document | None, batch: list[Envelope]) -> Document | None:
    for envelope in batch:
        document = apply(document, envelope) or document
    return document


def test_a_product_and_its_stock_item_share_one_document() -> None:
    product = a_product(
        "KT-1", name="Kettle", brand="Morning", category="kitchen", price=Money(3999, "EUR")
    )
    stock = StockItem(sku="KT-1")
    stock.receive(5, "receipt-1")
    stock.reserve(uuid4(), 5, T0)

    document = fold(fold(None, envelopes_of("catalog", product)), envelopes_of("inventory", stock))

    assert document is not None
    assert document["id"] == str(product_id_for("KT-1"))
    assert document["name"] == "Kettle"
    assert document["stock"] == {"on_hand": 5, "reserved": 5, "available": 0}
    assert document["in_stock"] is False
    assert document["versions"] == {"catalog": 1, "inventory": 3}


def test_stock_that_arrives_before_the_product_waits_in_the_document() -> None:
    stock = StockItem(sku="KT-2")
    stock.receive(2, "receipt-1")
    document = fold(None, envelopes_of("inventory", stock))
    assert document is not None
    assert document["in_stock"] is True
    assert "name" not in document  # searches show only active products: not yet visible


operations = st.lists(
    st.tuples(
        st.sampled_from(["receive", "adjust", "reserve", "release", "commit", "expire"]),
        st.integers(min_value=1, max_value=5),
    ),
    max_size=30,
)


@given(operations)
def test_the_document_always_shows_what_the_stock_item_holds(ops: list[tuple[str, int]]) -> None:
    stock = StockItem(sku="KT-3")
    orders: list[UUID] = []
    for step, (operation, quantity) in enumerate(ops):
        try:
            match operation:
                case "receive":
                    stock.receive(quantity, f"r{step}")
                case "adjust":
                    stock.adjust(-quantity, "count", f"a{step}")
                case "reserve":
                    order = uuid4()
                    stock.reserve(order, quantity, T0 + timedelta(minutes=step))
                    orders.append(order)
                case "release" if orders:
                    stock.release(orders.pop(0))
                case "commit" if orders:
                    stock.commit(orders.pop())
                case "expire":
                    stock.expire(T0 + timedelta(minutes=quantity))
        except Exception:  # a refused command records nothing; the view must agree anyway
            pass
    document = fold(None, envelopes_of("inventory", stock))
    assert document is not None
    assert document["stock"] == {
        "on_hand": stock.on_hand,
        "reserved": stock.reserved,
        "available": stock.available,
    }
    assert document["in_stock"] is (stock.available > 0)
