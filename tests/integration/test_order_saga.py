"""The order saga end to end through HTTP: every process of the platform running on the
real servers, orders placed on the command API and followed on the read API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.support.checkout import Checkout, running_checkout

pytestmark = pytest.mark.integration

PAYMENT_TIMEOUT_SECONDS = 4.0


@pytest.fixture(scope="module")
def shop(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkout]:
    """One platform for the module (starting it is the slow part); tests use their own SKUs."""
    logs: Path = tmp_path_factory.mktemp("saga-logs")
    with running_checkout(
        stack, logs, saga_payment_timeout_seconds=PAYMENT_TIMEOUT_SECONDS
    ) as checkout:
        yield checkout


def test_a_paid_order_is_confirmed_and_its_stock_taken(shop: Checkout) -> None:
    shop.receive("HAPPY-1", 5)

    order_id = shop.place("HAPPY-1", 2, price="25.00")
    order = shop.settled(order_id)

    assert order["status"] == "confirmed"
    assert order["saga"] == {"step": "completed", "reason": None}
    assert [entry["status"] for entry in order["timeline"]] == [
        "placed",
        "payment_method_given",
        "stock_reserved",
        "payment_authorized",
        "confirmed",
    ]
