"""Given-when-then for the carts' Cart aggregate."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from domain.carts import (
    MAX_LINES,
    Cart,
    CartCheckedOut,
    CartEmpty,
    CartLine,
    LineNotFound,
    QuantityOutOfRange,
    TooManyLines,
)
from tests.support.unit_aggregates import rebuilt_from

CUSTOMER = UUID("00000000-0000-4000-8000-00000000c0de")


def a_cart(**lines: int) -> Cart:
    """Given an open cart holding these lines (its events already collected)."""
    cart = Cart(id=uuid4(), customer_id=CUSTOMER)
    for sku, quantity in lines.items():
        cart.add_item(sku.replace("_", "-"), quantity)
    cart.collect_events()
    return cart


def test_opening_a_cart_records_the_customer_and_starts_empty() -> None:
    cart_id = uuid4()
    cart = Cart(id=cart_id, customer_id=CUSTOMER)

    (opened,) = cart.collect_events()
    assert isinstance(opened, Cart.Opened)
    assert (cart.id, opened.customer_id) == (cart_id, CUSTOMER)
    assert cart.lines == {}


def test_adding_an_item_records_the_sku_and_quantity_but_no_price() -> None:
    cart = a_cart()

    cart.add_item("MUG-1", 2)

    (added,) = cart.collect_events()
    assert isinstance(added, Cart.ItemAdded)
    assert (added.sku, added.quantity) == ("MUG-1", 2)
    assert not hasattr(added, "price")
    assert cart.lines == {"MUG-1": 2}


def test_adding_a_sku_again_adds_to_its_line() -> None:
    cart = a_cart(MUG_1=2)

    cart.add_item("MUG-1", 3)

    assert cart.lines == {"MUG-1": 5}


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_a_quantity_outside_1_to_99_is_refused(quantity: int) -> None:
    with pytest.raises(QuantityOutOfRange):
        a_cart().add_item("MUG-1", quantity)


def test_a_line_cannot_grow_past_99() -> None:
    cart = a_cart(MUG_1=90)

    with pytest.raises(QuantityOutOfRange):
        cart.add_item("MUG-1", 10)
    assert cart.collect_events() == []
    assert cart.lines == {"MUG-1": 90}


def test_a_cart_holds_at_most_100_lines() -> None:
    cart = a_cart(**{f"SKU_{n}": 1 for n in range(MAX_LINES)})

    cart.add_item("SKU-0", 1)  # more of a line it has is fine
    with pytest.raises(TooManyLines):
        cart.add_item("SKU-NEW", 1)
    assert len(cart.lines) == MAX_LINES


def test_changing_the_quantity_of_a_line() -> None:
    cart = a_cart(MUG_1=2)

    cart.change_quantity("MUG-1", 7)

    (changed,) = cart.collect_events()
    assert isinstance(changed, Cart.QuantityChanged)
    assert cart.lines == {"MUG-1": 7}


def test_changing_to_the_same_quantity_records_nothing() -> None:
    cart = a_cart(MUG_1=2)

    cart.change_quantity("MUG-1", 2)

    assert cart.collect_events() == []


def test_changing_a_line_the_cart_does_not_have_is_not_found() -> None:
    with pytest.raises(LineNotFound):
        a_cart(MUG_1=2).change_quantity("TEA-1", 1)


def test_removing_an_item_drops_its_line() -> None:
    cart = a_cart(MUG_1=2, TEA_1=1)

    cart.remove_item("MUG-1")

    (removed,) = cart.collect_events()
    assert isinstance(removed, Cart.ItemRemoved)
    assert cart.lines == {"TEA-1": 1}
    with pytest.raises(LineNotFound):
        cart.remove_item("MUG-1")


def test_clearing_empties_the_cart_and_an_empty_cart_stays_as_it_is() -> None:
    cart = a_cart(MUG_1=2, TEA_1=1)

    cart.clear()
    cart.clear()

    (cleared,) = cart.collect_events()
    assert isinstance(cleared, Cart.Cleared)
    assert cart.lines == {}


def test_checking_out_hands_over_the_customer_and_lines() -> None:
    cart = a_cart(MUG_1=2, TEA_1=1)

    checkout = cart.check_out()

    assert checkout.cart_id == cart.id
    assert checkout.customer_id == CUSTOMER
    assert checkout.lines == [CartLine("MUG-1", 2), CartLine("TEA-1", 1)]
    (checked_out,) = cart.collect_events()
    assert isinstance(checked_out, Cart.CheckedOut)
    assert checked_out.lines == [{"sku": "MUG-1", "quantity": 2}, {"sku": "TEA-1", "quantity": 1}]


def test_an_empty_cart_cannot_be_checked_out() -> None:
    with pytest.raises(CartEmpty):
        a_cart().check_out()


@pytest.mark.parametrize(
    "change",
    [
        lambda cart: cart.add_item("JAM-1", 1),
        lambda cart: cart.change_quantity("MUG-1", 3),
        lambda cart: cart.remove_item("MUG-1"),
        lambda cart: cart.clear(),
        lambda cart: cart.check_out(),
    ],
)
def test_a_checked_out_cart_accepts_no_changes(change: Callable[[Cart], object]) -> None:
    cart = a_cart(MUG_1=2)
    cart.check_out()
    cart.collect_events()

    with pytest.raises(CartCheckedOut):
        change(cart)
    assert cart.collect_events() == []
    assert cart.lines == {"MUG-1": 2}


def test_replaying_the_events_rebuilds_the_same_cart() -> None:
    cart = Cart(id=uuid4(), customer_id=CUSTOMER)
    cart.add_item("MUG-1", 2)
    cart.add_item("TEA-1", 1)
    cart.change_quantity("MUG-1", 4)
    cart.remove_item("TEA-1")
    cart.check_out()

    replayed = rebuilt_from(cart.collect_events())

    assert isinstance(replayed, Cart)
    assert vars(replayed) == vars(cart)
