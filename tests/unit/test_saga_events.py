"""What the saga reads off the bus: the orders an event concerns, and checkouts to place."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from contract.envelope import Envelope
from streams.saga import CheckoutMessage, checkout_of, order_ids
from tests.support.envelopes import an_envelope

CART = UUID("00000000-0000-4000-8000-0000000000c1")
CUSTOMER = UUID("00000000-0000-4000-8000-0000000000d1")


def envelope(type_: str, payload: dict[str, Any]) -> Envelope:
    return an_envelope(
        type_,
        payload,
        event_id="e1",
        aggregate_id=CART,
        aggregate_version=4,
        position=9,
        correlation_id="corr-1",
    )


def test_a_checked_out_cart_is_a_checkout_for_the_saga_to_place() -> None:
    checked_out = envelope(
        "carts.CartCheckedOut",
        {
            "customer_id": str(CUSTOMER),
            "lines": [{"sku": "MUG-1", "quantity": 2}, {"sku": "TEA-1", "quantity": 1}],
        },
    )

    assert checkout_of(checked_out) == CheckoutMessage(
        CART, CUSTOMER, [("MUG-1", 2), ("TEA-1", 1)], "corr-1"
    )
    assert order_ids(checked_out) == set()  # no order yet: placing it comes first


def test_other_cart_events_are_no_checkout() -> None:
    assert checkout_of(envelope("carts.CartItemAdded", {"sku": "MUG-1", "quantity": 1})) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"customer_id": str(CUSTOMER), "lines": "all"},
        {"customer_id": str(CUSTOMER), "lines": [3]},
        {"customer_id": str(CUSTOMER), "lines": []},
        {"customer_id": "nobody", "lines": [{"sku": "MUG-1", "quantity": 1}]},
        {"lines": [{"sku": "MUG-1", "quantity": 1}]},
    ],
)
def test_an_unreadable_checkout_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        checkout_of(envelope("carts.CartCheckedOut", payload))
