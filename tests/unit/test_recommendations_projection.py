"""Reading orders envelopes into purchase steps for the recommendations."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from contract.envelope import Envelope
from domain.sku import sku_id
from projections.recommendations import ADVANCE, CANCEL, CONFIRM, PLACED, step_of
from tests.support.envelopes import an_envelope

ORDER = str(uuid4())
CUSTOMER = str(uuid4())


def envelope(kind: str, version: int, context: str = "orders", **payload: Any) -> Envelope:
    return an_envelope(
        f"{context}.{kind}",
        payload,
        aggregate_id=ORDER,
        aggregate_version=version,
        position=version,
    )


def placed(*skus: str) -> Envelope:
    lines = [{"sku": s, "quantity": 1, "unit_price": {"minor": 1, "currency": "EUR"}} for s in skus]
    return envelope("OrderPlaced", 1, customer_id=CUSTOMER, cart_id=str(uuid4()), lines=lines)


def test_a_placed_order_names_its_products_by_product_id_once_each() -> None:
    step = step_of(placed("MUG-7", "HP-1000"))
    assert step is not None
    assert (step.op, step.customer_id, step.version) == (PLACED, CUSTOMER, 1)
    assert step.products == tuple(sorted([str(sku_id("MUG-7")), str(sku_id("HP-1000"))]))


def test_confirmation_and_cancellation_are_the_steps_that_count() -> None:
    assert [
        s.op if (s := step_of(envelope(kind, v))) else None
        for v, kind in enumerate(["OrderConfirmed", "OrderCancelled", "OrderShipped"], start=2)
    ] == [CONFIRM, CANCEL, ADVANCE]


def test_other_contexts_are_not_read() -> None:
    assert step_of(envelope("CartOpened", 1, context="carts")) is None


@pytest.mark.parametrize(
    "lines", [[], "HP-1000", [{"quantity": 1}], [{"sku": ""}], [{"sku": 7}], None]
)
def test_an_order_without_readable_lines_is_a_poison_event(lines: Any) -> None:
    bad = envelope("OrderPlaced", 1, customer_id=CUSTOMER, lines=lines)
    with pytest.raises((KeyError, TypeError, ValueError)):
        step_of(bad)


def test_a_version_out_of_range_is_a_poison_event() -> None:
    with pytest.raises(ValueError, match="out of range"):
        step_of(envelope("OrderConfirmed", 0))
