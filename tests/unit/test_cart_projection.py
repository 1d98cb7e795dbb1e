"""The cart read model: folding real carts envelopes, idempotently and in version order."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.envelope import Envelope
from domain.carts import Cart
from domain.errors import DomainError
from projections import carts
from projections.carts import CartView, apply, fold
from tests.support.envelopes import envelopes_of
from tests.support.unit_redelivery import redelivered

CUSTOMER = UUID("6f1c2a4e-8a55-4c1f-9d1e-2b7c4a9e0f11")


def a_cart() -> Cart:
    return Cart(id=uuid4(), customer_id=CUSTOMER)


def lifecycle() -> tuple[Cart, list[Envelope]]:
    cart = a_cart()
    cart.add_item("MUG-1", 2)
    cart.add_item("TEA-7", 1)
    cart.add_item("MUG-1", 1)
    cart.change_quantity("TEA-7", 4)
    cart.remove_item("MUG-1")
    cart.clear()
    cart.add_item("PAN-3", 5)
    cart.check_out()
    return cart, envelopes_of("carts", cart)


def folded(envelopes: list[Envelope]) -> CartView:
    view = fold(None, envelopes)
    assert view is not None
    return view


def test_an_opened_cart_is_an_empty_open_cart_of_its_customer() -> None:
    cart = a_cart()
    (opened,) = envelopes_of("carts", cart)
    view = apply(None, opened)
    assert view == {
        "id": str(cart.id),
        "customer_id": str(CUSTOMER),
        "lines": [],
        "status": "open",
        "version": 1,
        "updated_at": opened.occurred_at,
    }


def test_adding_an_item_twice_adds_up_its_quantity_and_keeps_the_order_of_lines() -> None:
    cart = a_cart()
    cart.add_item("MUG-1", 2)
    cart.add_item("TEA-7", 1)
    cart.add_item("MUG-1", 3)
    view = folded(envelopes_of("carts", cart))
    assert view["lines"] == [{"sku": "MUG-1", "quantity": 5}, {"sku": "TEA-7", "quantity": 1}]
    assert view["version"] == 4


def test_changing_removing_and_clearing_lines_show_in_the_cart() -> None:
    cart = a_cart()
    cart.add_item("MUG-1", 2)
    cart.add_item("TEA-7", 1)
    cart.change_quantity("MUG-1", 9)
    envelopes = envelopes_of("carts", cart)
    assert folded(envelopes)["lines"] == [
        {"sku": "MUG-1", "quantity": 9},
        {"sku": "TEA-7", "quantity": 1},
    ]
    cart.remove_item("MUG-1")
    envelopes += envelopes_of("carts", cart, len(envelopes) + 1)
    assert folded(envelopes)["lines"] == [{"sku": "TEA-7", "quantity": 1}]
    cart.clear()
    envelopes += envelopes_of("carts", cart, len(envelopes) + 1)
    assert folded(envelopes)["lines"] == []


def test_a_checked_out_cart_shows_the_lines_it_was_checked_out_with() -> None:
    cart, envelopes = lifecycle()
    view = folded(envelopes)
    assert view["status"] == "checked_out"
    assert view["lines"] == [{"sku": "PAN-3", "quantity": 5}]
    assert view["customer_id"] == str(CUSTOMER)
    assert view["version"] == cart.version == len(envelopes)


def test_the_view_follows_every_event_the_cart_aggregate_emits() -> None:
    """Type names come from the domain classes, so a renamed event fails here."""
    _, envelopes = lifecycle()
    assert {e.type for e in envelopes} == carts.SHOWN


def test_an_event_already_applied_changes_nothing() -> None:
    _, envelopes = lifecycle()
    view = folded(envelopes)
    for envelope in envelopes:
        assert apply(view, envelope) is None
    assert fold(view, envelopes) is None


def test_an_older_event_arriving_late_never_regresses_the_cart() -> None:
    _, envelopes = lifecycle()
    latest = folded(envelopes)
    assert fold(latest, reversed(envelopes)) is None


def test_an_event_the_view_does_not_show_still_advances_the_version() -> None:
    _, envelopes = lifecycle()
    view = folded(envelopes[:2])
    unknown = replace(envelopes[2], type="carts.CartGiftWrapped", payload={"paper": "red"})
    after = apply(view, unknown)
    assert after is not None
    assert after["version"] == 3
    assert after["lines"] == view["lines"]


def test_a_cart_whose_opened_event_is_missing_still_shows_its_lines() -> None:
    """After a dead-lettered event the guard accepts the gap (ADR 0004)."""
    _, envelopes = lifecycle()
    view = folded(envelopes[1:2])
    assert view["customer_id"] is None
    assert view["lines"] == [{"sku": "MUG-1", "quantity": 2}]


@pytest.mark.parametrize(
    ("event_type", "payload", "error"),
    [
        ("carts.CartItemAdded", {"sku": "MUG-1"}, KeyError),
        ("carts.CartItemAdded", {"sku": "MUG-1", "quantity": "2"}, TypeError),
        ("carts.CartItemAdded", {"sku": "MUG-1", "quantity": 0}, ValueError),
        ("carts.CartItemRemoved", {"sku": 7}, TypeError),
        ("carts.CartOpened", {"customer_id": None}, TypeError),
        ("carts.CartCheckedOut", {"customer_id": str(CUSTOMER), "lines": "all"}, TypeError),
        ("carts.CartCheckedOut", {"customer_id": str(CUSTOMER), "lines": [3]}, TypeError),
    ],
)
def test_a_payload_the_view_cannot_read_is_a_poison_event(
    event_type: str, payload: dict[str, object], error: type[Exception]
) -> None:
    _, envelopes = lifecycle()
    poison = replace(envelopes[1], type=event_type, payload=payload)
    with pytest.raises(error):
        apply(None, poison)


SKUS = ["MUG-1", "TEA-7", "PAN-3"]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(SKUS), st.integers(1, 40)),
        st.tuples(st.just("change"), st.sampled_from(SKUS), st.integers(1, 99)),
        st.tuples(st.just("remove"), st.sampled_from(SKUS), st.just(0)),
        st.tuples(st.just("clear"), st.just(""), st.just(0)),
        st.tuples(st.just("check_out"), st.just(""), st.just(0)),
    ),
    max_size=25,
)


def run(ops: list[tuple[str, str, int]]) -> tuple[Cart, list[Envelope]]:
    cart = a_cart()
    for name, sku, quantity in ops:
        try:
            match name:
                case "add":
                    cart.add_item(sku, quantity)
                case "change":
                    cart.change_quantity(sku, quantity)
                case "remove":
                    cart.remove_item(sku)
                case "clear":
                    cart.clear()
                case _:
                    cart.check_out()
        except DomainError:
            pass  # refused commands emit nothing
    return cart, envelopes_of("carts", cart)


@given(ops=operations, data=st.data())
def test_redelivered_events_give_the_same_cart_as_the_aggregate(
    ops: list[tuple[str, str, int]], data: st.DataObject
) -> None:
    """At-least-once delivery: any prefix may come again, in order, any number of times."""
    cart, envelopes = run(ops)
    delivered = redelivered(envelopes, data)

    view = folded(delivered)
    assert view == folded(envelopes)
    assert view["lines"] == [{"sku": s, "quantity": q} for s, q in cart.lines.items()]
    assert view["status"] == ("checked_out" if cart.checked_out else "open")
    assert view["version"] == cart.version
    assert view["customer_id"] == str(cart.customer_id)


@given(ops=operations, cut=st.integers(min_value=0, max_value=30))
def test_folding_in_two_batches_equals_folding_at_once(
    ops: list[tuple[str, str, int]], cut: int
) -> None:
    """What the sink does across batches: fold onto the stored cart."""
    _, envelopes = run(ops)
    first = fold(None, envelopes[:cut])
    resumed = fold(first, envelopes) or first
    assert resumed == fold(None, envelopes)
