"""The order saga end to end through HTTP: every process of the platform running on the
real servers, orders placed on the command API and followed on the read API."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from random import Random
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.payments import PaymentStatus
from infra.read_models import rebuild
from infra.settings import Settings
from projections.sinks.postgres_payments import PAYMENT_HISTORY
from tests.support.checkout import (
    CheckoutStack,
    log_heads,
    payment_tables,
    running_checkout,
    saga_payment,
    sandbox_movements,
    stock_history,
    stock_item,
)
from tests.support.platform import eventually

pytestmark = pytest.mark.integration

PAYMENT_TIMEOUT_SECONDS = 4.0


@pytest.fixture(scope="module")
def shop(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CheckoutStack]:
    """One platform for the module (starting it is the slow part); tests use their own SKUs."""
    logs: Path = tmp_path_factory.mktemp("saga-logs")
    with running_checkout(
        stack, logs, saga_payment_timeout_seconds=PAYMENT_TIMEOUT_SECONDS
    ) as checkout:
        yield checkout


def test_a_paid_order_is_confirmed_and_its_stock_taken(shop: CheckoutStack) -> None:
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


def test_an_order_for_more_than_is_in_stock_is_cancelled_and_charges_nothing(
    shop: CheckoutStack,
) -> None:
    shop.receive("SHORT-1", 1)

    order_id = shop.place("SHORT-1", 2)
    order = shop.settled(order_id)

    assert order["status"] == "cancelled"
    assert order["saga"] == {"step": "stopped", "reason": "out of stock: SHORT-1"}
    assert saga_payment(shop.settings, order_id) is None
    item = stock_item(shop.settings, "SHORT-1")
    assert (item.available, item.reserved) == (1, 0)


def test_a_declined_card_cancels_the_order_and_gives_the_stock_back(shop: CheckoutStack) -> None:
    shop.receive("DECLINE-1", 3)

    order_id = shop.place("DECLINE-1", 2, token="tok_decline_insufficient_funds")
    order = shop.settled(order_id)

    assert order["status"] == "cancelled"
    assert order["saga"]["reason"] == "payment declined: insufficient_funds"
    assert [e["status"] for e in order["timeline"]][-2:] == ["stock_reserved", "cancelled"]
    assert saga_payment(shop.settings, order_id).status == PaymentStatus.DECLINED
    item = stock_item(shop.settings, "DECLINE-1")
    assert (item.available, item.reserved, item.committed) == (3, 0, 0)


def test_a_gateway_timeout_is_retried_with_the_same_key_and_charges_once(
    shop: CheckoutStack,
) -> None:
    shop.receive("TIMEOUT-1", 1)

    order_id = shop.place("TIMEOUT-1", 1, token="tok_timeout_then_approve")
    order = shop.settled(order_id)

    assert order["status"] == "confirmed"
    payment = saga_payment(shop.settings, order_id)
    assert payment.status == PaymentStatus.CAPTURED
    mine = [m for m in sandbox_movements(shop.settings) if m.authorization == payment.authorization]
    assert [m.kind for m in mine] == ["authorize", "capture"]


def test_a_gateway_that_never_answers_ends_in_compensation(shop: CheckoutStack) -> None:
    shop.receive("TIMEOUT-2", 2)

    order_id = shop.place("TIMEOUT-2", 2, token="tok_timeout")
    order = shop.settled(order_id, timeout=90)

    assert order["status"] == "cancelled"
    assert order["saga"]["reason"] == "payment gateway did not answer"
    assert saga_payment(shop.settings, order_id) is None
    assert stock_item(shop.settings, "TIMEOUT-2").available == 2


def test_stock_held_for_an_order_without_payment_expires_and_is_released(
    shop: CheckoutStack,
) -> None:
    shop.receive("EXPIRE-1", 2)

    order_id = shop.place("EXPIRE-1", 2, token=None)
    waiting = shop.settled(order_id, status="stock_reserved")
    assert waiting["saga"] == {"step": "awaiting_payment_method", "reason": None}
    assert stock_item(shop.settings, "EXPIRE-1").available == 0

    order = shop.settled(order_id, timeout=PAYMENT_TIMEOUT_SECONDS + 30)

    assert order["status"] == "cancelled"
    assert order["saga"] == {"step": "stopped", "reason": "reservation expired"}
    assert stock_item(shop.settings, "EXPIRE-1").available == 2
    late = shop.command.post(
        f"/orders/{order_id}/payment-method",
        json={"payment_token": "tok_approve", "card_brand": "visa", "last_four": "4242"},
    )
    assert late.status_code == 409


def test_a_payment_method_given_in_time_completes_the_order(shop: CheckoutStack) -> None:
    shop.receive("LATER-1", 1)
    order_id = shop.place("LATER-1", 1, token=None)
    shop.settled(order_id, status="stock_reserved")

    given = shop.command.post(
        f"/orders/{order_id}/payment-method",
        json={"payment_token": "tok_approve", "card_brand": "visa", "last_four": "4242"},
    )

    assert given.status_code == 200, given.text
    assert shop.settled(order_id)["status"] == "confirmed"


def test_a_partial_then_a_full_refund_pay_back_the_total_once(shop: CheckoutStack) -> None:
    shop.receive("REFUND-1", 2)
    customer = uuid4()
    order_id = shop.place("REFUND-1", 2, price="25.00", customer=customer)  # 50.00 EUR
    assert shop.settled(order_id)["status"] == "confirmed"

    def refund(key: str, amount: str, restock: int = 0) -> None:
        body: dict[str, Any] = {"amount": {"amount": amount, "currency": "EUR"}}
        if restock:
            body["restock"] = [{"sku": "REFUND-1", "quantity": restock}]
        response = shop.command.post(
            f"/orders/{order_id}/refunds", json=body, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 202, response.text

    refund("refund-1", "20.00", restock=1)
    refund("refund-1", "20.00", restock=1)  # a repeat is the same refund
    partly = shop.refunded(order_id, 2000)
    assert partly["status"] == "confirmed"
    assert partly["saga"]["step"] == "completed"

    refund("refund-2", "30.00")
    order = shop.refunded(order_id, 5000)

    assert order["status"] == "refunded"
    assert [e["status"] for e in order["timeline"]][-4:] == [
        "refund_requested",
        "refunded",
        "refund_requested",
        "refunded",
    ]
    payment = saga_payment(shop.settings, order_id)
    assert (payment.status, payment.refunded.minor) == (PaymentStatus.REFUNDED, 5000)
    mine = [m for m in sandbox_movements(shop.settings) if m.authorization == payment.authorization]
    assert [(m.kind, m.amount.minor) for m in mine if m.kind == "refund"] == [
        ("refund", 2000),
        ("refund", 3000),
    ]
    item = stock_item(shop.settings, "REFUND-1")
    assert (item.committed, item.on_hand) == (2, 1)  # one unit came back

    def payment_history() -> Any:
        (seen,) = shop.read.get(f"/orders/{order_id}/payments").json()["items"] or [None]
        return seen if seen and seen["status"] == "refunded" else None

    seen = eventually(payment_history, what="the payment history shows the refunds")
    assert (seen["id"], seen["captured"]["minor"], seen["refunded"]["minor"]) == (
        str(payment.id),
        5000,
        5000,
    )
    assert [h["kind"] for h in seen["history"]] == [
        "authorized",
        "captured",
        "refunded",
        "refunded",
    ]
    assert seen["card"] == {"brand": "visa", "last_four": "4242"}
    by_customer = shop.read.get(f"/customers/{customer}/payments").json()["items"]
    assert by_customer == [seen]


def test_the_payment_history_rebuilds_to_what_the_worker_made(shop: CheckoutStack) -> None:
    shop.receive("REBUILD-1", 3)
    order_ids = [shop.place("REBUILD-1", 1, token=t) for t in ("tok_approve", "tok_decline_x")]
    for order_id in order_ids:
        shop.settled(order_id)

    heads = log_heads(shop.settings, ("payments", "orders"))

    def caught_up() -> bool:
        rows = shop.read.get("/projections").json()["projections"]
        applied = {
            r["context"]: r["applied_position"]
            for r in rows
            if r["projection"] == "payment-history"
        }
        return all(applied[context] >= head for context, head in heads.items())

    eventually(caught_up, what="the payment history applied both logs")
    live = payment_tables(shop.settings)
    assert len(live[0]) >= len(order_ids)

    asyncio.run(rebuild(shop.settings, PAYMENT_HISTORY))

    assert payment_tables(shop.settings) == live


def test_fifty_checkouts_for_the_last_ten_units_confirm_exactly_ten(shop: CheckoutStack) -> None:
    shop.receive("LAST-10", 10)

    with ThreadPoolExecutor(max_workers=50) as pool:
        order_ids = list(pool.map(lambda _: shop.place("LAST-10", 1), range(50)))
    orders = [shop.settled(order_id, timeout=180) for order_id in order_ids]

    confirmed = [o for o in orders if o["status"] == "confirmed"]
    cancelled = [o for o in orders if o["status"] == "cancelled"]
    assert (len(confirmed), len(cancelled)) == (10, 40)
    assert {o["saga"]["reason"] for o in cancelled} == {"out of stock: LAST-10"}
    item = stock_item(shop.settings, "LAST-10")
    assert (item.available, item.reserved, item.committed, item.on_hand) == (0, 0, 10, 0)
    assert min(stock_history(shop.settings, "LAST-10")) >= 0
    for order in cancelled:
        payment = saga_payment(shop.settings, UUID(order["id"]))
        assert payment is None or payment.status in (PaymentStatus.VOIDED, PaymentStatus.DECLINED)
    for order in confirmed:
        assert saga_payment(shop.settings, UUID(order["id"])).status == PaymentStatus.CAPTURED


def test_killing_the_saga_at_random_points_loses_and_repeats_nothing(shop: CheckoutStack) -> None:
    shop.receive("KILL-1", 30)
    tokens = ["tok_approve"] * 6 + ["tok_timeout_then_approve", "tok_decline_card_expired"]
    random = Random(5)

    def place_slowly(i: int) -> UUID:
        order_id = shop.place("KILL-1", 1, token=tokens[i % 8])
        time.sleep(0.3)  # spread the batch over the kills
        return order_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        placing = pool.map(place_slowly, range(24))
        for _ in range(3):
            time.sleep(random.uniform(0.3, 1.2))
            os.kill(shop.processes._child("saga").process.pid, signal.SIGKILL)
            shop.restart_saga()
        order_ids = list(placing)
    orders = {UUID(o["id"]): o for o in (shop.settled(i, timeout=240) for i in order_ids)}

    declined = {i for n, i in enumerate(order_ids) if tokens[n % 8].startswith("tok_decline")}
    assert {i for i, o in orders.items() if o["status"] == "cancelled"} == declined
    movements = sandbox_movements(shop.settings)
    for order_id, order in orders.items():
        payment = saga_payment(shop.settings, order_id)
        charged = [m.kind for m in movements if m.idempotency_key.startswith(str(payment.id))]
        if order_id in declined:
            assert (payment.status, charged) == (PaymentStatus.DECLINED, [])
        else:
            assert order["saga"] == {"step": "completed", "reason": None}
            assert payment.status == PaymentStatus.CAPTURED
            assert [m.kind for m in movements if m.authorization == payment.authorization] == [
                "authorize",
                "capture",
            ]
    item = stock_item(shop.settings, "KILL-1")
    assert (item.committed, item.reserved) == (24 - len(declined), 0)
